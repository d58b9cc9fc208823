"""МЧД for the tests: XML built from the structure of the ФНС schema (cades/poa/schema), signed detached with
``openssl cms`` by a head's certificate from a throw-away GOST PKI.

Nothing here is a fixture file: :func:`build_mchd` writes the elements the XSD requires (and what a real ФНС
МЧД carries: СведСист, the principal's address, the representative's passport), and :class:`MchdPki` issues the
certificates a principal's world has — the head's (ИНН ЮЛ + ОГРН + the head's own СНИЛС/ИНН ФЛ, as the ФНС's CA
issues them), an employee's (СНИЛС + ИНН ФЛ only: a person's certificate, which signs for the company only with an
МЧД), a deputy of the same company who is not named as head, and a head of another company. Import the
``mchd_pki`` fixture into a conftest.py to use it (tests/poa/conftest.py does).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cades.validation import ValidationContext

from .http_files import FileServer, serve_files
from .openssl_pki import Issued, OpenSSLPki, gost_engine_available

__all__ = [
    "COMPANY",
    "DEPUTY",
    "EMPLOYEE",
    "HEAD",
    "OTHER_COMPANY",
    "OTHER_HEAD",
    "Company",
    "MchdPki",
    "MchdSpec",
    "Person",
    "build_mchd",
    "mchd_pki",
    "sign_mchd",
]

NS = "urn://x-artefacts/EMCHD_1"


@dataclass(frozen=True)
class Person:
    """A natural person: СНИЛС as 11 digits (written ``123-456-789 01`` in the XML, digits in a certificate)."""

    last: str
    first: str
    middle: str
    snils: str
    inn: str
    position: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.last} {self.first} {self.middle}"

    @property
    def snils_xml(self) -> str:
        s = self.snils
        return f"{s[:3]}-{s[3:6]}-{s[6:9]} {s[9:]}"


@dataclass(frozen=True)
class Company:
    name: str
    inn: str
    kpp: str
    ogrn: str


COMPANY = Company(name='ООО "Ромашка"', inn="7712345678", kpp="771201001", ogrn="1027700000001")
OTHER_COMPANY = Company(name='ООО "Лютик"', inn="7723456789", kpp="772301001", ogrn="1027700000012")
HEAD = Person("Иванов", "Иван", "Иванович", "12345678901", "771234567890", "Генеральный директор")
DEPUTY = Person("Сидоров", "Сидор", "Сидорович", "22233344455", "772233445566", "Заместитель директора")
EMPLOYEE = Person("Петрова", "Мария", "Сергеевна", "11122233344", "773344556677", "Бухгалтер")
OTHER_HEAD = Person("Кузнецов", "Олег", "Петрович", "33344455566", "774455667788", "Директор")


@dataclass(frozen=True)
class MchdSpec:
    """What an МЧД says; every field has the value of a plain, valid МЧД for :data:`EMPLOYEE` of :data:`COMPANY`
    signed by :data:`HEAD`, so a test changes only what it is about (``dataclasses.replace``)."""

    number: str = field(default_factory=lambda: str(uuid.uuid4()))
    internal_number: str = "МЧД-7"
    issued: dt.date = field(default_factory=lambda: dt.date.today() - dt.timedelta(days=30))
    valid_until: dt.date = field(default_factory=lambda: dt.date.today() + dt.timedelta(days=335))
    principal: Company = COMPANY
    heads: tuple[Person, ...] = (HEAD,)
    representatives: tuple[Person, ...] = (EMPLOYEE,)
    powers: tuple[tuple[str, str], ...] = (
        ("KLASS_2.0_SIGN_DIG_DOC", "Подписывать электронные документы"),
        ("KLASS_2.0_SIGN", "Подписывать"),
    )
    text_powers: str | None = None
    redelegation: str = "1"
    joint: str = "2"  # ПрСовмПолн: "1" joint, "2" individual
    entrepreneur: tuple[Person, str] | None = None  # an ИП principal (the person, ОГРНИП) instead of ``principal``

    def replace(self, **changes: object) -> MchdSpec:
        return dataclasses.replace(self, **changes)


def _el(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{NS}}}{tag}", {k: v for k, v in attrs.items() if v})


def _person_info(parent: ET.Element, tag: str, person: Person, *, passport: bool, position: bool) -> None:
    attrs = {"ИННФЛ": person.inn, "СНИЛС": person.snils_xml}
    if position and person.position:
        attrs["Должность"] = person.position
    node = _el(parent, tag, **attrs)
    info = _el(node, "СведФЛ", ДатаРожд="1985-04-12")
    _el(info, "ФИО", Фамилия=person.last, Имя=person.first, Отчество=person.middle)
    if passport:
        _el(info, "УдЛичнФЛ", КодВидДок="21", СерНомДок="45 00 123456", ДатаДок="2010-01-01", ВыдДок="ОВД «Тестовый»")


def build_mchd(spec: MchdSpec | None = None) -> bytes:
    """The МЧД's XML bytes (UTF-8 with the declaration, as the ФНС writes it) for ``spec``."""
    spec = spec or MchdSpec()
    ET.register_namespace("", NS)
    root = ET.Element(
        f"{{{NS}}}Доверенность",
        {"ВерсФорм": "EMCHD_1", "ПрЭлФорм": "00000000", "ИдФайл": f"ON_EMCHD_{spec.issued:%Y%m%d}_{spec.number}"},
    )
    original = _el(_el(root, "Документ"), "Довер")
    about = _el(
        original, "СвДов", ВидДовер="1", ПрПередов=spec.redelegation, ВнНомДовер=spec.internal_number,
        НомДовер=spec.number, ДатаВыдДовер=spec.issued.isoformat(), СрокДейст=spec.valid_until.isoformat(),
    )  # fmt: skip
    _el(about, "СведСист").text = f"https://m4d.nalog.gov.ru/emchd/check-status?guid={spec.number}"
    if spec.entrepreneur is not None:
        person, ogrnip = spec.entrepreneur
        principal = _el(_el(original, "СвДоверит", ТипДоверит="3"), "Доверит")
        ip = _el(principal, "ИПДовер", ОГРНИП=ogrnip, ИННФЛ=person.inn, СНИЛС=person.snils_xml)
        _el(_el(ip, "СведФЛ"), "ФИО", Фамилия=person.last, Имя=person.first, Отчество=person.middle)
    else:
        principal = _el(_el(original, "СвДоверит", ТипДоверит="1"), "Доверит")
        org = _el(principal, "РосОргДовер", ЕИОУК="0", ЕИОФЛ="1", ЕИОИП="0")
        company = spec.principal
        info = _el(org, "СвРосОрг", НаимОрг=company.name, ИННЮЛ=company.inn, КПП=company.kpp, ОГРН=company.ogrn)
        _el(_el(info, "АдрРег", Регион="77"), "АдрРФ").text = "125009, г. Москва, ул. Тверская, д. 1"
        for head in spec.heads:
            _person_info(_el(org, "ЛицоБезДов", ПолнЮЛ="1"), "СвФЛ", head, passport=False, position=True)
    for person in spec.representatives:
        given = _el(_el(original, "СвУпПред", ТипПред="3"), "Пред")
        _person_info(given, "СведФизЛ", person, passport=True, position=False)
    scope = _el(original, "СвПолн", ТипПолн="1" if spec.powers else "0", ПрСовмПолн=spec.joint)
    if spec.text_powers:
        _el(scope, "ТекстПолн").text = spec.text_powers
    for code, text in spec.powers:
        _el(scope, "МашПолн", КодПолн=code, НаимПолн=text)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def sign_mchd(pki: OpenSSLPki, signer: Issued, xml: bytes, *, chain: list[Path] | None = None) -> bytes:
    """The detached CAdES-BES signature (DER) of ``signer`` over the XML bytes as they are (``openssl cms -sign``),
    carrying the ``chain`` certificates (the issuing CA) as a signing tool does."""
    return pki.sign(signer, xml, attached=False, cades=True, certfile=chain)


def _subject(person: Person, company: Company | None) -> str:
    fields: dict[str, str] = {
        "C": "RU",
        "CN": person.full_name,
        "SN": person.last,
        "GN": f"{person.first} {person.middle}",
    }
    if company is not None:
        fields |= {"O": company.name, "title": person.position, "INNLE": company.inn, "OGRN": company.ogrn}
    fields |= {"INN": person.inn, "SNILS": person.snils}
    return OpenSSLPki.subject(**fields)


@dataclass(frozen=True)
class MchdPki:
    """A GOST PKI with the certificates an МЧД test needs; ``trust``/``crls`` make the revocation status known."""

    pki: OpenSSLPki
    root: Issued
    inter: Issued
    head: Issued  # HEAD of COMPANY: organisation's certificate (ИНН ЮЛ, ОГРН) — may sign МЧД
    deputy: Issued  # DEPUTY of COMPANY: organisation's certificate, but not named as head in the МЧД
    employee: Issued  # EMPLOYEE: a person's certificate (СНИЛС, ИНН ФЛ) — signs with an МЧД
    stranger: Issued  # another person's certificate (not the representative)
    other_head: Issued  # head of OTHER_COMPANY
    crls: tuple[Path, ...]

    @property
    def trust(self) -> tuple[Path, ...]:
        return (self.root.cert,)

    @property
    def intermediates(self) -> tuple[Path, ...]:
        return (self.inter.cert,)

    def context(self, **kwargs: Any) -> ValidationContext:
        """A ValidationContext trusting this PKI's root, with its CRLs (so a chain is fully decided)."""
        return ValidationContext.from_paths(self.trust, intermediates=self.intermediates, crls=self.crls, **kwargs)

    def signed(self, spec: MchdSpec | None = None, signer: Issued | None = None) -> tuple[bytes, bytes]:
        """(XML, detached signature) of an МЧД made from ``spec``, signed by ``signer`` (the head by default)."""
        xml = build_mchd(spec)
        return xml, sign_mchd(self.pki, signer or self.head, xml, chain=[self.inter.cert])


def make_mchd_pki(root_dir: Path) -> MchdPki:
    if not gost_engine_available():
        pytest.fail("OpenSSL gost engine is not installed; `make test` installs libengine-gost-openssl")
    pki = OpenSSLPki(root_dir)
    root = pki.root_ca("mchd-root", algorithm="gost2012_256", paramset="A")
    inter = pki.issue(
        root, "mchd-inter", subject=pki.subject(C="RU", O="Тестовый УЦ", CN="Test MCHD Issuing CA"), profile="v3_ca"
    )
    stranger_person = Person("Смирнов", "Андрей", "Павлович", "44455566677", "775566778899")
    issued = {
        "head": pki.issue(inter, "mchd-head", subject=_subject(HEAD, COMPANY)),
        "deputy": pki.issue(inter, "mchd-deputy", subject=_subject(DEPUTY, COMPANY)),
        "employee": pki.issue(inter, "mchd-employee", subject=_subject(EMPLOYEE, None)),
        "stranger": pki.issue(inter, "mchd-stranger", subject=_subject(stranger_person, None)),
        "other_head": pki.issue(inter, "mchd-other-head", subject=_subject(OTHER_HEAD, OTHER_COMPANY)),
    }
    crls = (pki.crl(inter), pki.crl(root))
    return MchdPki(pki=pki, root=root, inter=inter, crls=crls, **issued)


@pytest.fixture(scope="session")
def mchd_pki(tmp_path_factory: pytest.TempPathFactory) -> MchdPki:
    return make_mchd_pki(tmp_path_factory.mktemp("mchd-pki"))


def registry_path(number: str) -> str:
    """Where the ФНС registry answers for one МЧД (cades.poa.registry); the suites' fake serves files there."""
    return f"/api/v0/poar-portal/public/poa/{number}/public"


def registry_says(fns: FileServer, number: str, status: str = "ACTIVE") -> None:
    body = {"poaNumber": number, "startDate": "2026-01-01", "endDate": "2027-12-31", "status": status}
    fns.put(registry_path(number), json.dumps(body).encode())


@pytest.fixture
def fns() -> Iterator[FileServer]:
    """A local stand-in for the ФНС registry over real HTTP."""
    with serve_files() as server:
        yield server
