"""Lists of accredited CAs (``АккредитованныеУдостоверяющиеЦентры``) built at test time around openssl certificates.

The element structure follows the project's reference notes on the Минцифры list (no namespace; CA → ПАК → Ключ
→ ДанныеСертификата); certificates are the real DER of :class:`tests.support.openssl_pki.Issued` ones, with the
thumbprint, serial, validity and key id taken from them, as the real list has them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from asn1crypto import x509

from .openssl_pki import Issued

__all__ = ["TslCaSpec", "tsl_xml"]


@dataclass(frozen=True)
class TslCaSpec:
    """One CA of a list: its name, accreditation status and the certificates of its keys (one key each)."""

    name: str
    certs: tuple[Issued, ...]
    status: str = "Действует"
    crl_urls: tuple[str, ...] = ("http://127.0.0.1:9/cdp/ca.crl",)
    registry_number: str = "999"
    wrong_thumbprint: frozenset[str] = field(default_factory=frozenset)  # names of certs given a bad Отпечаток
    history: tuple[tuple[str, str], ...] = ()  # (Статус, ДействуетС); empty: the current status alone


def _moment(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone(dt.timedelta(hours=3))).isoformat(timespec="seconds")


def _cert_xml(issued: Issued, wrong: bool) -> str:
    der = issued.cert_der
    cert = x509.Certificate.load(der)
    validity = cert["tbs_certificate"]["validity"]
    thumb = hashlib.sha1(der).hexdigest().upper()  # the list's thumbprint scheme
    if wrong:
        thumb = "0" * 40
    return (
        "<ДанныеСертификата>"
        f"<Отпечаток>{thumb}</Отпечаток>"
        f"<КемВыдан>{escape(cert.issuer.human_friendly)}</КемВыдан>"
        f"<КомуВыдан>{escape(cert.subject.human_friendly)}</КомуВыдан>"
        f"<СерийныйНомер>{cert.serial_number:X}</СерийныйНомер>"
        f"<ПериодДействияС>{_moment(validity['not_before'].native)}</ПериодДействияС>"
        f"<ПериодДействияДо>{_moment(validity['not_after'].native)}</ПериодДействияДо>"
        f"<Данные>{base64.b64encode(der).decode()}</Данные>"
        "</ДанныеСертификата>"
    )


def _ca_xml(ca: TslCaSpec) -> str:
    keys = []
    for issued in ca.certs:
        ski = x509.Certificate.load(issued.cert_der).key_identifier
        key_id = ski.hex() if ski else ""
        urls = "".join(f"<Адрес>{escape(u)}</Адрес>" for u in ca.crl_urls)
        keys.append(
            f"<Ключ><ИдентификаторКлюча>{key_id}</ИдентификаторКлюча><АдресаСписковОтзыва>{urls}</АдресаСписковОтзыва>"
            f"<Сертификаты>{_cert_xml(issued, issued.name in ca.wrong_thumbprint)}</Сертификаты></Ключ>"
        )
    address = "<Адрес><Страна>RU</Страна><Регион><Код>77</Код><Название>77 г. Москва</Название></Регион>" \
        "<Индекс>123456</Индекс><УлицаДом>ул. Тестовая, д. 1</УлицаДом><Город>г. Москва</Город></Адрес>"  # fmt: skip
    status = (
        f"<СтатусАккредитации><Статус>{ca.status}</Статус>"
        "<ДействуетС>2022-01-01T00:00:00+03:00</ДействуетС></СтатусАккредитации>"
    )
    history = (
        "".join(
            f"<СтатусАккредитации><Статус>{state}</Статус><ДействуетС>{since}</ДействуетС></СтатусАккредитации>"
            for state, since in ca.history
        )
        or status
    )
    return (
        f"<УдостоверяющийЦентр><Название>{escape(ca.name)}</Название>"
        "<ЭлектроннаяПочта>ca@example.invalid</ЭлектроннаяПочта>"
        f"<КраткоеНазвание>{escape(ca.name)}</КраткоеНазвание>"
        "<АдресСИнформациейПоУЦ>http://ca.example.invalid/</АдресСИнформациейПоУЦ>"
        f"{address}<ПрограммноАппаратныеКомплексы><ПрограммноАппаратныйКомплекс><Псевдоним>ПАК 1</Псевдоним>"
        f"<КлассСредствЭП>КС1</КлассСредствЭП>{address}<СредстваУЦ>тест</СредстваУЦ>"
        f"<КлючиУполномоченныхЛиц>{''.join(keys)}</КлючиУполномоченныхЛиц></ПрограммноАппаратныйКомплекс>"
        f"</ПрограммноАппаратныеКомплексы><ИНН>7710000008</ИНН><ОГРН>1027700000008</ОГРН>"
        f"<РеестровыйНомер>{ca.registry_number}</РеестровыйНомер>{status}"
        f"<ИсторияСтатусовАккредитации>{history}</ИсторияСтатусовАккредитации></УдостоверяющийЦентр>"
    )


def tsl_xml(version: int, date: dt.datetime, cas: list[TslCaSpec], *, signature: bool = False) -> bytes:
    """The list as the ministry publishes it (unsigned unless ``signature``: then a dummy ds:Signature element)."""
    sig = (
        '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/></ds:Signature>'
        if signature
        else ""
    )
    body = "".join(_ca_xml(ca) for ca in cas)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<АккредитованныеУдостоверяющиеЦентры>'
        f"<Версия>{version}</Версия><Дата>{_moment(date)}</Дата>{body}{sig}"
        "</АккредитованныеУдостоверяющиеЦентры>\n"
    ).encode()
