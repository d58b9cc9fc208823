"""Reading an МЧД file: safe XML parsing, validation against the ФНС schema, extraction into :class:`Poa`.

An МЧД comes from outside (a counterparty's upload), so the parser is locked down: no DTD is loaded, no entity is
expanded, nothing is fetched from the network or the disk, the input is bounded, and a document that declares a
DOCTYPE at all is refused (an МЧД never has one; the DOCTYPE is how entity bombs and external entities get in).
The schema is the ФНС's own XSD, vendored beside this module and compiled by libxml2 through lxml: validating a
government schema by hand would only drift from it.

lxml is imported inside the functions here, never at import time: ``klikdok verify``, ``hash`` and the server
import this package on start and most of them never read an МЧД.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .model import Poa, PoaFormatError, PoaPerson, PoaPower, PoaPrincipal

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["MAX_POA_SIZE", "NS", "SCHEMA_PATH", "read_poa"]

NS: Final = "urn://x-artefacts/EMCHD_1"
SCHEMA_PATH: Final = Path(__file__).with_name("schema") / "ON_EMCHD_1_928_00_01_01_01.xsd"
# The ФНС samples are 8-11 KB with 12-35 powers; ТекстПолн is at most 10000 characters. A megabyte leaves room for
# hundreds of powers and refuses anything built to exhaust memory before it is parsed.
MAX_POA_SIZE: Final = 1024 * 1024

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_MARKUP_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)

_schema_lock = threading.Lock()
_schema: Any = None


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _parser() -> Any:
    """A parser that cannot be talked into loading anything: the options of lxml's own advice for untrusted XML."""
    from lxml import etree

    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def _compiled_schema() -> Any:
    """The XSD, compiled once per process (about 20 ms) with the same locked-down parser."""
    global _schema
    from lxml import etree

    with _schema_lock:
        if _schema is None:
            doc = etree.parse(str(SCHEMA_PATH), _parser())
            _schema = etree.XMLSchema(doc)
        return _schema


def _check_bytes(xml: bytes) -> None:
    """Refusals decided before any parsing: size, encoding, DOCTYPE/ENTITY declarations."""
    if not xml:
        raise PoaFormatError("файл МЧД пуст")
    if len(xml) > MAX_POA_SIZE:
        raise PoaFormatError(f"файл МЧД слишком велик: {len(xml)} байт, допускается не более {MAX_POA_SIZE}")
    body = xml[3:] if xml.startswith(b"\xef\xbb\xbf") else xml
    if body.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00", b"<\x00")):
        raise PoaFormatError("МЧД должна быть в кодировке UTF-8 (формат ФНС EMCHD_1)")
    declared = _DECLARATION.match(body)
    if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        raise PoaFormatError(
            f"МЧД должна быть в кодировке UTF-8 (формат ФНС EMCHD_1), а объявлена {declared.group(1).decode()}"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PoaFormatError("файл МЧД не в кодировке UTF-8: это не XML формата ФНС EMCHD_1") from None
    found = _MARKUP_DECLARATION.search(text)
    if found is not None:
        raise PoaFormatError(
            f"МЧД содержит объявление <!{found.group(1).upper()}>: объявления DTD и сущностей в МЧД не допускаются "
            "(через них подставляют внешние файлы и «XML-бомбы»)"
        )


def _parse(xml: bytes) -> Any:
    from lxml import etree

    _check_bytes(xml)
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as exc:
        raise PoaFormatError(f"файл МЧД — не корректный XML: {exc.msg}") from None
    tree = root.getroottree()
    docinfo = tree.docinfo
    # Belt and braces: _check_bytes refused every DOCTYPE already; a parser that saw one anyway is refused too.
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise PoaFormatError("МЧД содержит объявление DOCTYPE: объявления DTD в МЧД не допускаются")
    if root.tag != _q("Доверенность"):
        raise PoaFormatError(
            f"это не МЧД формата ФНС EMCHD_1: корневой элемент должен быть «Доверенность» в пространстве имён {NS}"
        )
    schema = _compiled_schema()
    with _schema_lock:
        valid = schema.validate(tree)
        errors = list(schema.error_log) if not valid else []
    if not valid:
        first = errors[0] if errors else None
        where = f" (строка {first.line})" if first is not None and first.line else ""
        # libxml2 names elements with their namespace ({urn://x-artefacts/EMCHD_1}СвРосОрг): the name alone reads.
        detail = f": {first.message.replace('{' + NS + '}', '')}" if first is not None else ""
        more = f"; всего ошибок: {len(errors)}" if len(errors) > 1 else ""
        raise PoaFormatError(f"МЧД не соответствует схеме ФНС EMCHD_1{where}{detail}{more}")
    return root


def read_poa(xml: bytes) -> Poa:
    """Parse and validate an МЧД and return what it says; raises :class:`PoaFormatError` with a Russian reason.

    The bytes are taken exactly as uploaded: the principal's signature covers them as they are (no
    canonicalisation), so the caller keeps the same bytes for :func:`cades.poa.check_poa`."""
    root = _parse(xml)
    document = root.find(_q("Документ"))
    original = document.find(_q("Довер"))
    if original is None:
        raise PoaFormatError(
            "МЧД в порядке передоверия («Передов») пока не поддерживается: приложите первоначальную доверенность"
        )
    return _read_original(original)


# --- extraction -------------------------------------------------------------------------------------------


def _attr(element: Any, name: str) -> str:
    if element is None:
        return ""
    return str(element.get(name, "")).strip()


def _date(element: Any, name: str) -> dt.date:
    # The XSD has already checked xs:date; a time-zone suffix (allowed by xs:date) is dropped.
    return dt.date.fromisoformat(_attr(element, name)[:10])


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _full_name(person_info: Any) -> str:
    fio = person_info.find(_q("ФИО")) if person_info is not None else None
    if fio is None:
        return ""
    parts = (_attr(fio, "Фамилия"), _attr(fio, "Имя"), _attr(fio, "Отчество"))
    return " ".join(p for p in parts if p)


def _person(element: Any) -> PoaPerson:
    """A СвФЛТип or СведИПТип element: ФИО in СведФЛ, ИНН/СНИЛС/position as attributes."""
    return PoaPerson(
        full_name=_full_name(element.find(_q("СведФЛ"))),
        snils=_digits(_attr(element, "СНИЛС")),
        inn=_attr(element, "ИННФЛ"),
        position=_attr(element, "Должность"),
    )


def _heads(acting: Iterable[Any]) -> tuple[PoaPerson, ...]:
    """Persons acting for the principal without a power of attorney (ЛицоБезДов): a person (СвФЛ), the persons of
    a managing company (СВЮЛ/СвФЛ), or an entrepreneur as manager (СвИП)."""
    heads: list[PoaPerson] = []
    for item in acting:
        for person in item.findall(_q("СвФЛ")):
            heads.append(_person(person))
        company = item.find(_q("СВЮЛ"))
        if company is not None:
            heads.extend(_person(p) for p in company.findall(_q("СвФЛ")))
        entrepreneur = item.find(_q("СвИП"))
        if entrepreneur is not None:
            heads.append(_person(entrepreneur))
    return tuple(heads)


def _principal(original: Any) -> PoaPrincipal:
    principals = original.findall(_q("СвДоверит"))
    if len(principals) != 1:
        raise PoaFormatError(f"МЧД с несколькими доверителями ({len(principals)}) не поддерживается")
    who = principals[0].find(_q("Доверит"))
    org = who.find(_q("РосОргДовер"))
    if org is not None:
        info = org.find(_q("СвРосОрг"))
        return PoaPrincipal(
            name=_attr(info, "НаимОрг"),
            inn=_attr(info, "ИННЮЛ"),
            ogrn=_attr(info, "ОГРН"),
            kpp=_attr(info, "КПП"),
            heads=_heads(org.findall(_q("ЛицоБезДов"))),
        )
    entrepreneur = who.find(_q("ИПДовер"))
    if entrepreneur is not None:
        person = _person(entrepreneur)
        name = _attr(entrepreneur, "НаимИП") or f"ИП {person.full_name}"
        return PoaPrincipal(name=name, inn=person.inn, ogrn=_attr(entrepreneur, "ОГРНИП"), heads=(person,))
    kind = "иностранная организация" if who.find(_q("ИнОргДовер")) is not None else "физическое лицо"
    if who.find(_q("ИнОргДовер")) is None and who.find(_q("ФЛДовер")) is None:
        raise PoaFormatError("в МЧД не указан доверитель")
    raise PoaFormatError(f"доверитель в МЧД — {kind}: проверяются только МЧД российских организаций и ИП")


def _representatives(original: Any) -> tuple[PoaPerson, ...]:
    """The persons the power is given to: СведФизЛ (a person) and СведИП (an entrepreneur). An organisation as
    representative (СведОрг, СведФилиал) acts through its own people, who need an МЧД of their own."""
    people: list[PoaPerson] = []
    for item in original.findall(_q("СвУпПред")):
        given = item.find(_q("Пред"))
        for tag in ("СведФизЛ", "СведИП"):
            element = given.find(_q(tag))
            if element is not None:
                people.append(_person(element))
    return tuple(people)


def _powers(scope: Any) -> tuple[PoaPower, ...]:
    powers: list[PoaPower] = []
    text = scope.find(_q("ТекстПолн"))
    if text is not None and (text.text or "").strip():
        powers.append(PoaPower(code="", text=(text.text or "").strip()))
    for machine in scope.findall(_q("МашПолн")):
        limits = []
        for limit in machine.findall(_q("ОгрСвПолн")):
            value = limit.findtext(_q("КодЗначОгр")) or limit.findtext(_q("ТексЗначОгр")) or ""
            shown = _attr(limit, "НаимЗначОгр") or value.strip()
            limits.append(f"{_attr(limit, 'НаимОгр')}: {shown}")
        powers.append(PoaPower(code=_attr(machine, "КодПолн"), text=_attr(machine, "НаимПолн"), limits=tuple(limits)))
    return tuple(powers)


def _read_original(original: Any) -> Poa:
    about = original.find(_q("СвДов"))
    scope = original.find(_q("СвПолн"))
    try:
        issued, valid_until = _date(about, "ДатаВыдДовер"), _date(about, "СрокДейст")
    except ValueError as exc:
        raise PoaFormatError(f"в МЧД неверная дата: {exc}") from None
    if valid_until < issued:
        raise PoaFormatError("в МЧД срок действия (СрокДейст) раньше даты выдачи (ДатаВыдДовер)")
    representatives = _representatives(original)
    if not representatives:
        raise PoaFormatError("в МЧД нет представителя — физического лица или ИП: проверять нечего")
    return Poa(
        number=_attr(about, "НомДовер"),
        internal_number=_attr(about, "ВнНомДовер"),
        issued=issued,
        valid_until=valid_until,
        principal=_principal(original),
        representatives=representatives,
        powers=_powers(scope),
        redelegation=_attr(about, "ПрПередов"),
        joint=_attr(scope, "ПрСовмПолн") == "1",
        irrevocable=about.find(_q("Безотзыв")) is not None,
        system_url=(about.findtext(_q("СведСист")) or "").strip(),
    )
