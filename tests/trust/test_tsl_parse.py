"""Reading the Минцифры list of accredited CAs (cades/tsl.py): the structure, and a file that is hostile input."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from cades.tsl import TslError, parse_tsl, read_tsl
from tests.support.pki_fixtures import GostPki
from tests.support.tsl_files import TslCaSpec, tsl_xml

# The project notes sit beside the checkout (as tests/cades/test_interop.py finds the interop corpus).
DATE = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def test_a_list_built_from_openssl_certificates_reads_back(gost_pki: GostPki) -> None:
    data = tsl_xml(
        7,
        DATE,
        [
            TslCaSpec("Тестовый УЦ", (gost_pki.root, gost_pki.inter), crl_urls=("http://a/1.crl", "http://b/1.crl")),
            TslCaSpec("Бывший УЦ", (gost_pki.foreign_root,), status="Прекращена", registry_number="12"),
        ],
        signature=True,
    )
    tsl = parse_tsl(data)
    assert (tsl.version, tsl.issued_at, tsl.signed) == (7, DATE, True)
    assert tsl.sha256 == hashlib.sha256(data).hexdigest() and tsl.skipped == ()
    active, former = tsl.cas
    assert active.accredited and not former.accredited and former.registry_number == "12"
    assert [k.crl_urls for k in active.keys] == [("http://a/1.crl", "http://b/1.crl")] * 2
    root, inter = (k.certificates[0] for k in active.keys)
    assert root.der == gost_pki.root.cert_der and root.self_signed
    assert inter.der == gost_pki.inter.cert_der and not inter.self_signed
    assert inter.thumbprint == hashlib.sha1(inter.der).hexdigest().upper()
    assert active.keys[1].key_id == active.keys[1].key_id.lower() and len(active.keys[1].key_id) == 40


def test_a_certificate_whose_thumbprint_lies_is_left_out(gost_pki: GostPki) -> None:
    data = tsl_xml(1, DATE, [TslCaSpec("УЦ", (gost_pki.root, gost_pki.inter), wrong_thumbprint=frozenset({"inter"}))])
    tsl = parse_tsl(data)
    assert [len(k.certificates) for k in tsl.cas[0].keys] == [1, 0]
    assert len(tsl.skipped) == 1 and "отпечаток не совпадает" in tsl.skipped[0]


def test_dates_are_read_leniently() -> None:
    body = (
        "<АккредитованныеУдостоверяющиеЦентры><Версия>3</Версия><Дата>{}</Дата></АккредитованныеУдостоверяющиеЦентры>"
    )
    for text, expected in [
        ("2026-01-02T03:04:05Z", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
        ("2026-01-02T06:04:05.123+03:00", dt.datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=dt.UTC)),
        ("2026-01-02T06:04:05", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),  # no offset: Moscow time
    ]:
        assert parse_tsl(body.format(text).encode()).issued_at == expected


BOMB = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>
<АккредитованныеУдостоверяющиеЦентры><Версия>&c;</Версия></АккредитованныеУдостоверяющиеЦентры>""".encode()
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<АккредитованныеУдостоверяющиеЦентры><Версия>&x;</Версия></АккредитованныеУдостоверяющиеЦентры>""".encode()
HEAD = "<АккредитованныеУдостоверяющиеЦентры><Версия>1</Версия><Дата>2026-01-01T00:00:00Z</Дата>"
TAIL = "</АккредитованныеУдостоверяющиеЦентры>"
FLOOD = "".join(f' a{n}="v"' for n in range(300))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (BOMB, "DOCTYPE"),
        (EXTERNAL, "DOCTYPE"),
        (b"", "пуст"),
        (f"{HEAD}<b>{TAIL}".encode(), "не является корректным XML"),
        (b"<TrustServiceStatusList/>", "не перечень аккредитованных УЦ"),
        (b"<\xd0\x90\xd0", "не является корректным XML"),
        (f"{HEAD}{'<x>' * 40}{'</x>' * 40}{TAIL}".encode(), "вложенность"),
        (f"{HEAD}<x>{'a' * (1024 * 1024 + 10)}</x>{TAIL}".encode(), "слишком длинный текст"),
        # The first flooded tag ends the reading: the broken XML after it is never reached.
        (f"{HEAD}<x{FLOOD}/><b>{TAIL}".encode(), "слишком много атрибутов"),
        (f"<АккредитованныеУдостоверяющиеЦентры><Дата>2026-01-01T00:00:00Z</Дата>{TAIL}".encode(), "Версия"),
        (f"<АккредитованныеУдостоверяющиеЦентры><Версия>пять</Версия>{TAIL}".encode(), "целым числом"),
        (f"<АккредитованныеУдостоверяющиеЦентры><Версия>5</Версия><Дата>вчера</Дата>{TAIL}".encode(), "Дата"),
    ],
)
def test_a_malformed_or_hostile_file_is_refused_in_russian(data: bytes, message: str) -> None:
    with pytest.raises(TslError, match=message):
        parse_tsl(data)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(f"{HEAD}{('<x>' + 'a' * 100_000 + '</x>') * 20}{TAIL}".encode())
    with pytest.raises(TslError, match="больше допустимого размера"):
        read_tsl(path, max_bytes=1024 * 1024)
    with pytest.raises(TslError, match="не читается"):
        read_tsl(tmp_path / "absent.xml")


@pytest.mark.parametrize("encoding", ["UTFFF-8", "gb2312", "utf-32", "base64", "idna"])
def test_a_file_declaring_an_encoding_expat_cannot_use_is_refused_in_russian(encoding: str) -> None:
    """Found by the fuzz harness (tests/fuzz, parser ``tsl``): expat asks Python's codecs for an encoding it does not
    know itself, and an unknown, multi-byte or non-text one raised LookupError/ValueError/UnicodeError, not
    TslError; `klikdok trust` and the server would have shown a traceback instead of the reason."""
    data = f'<?xml version="1.0" encoding="{encoding}"?>{HEAD}{TAIL}'.encode()
    with pytest.raises(TslError, match="кодировк"):
        parse_tsl(data)


def test_a_single_byte_encoding_expat_can_use_still_reads() -> None:
    data = f'<?xml version="1.0" encoding="windows-1251"?>{HEAD}{TAIL}'.encode("cp1251")
    assert parse_tsl(data).version == 1
