"""The Минцифры list of accredited CAs (``АккредитованныеУдостоверяющиеЦентры``, "the TSL") read from a file.

The file comes from outside (an admin downloads it, perhaps on another machine), so it is parsed as hostile
input: the standard library's expat, fed in chunks, with any DOCTYPE refused outright (no DTD means no entity
can be declared, so neither entity expansion nor external entities can happen; the real list has none), a
bounded size, a bounded depth and bounded text per element. Each CA's subtree is built, read and dropped, so
memory follows one CA, not the whole list. Every problem is a :class:`TslError` with a Russian message.

Structure (no namespace): root → Версия, Дата, УдостоверяющийЦентр* → … → Ключ* (ИдентификаторКлюча,
АдресаСписковОтзыва/Адрес*, Сертификаты/ДанныеСертификата* with Отпечаток, Данные = base64 DER). See
``shared/reference/tsl/README.md`` of the project notes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final
from xml.parsers import expat

from asn1crypto import x509

from .certs import facts

__all__ = ["ROOT_TAG", "TslCa", "TslCertificate", "TslError", "TslKey", "TrustedList", "parse_tsl", "read_tsl"]

ROOT_TAG: Final = "АккредитованныеУдостоверяющиеЦентры"
CA_TAG: Final = "УдостоверяющийЦентр"
ACTIVE_STATUS: Final = "Действует"
DEFAULT_MAX_BYTES: Final = 256 * 1024 * 1024
MAX_DEPTH: Final = 32
MAX_TEXT: Final = 1024 * 1024  # one element's text: a certificate is a few KB of base64
# The list's elements carry a few attributes at most (namespaces, a signature's algorithms). expat hands over a
# start tag whole, so a tag of thirty thousand attributes, copied down a 100 MB file, cost seconds a tag; the first
# such tag now ends the reading (the fuzz harness's TSL hang, 8 December 2026).
MAX_ATTRIBUTES: Final = 256
_CHUNK: Final = 1024 * 1024
MOSCOW: Final = dt.timezone(dt.timedelta(hours=3))


class TslError(ValueError):
    """The file is not a usable list; the message is for the admin, in Russian."""


@dataclass(frozen=True)
class TslCertificate:
    """One certificate of a CA key, as the list gives it, with its decoded DER."""

    der: bytes
    thumbprint: str  # SHA-1 of the DER, upper-case hex (what the list's Отпечаток holds)
    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    self_signed: bool


@dataclass(frozen=True)
class TslKey:
    """One signing key of a CA: its key id (lower-case hex), CRL addresses and certificates."""

    key_id: str
    crl_urls: tuple[str, ...]
    certificates: tuple[TslCertificate, ...]


@dataclass(frozen=True)
class TslCa:
    registry_number: str
    name: str
    short_name: str
    inn: str
    ogrn: str
    status: str
    status_since: dt.datetime | None
    keys: tuple[TslKey, ...]
    history: tuple[tuple[str, dt.datetime | None], ...] = ()  # (Статус, ДействуетС), as listed

    @property
    def accredited(self) -> bool:
        return self.status == ACTIVE_STATUS


@dataclass(frozen=True)
class TrustedList:
    version: int
    issued_at: dt.datetime
    sha256: str
    signed: bool  # carries an XMLDSig element (not checked yet)
    cas: tuple[TslCa, ...]
    skipped: tuple[str, ...] = field(default=())  # certificates left out, each with why


def parse_datetime(text: str) -> dt.datetime:
    """An xsd:dateTime, leniently: ``Z`` or an offset, fractional seconds; without an offset, Moscow time."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise TslError(f"неверная дата «{text.strip()[:40]}»") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=MOSCOW)


def read_tsl(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> TrustedList:
    """Read and parse the list from a file; an unreadable file is a :class:`TslError` too."""
    try:
        with open(path, "rb") as stream:
            return parse_tsl(stream, max_bytes=max_bytes)
    except OSError as exc:
        raise TslError(f"файл {path} не читается: {exc.strerror or exc}") from None


def parse_tsl(source: bytes | BinaryIO, *, max_bytes: int = DEFAULT_MAX_BYTES) -> TrustedList:
    """Parse the list; raise :class:`TslError` on anything malformed, too large or not the list."""
    reader = _Reader()
    digest = hashlib.sha256()
    size = 0
    for chunk in _chunks(source):
        size += len(chunk)
        if size > max_bytes:
            raise TslError(f"файл больше допустимого размера ({max_bytes // (1024 * 1024)} МБ)")
        digest.update(chunk)
        reader.feed(chunk)
    if size == 0:
        raise TslError("файл пуст")
    reader.feed(b"", final=True)
    return reader.result(digest.hexdigest())


def _chunks(source: bytes | BinaryIO) -> Iterator[bytes]:
    if isinstance(source, bytes):
        for start in range(0, len(source), _CHUNK):
            yield source[start : start + _CHUNK]
        return
    while chunk := source.read(_CHUNK):
        yield chunk


class _Refused(Exception):
    """Raised from an expat handler to stop parsing; carries the Russian reason."""


class _Reader:
    """expat handlers that keep the root's scalars and hand each CA's subtree to :func:`_read_ca`."""

    def __init__(self) -> None:
        parser = expat.ParserCreate()
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._entity
        parser.ExternalEntityRefHandler = self._external
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        parser.buffer_text = True
        self._parser = parser
        self._depth = 0
        self._tree: ET.TreeBuilder | None = None
        self._scalar = ""
        self._text_size = 0
        self._root_text: dict[str, str] = {}
        self._signed = False
        self._seen_root = False
        self.cas: list[TslCa] = []
        self.skipped: list[str] = []

    def feed(self, data: bytes, final: bool = False) -> None:
        try:
            self._parser.Parse(data, final)
        except _Refused as exc:
            raise TslError(str(exc)) from None
        except expat.ExpatError as exc:
            raise TslError(
                f"файл не является корректным XML (строка {exc.lineno}, позиция {exc.offset}): "
                f"{expat.ErrorString(exc.code)}"
            ) from None
        except (LookupError, ValueError) as exc:
            # expat asks Python's codecs for an encoding it does not know itself, while it reads the XML
            # declaration (before the root element): an unknown, multi-byte or non-text codec raises LookupError,
            # ValueError or UnicodeError there. After the root, a ValueError is ours and must stay visible.
            if self._seen_root or isinstance(exc, TslError):
                raise
            raise TslError(
                "кодировка, объявленная в файле (encoding в <?xml …?>), не поддерживается: перечень Минцифры "
                "публикуется в UTF-8"
            ) from None

    # -- hostile constructs --------------------------------------------------------------------
    def _doctype(self, *_: object) -> None:
        raise _Refused("в файле есть объявление DOCTYPE; перечень его не содержит, такой файл не принимается")

    def _entity(self, *_: object) -> None:
        raise _Refused("в файле объявлены сущности XML; такой файл не принимается")

    def _external(self, *_: object) -> int:
        raise _Refused("в файле есть ссылка на внешнюю сущность XML; такой файл не принимается")

    # -- elements ------------------------------------------------------------------------------
    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        self._depth += 1
        self._text_size = 0
        if self._depth > MAX_DEPTH:
            raise _Refused(f"слишком глубокая вложенность элементов (больше {MAX_DEPTH})")
        if len(attrs) > MAX_ATTRIBUTES:
            raise _Refused(f"у элемента слишком много атрибутов (больше {MAX_ATTRIBUTES})")
        if self._depth == 1:
            if tag != ROOT_TAG:
                raise _Refused(f"это не перечень аккредитованных УЦ: корневой элемент «{tag[:60]}», а не «{ROOT_TAG}»")
            self._seen_root = True
            return
        if self._depth == 2:
            if tag == CA_TAG:
                self._tree = ET.TreeBuilder()
            if tag.rpartition(":")[2] == "Signature":
                self._signed = True
            self._scalar = ""
        if self._tree is not None:
            self._tree.start(tag, {})

    def _text(self, data: str) -> None:
        self._text_size += len(data)
        if self._text_size > MAX_TEXT:
            raise _Refused("слишком длинный текст внутри элемента")
        if self._tree is not None:
            self._tree.data(data)
        elif self._depth == 2:
            self._scalar += data

    def _end(self, tag: str) -> None:
        if self._tree is not None:
            self._tree.end(tag)
            if self._depth == 2:
                element = self._tree.close()
                self._tree = None
                self.cas.append(_read_ca(element, self.skipped))
        elif self._depth == 2:
            self._root_text.setdefault(tag, self._scalar.strip())
        self._depth -= 1

    def result(self, sha256: str) -> TrustedList:
        if not self._seen_root:
            raise TslError("файл пуст")
        version_text = self._root_text.get("Версия", "")
        if not version_text:
            raise TslError("в перечне нет элемента «Версия»")
        try:
            version = int(version_text)
        except ValueError:
            raise TslError(f"«Версия» должна быть целым числом, а не «{version_text[:40]}»") from None
        date_text = self._root_text.get("Дата", "")
        if not date_text:
            raise TslError("в перечне нет элемента «Дата»")
        try:
            issued_at = parse_datetime(date_text)
        except TslError as exc:
            raise TslError(f"«Дата» перечня: {exc}") from None
        return TrustedList(version, issued_at, sha256, self._signed, tuple(self.cas), tuple(self.skipped))


def _text_of(element: ET.Element, path: str) -> str:
    found = element.find(path)
    return (found.text or "").strip() if found is not None else ""


def _read_ca(element: ET.Element, skipped: list[str]) -> TslCa:
    name = _text_of(element, "Название")
    short = _text_of(element, "КраткоеНазвание") or name
    status_since = _lenient_datetime(_text_of(element, "СтатусАккредитации/ДействуетС"))
    history = tuple(
        (_text_of(item, "Статус"), _lenient_datetime(_text_of(item, "ДействуетС")))
        for item in element.iterfind("ИсторияСтатусовАккредитации/СтатусАккредитации")
    )
    keys: list[TslKey] = []
    for key in element.iterfind(
        "ПрограммноАппаратныеКомплексы/ПрограммноАппаратныйКомплекс/КлючиУполномоченныхЛиц/Ключ"
    ):
        key_id = "".join(_text_of(key, "ИдентификаторКлюча").split()).lower()
        urls = tuple(u for u in ((a.text or "").strip() for a in key.iterfind("АдресаСписковОтзыва/Адрес")) if u)
        certs: list[TslCertificate] = []
        for item in key.iterfind("Сертификаты/ДанныеСертификата"):
            cert, why = _read_certificate(item)
            if cert is None:
                skipped.append(f"{short[:80]}: {why}")
            else:
                certs.append(cert)
        keys.append(TslKey(key_id, urls, tuple(certs)))
    return TslCa(
        registry_number=_text_of(element, "РеестровыйНомер"),
        name=name,
        short_name=short,
        inn=_text_of(element, "ИНН"),
        ogrn=_text_of(element, "ОГРН"),
        status=_text_of(element, "СтатусАккредитации/Статус"),
        status_since=status_since,
        keys=tuple(keys),
        history=history,
    )


def _lenient_datetime(text: str) -> dt.datetime | None:
    """A CA's status date: None when absent or unreadable (the status itself still counts)."""
    try:
        return parse_datetime(text) if text else None
    except TslError:
        return None


def _read_certificate(item: ET.Element) -> tuple[TslCertificate | None, str]:
    """The certificate, or None and why it is left out (undecodable, or not what its thumbprint says)."""
    claimed = "".join(_text_of(item, "Отпечаток").split()).upper()
    label = f"сертификат {claimed or 'без отпечатка'}"
    try:
        der = base64.b64decode("".join(_text_of(item, "Данные").split()), validate=True)
        cert = x509.Certificate.load(der, strict=True)
        tbs = cert["tbs_certificate"]
        not_before = tbs["validity"]["not_before"].native
        not_after = tbs["validity"]["not_after"].native
        subject = cert.subject.human_friendly
        issuer = cert.issuer.human_friendly
        serial = format(tbs["serial_number"].native, "X")
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None, f"{label}: данные сертификата не читаются"
    if not der:
        return None, f"{label}: нет данных сертификата"
    thumbprint = hashlib.sha1(der).hexdigest().upper()  # the list's own thumbprint scheme
    if claimed and claimed != thumbprint:
        return None, f"{label}: отпечаток не совпадает с данными сертификата ({thumbprint})"
    self_signed = tbs["subject"].dump() == tbs["issuer"].dump()
    if not facts(cert).ok:
        return None, f"{label}: сертификат не разбирается"
    return TslCertificate(der, thumbprint, subject, issuer, serial, not_before, not_after, self_signed), ""
