"""The trust store: `klikdok trust import|list|add|remove`, doctor's age warning, and signatures checked against it."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from cades.verify import verify_cms
from server.config import Settings, StorageSettings
from server.db import Database, migrations
from server.trust import service, store
from server.trust.context import TrustContext
from server.workflow.signatures import validation_context
from tests.support.pki_fixtures import GostPki
from tests.support.server import clean_env, run_cli
from tests.support.tsl_files import TslCaSpec, tsl_xml

DOC = b"trust store test document\n" * 50
NOW = dt.datetime.now(dt.UTC)


def sha1(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()


def cli(data: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli(*args, env=clean_env(KLIKDOK_STORAGE_DATA_DIR=str(data)))
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout, result.stderr


def stored(data: Path) -> tuple[list[tuple[int, str]], list[tuple[str, str]]]:
    """(list versions and dates, (origin, thumbprint) of every certificate), straight from the database."""
    conn = sqlite3.connect(data / "klikdok.db")
    try:
        lists = conn.execute("SELECT version, issued_at FROM trust_lists ORDER BY id").fetchall()
        certs = conn.execute("SELECT origin, thumbprint FROM trust_certificates ORDER BY origin, thumbprint").fetchall()
    finally:
        conn.close()
    return lists, certs


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_a_newer_list_replaces_an_older_one_never_the_reverse(tmp_path: Path, gost_pki: GostPki) -> None:
    data = tmp_path / "data"
    v1 = write(tmp_path, "v1.xml", tsl_xml(5, NOW - dt.timedelta(days=3), [TslCaSpec("УЦ 1", (gost_pki.root,))]))
    v2 = write(
        tmp_path,
        "v2.xml",
        tsl_xml(6, NOW - dt.timedelta(days=1), [TslCaSpec("УЦ 1", (gost_pki.root, gost_pki.inter))], signature=True),
    )
    older = write(tmp_path, "old.xml", tsl_xml(4, NOW, [TslCaSpec("УЦ 0", (gost_pki.foreign_root,))]))

    code, out, _ = cli(data, "trust", "import", v1)
    assert code == 0 and "версия 5" in out and "сертификатов: 1" in out
    assert stored(data)[1] == [("list", sha1(gost_pki.root.cert_der))]

    code, out, _ = cli(data, "trust", "import", v2)
    assert code == 0 and "версия 6" in out and "Заменён перечень версии 5" in out and "XMLDSig" in out
    after_v2 = stored(data)
    assert [v for v, _ in after_v2[0]] == [5, 6] and len(after_v2[1]) == 2

    code, _, err = cli(data, "trust", "import", older)
    assert code == 2 and "не новее загруженного (версия 6" in err and "ничего не изменено" in err
    code, _, err = cli(data, "trust", "import", v1)
    assert code == 2 and "не новее" in err
    assert stored(data) == after_v2

    code, out, _ = cli(data, "trust", "import", v2)  # the same list again: said so, nothing changes
    assert code == 0 and "уже загружен" in out and stored(data) == after_v2

    code, out, _ = cli(data, "trust", "list", "--all")
    assert code == 0 and "версия 6" in out and sha1(gost_pki.inter.cert_der) in out and "(Действует)" in out


def test_a_broken_file_is_refused_with_one_russian_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bad = write(tmp_path, "bad.xml", b"<?xml version='1.0'?><\xd0\x90")
    code, out, err = cli(data, "trust", "import", bad)
    assert code == 2 and out == "" and err.startswith("klikdok: перечень аккредитованных УЦ не загружен: bad.xml:")
    assert len(err.strip().splitlines()) == 1
    code, _, err = cli(data, "trust", "import", str(tmp_path / "missing.xml"))
    assert code == 2 and "не читается" in err


def test_own_roots_are_added_and_removed_by_thumbprint(tmp_path: Path, gost_pki: GostPki) -> None:
    data = tmp_path / "data"
    thumb = sha1(gost_pki.foreign_root.cert_der)
    code, out, _ = cli(data, "trust", "add", str(gost_pki.foreign_root.cert))
    assert code == 0 and f"Добавлен корневой сертификат {thumb}" in out
    code, out, _ = cli(data, "trust", "add", str(gost_pki.foreign_root.cert))
    assert code == 0 and "Уже был" in out
    code, _, err = cli(data, "trust", "add", str(gost_pki.user256.cert))
    assert code == 2 and "не сертификат удостоверяющего центра" in err
    code, out, _ = cli(data, "trust", "list")
    assert "Собственные корневые сертификаты: 1" in out and thumb in out

    listed = write(tmp_path, "v1.xml", tsl_xml(1, NOW, [TslCaSpec("УЦ", (gost_pki.root,))]))
    assert cli(data, "trust", "import", listed)[0] == 0
    assert ("admin", thumb) in stored(data)[1]  # an import leaves own roots alone
    code, _, err = cli(data, "trust", "remove", sha1(gost_pki.root.cert_der))
    assert code == 2 and "убирает только новый перечень" in err

    spaced = " ".join(thumb[i : i + 2] for i in range(0, 40, 2)).lower()
    code, out, _ = cli(data, "trust", "remove", spaced)
    assert code == 0 and "удалён" in out and ("admin", thumb) not in stored(data)[1]
    code, _, err = cli(data, "trust", "remove", thumb)
    assert code == 2 and "нет собственного корневого" in err
    conn = sqlite3.connect(data / "klikdok.db")
    actions = [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]
    conn.close()
    assert actions == ["trust.root_added", "trust.list_imported", "trust.root_removed"]


def doctor_line(data: Path, name: str) -> str:
    _, out, _ = cli(data, "doctor")
    return next(line for line in out.splitlines() if line.split()[1:2] == [name])


def test_doctor_warns_when_the_list_is_missing_or_older_than_30_days(tmp_path: Path, gost_pki: GostPki) -> None:
    data = tmp_path / "data"
    line = doctor_line(data, "accredited")
    assert line.startswith("WARN") and "не загружен" in line
    old = write(tmp_path, "old.xml", tsl_xml(1, NOW - dt.timedelta(days=40), [TslCaSpec("УЦ", (gost_pki.root,))]))
    cli(data, "trust", "import", old)
    line = doctor_line(data, "accredited")
    assert line.startswith("WARN") and "40 дн. назад" in line and "старше 30 дн." in line
    fresh = write(tmp_path, "new.xml", tsl_xml(2, NOW - dt.timedelta(days=2), [TslCaSpec("УЦ", (gost_pki.root,))]))
    cli(data, "trust", "import", fresh)
    line = doctor_line(data, "accredited")
    assert line.startswith("OK") and "версия 2" in line and "2 дн. назад" in line


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    settings = Settings(storage=StorageSettings(data_dir=str(tmp_path / "data")))
    db = Database(settings.storage.database_path)
    db.open()
    db.write_sync(migrations.apply, transaction=False)
    yield settings, db
    db.close()


def test_a_chain_ending_at_a_listed_ca_validates_and_a_foreign_one_does_not(
    tmp_path: Path, gost_pki: GostPki, database: tuple[Settings, Database]
) -> None:
    plain, db = database
    pki = gost_pki.pki
    ours = pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert])
    stranger = pki.issue(gost_pki.foreign_root, "stranger", subject=pki.subject(CN="Чужой подписант"))
    theirs = pki.sign(stranger, DOC, certfile=[gost_pki.foreign_root.cert])
    # The issuing CAs' CRLs, so that only the anchors decide (an unknown revocation status is indeterminate).
    crls = [str(gost_pki.crl), str(pki.crl(gost_pki.foreign_root, name="foreign-for-store"))]
    settings = msgspec.structs.replace(plain, trust=msgspec.structs.replace(plain.trust, crls=crls, fetch=False))
    # The server's provider: it notices every store change by the generation the store's triggers move.
    trust = TrustContext(settings, db)

    def status(sig: bytes) -> str:
        return verify_cms(sig, DOC, context=trust.current()).status

    assert status(ours) == "indeterminate"  # nothing trusted yet
    # The list names the issuing CA (not its root): the ministry's list is the anchor.
    listed = write(tmp_path, "v1.xml", tsl_xml(1, NOW, [TslCaSpec("Тестовый УЦ", (gost_pki.inter,))]))
    service.import_list(db, Path(listed), settings, actor="test")
    assert status(ours) == "valid"
    assert status(theirs) == "indeterminate"
    (sig,) = verify_cms(theirs, DOC, context=validation_context(settings)).signatures
    assert "untrusted_root" in sig.reasons

    # A CA whose accreditation ended anchors nothing, though its certificates stay in the store.
    ended = write(
        tmp_path, "v2.xml", tsl_xml(2, NOW, [TslCaSpec("Тестовый УЦ", (gost_pki.inter,), status="Прекращена")])
    )
    service.import_list(db, Path(ended), settings, actor="test")
    assert status(ours) == "indeterminate" and len(db.read_sync(store.certificates)) == 1

    # An own root (a corporate CA) anchors the stranger's chain.
    service.add_roots(db, gost_pki.foreign_root.cert, actor="test")
    assert status(theirs) == "valid"


def test_klikdok_verify_uses_the_store(tmp_path: Path, gost_pki: GostPki) -> None:
    data = tmp_path / "data"
    document = write(tmp_path, "doc.bin", DOC)
    signature = write(tmp_path, "doc.bin.sig", gost_pki.pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert]))
    # Issue 13: undecided (no anchor) exits 3, and "valid" needs the revocation status known (both CAs' CRLs).
    crls = ["--crl", str(gost_pki.crl), "--crl", str(gost_pki.root_crl)]
    code, out, _ = cli(data, "verify", document, signature, *crls)
    assert code == 3  # no database, no anchors
    listed = write(tmp_path, "v1.xml", tsl_xml(1, NOW, [TslCaSpec("Тестовый УЦ", (gost_pki.root,))]))
    assert cli(data, "trust", "import", listed)[0] == 0
    code, out, _ = cli(data, "verify", document, signature, *crls)
    assert code == 0, out
    assert out.startswith("ПОДПИСЬ ДЕЙСТВИТЕЛЬНА: ")
    assert cli(data, "verify", "--no-store", document, signature, *crls)[0] == 3


def test_crl_addresses_are_kept_per_key(tmp_path: Path, gost_pki: GostPki, database: tuple[Settings, Database]) -> None:
    settings, db = database
    urls = ("http://127.0.0.1:9/a.crl", "http://127.0.0.1:9/b.crl")
    listed = write(tmp_path, "v1.xml", tsl_xml(1, NOW, [TslCaSpec("УЦ", (gost_pki.inter,), crl_urls=urls)]))
    service.import_list(db, Path(listed), settings, actor="test")
    from asn1crypto import x509

    key_id = x509.Certificate.load(gost_pki.inter.cert_der).key_identifier.hex().upper()
    assert db.read_sync(lambda d: store.crl_addresses(d, key_id)) == sorted(urls)
    # The server's context gets them keyed by the issuing CA's SKI, so cades tries them for what that CA issued.
    assert TrustContext(settings, db).current().crl_urls == {key_id: urls}


def test_doctor_counts_the_store_as_trust_roots(tmp_path: Path, gost_pki: GostPki) -> None:
    data = tmp_path / "data"
    assert cli(data, "trust", "add", str(gost_pki.root.cert))[0] == 0
    line = doctor_line(data, "trust")
    assert line.startswith("OK") and "собственных (klikdok trust add): 1" in line


def test_the_accreditation_history_is_kept(
    tmp_path: Path, gost_pki: GostPki, database: tuple[Settings, Database]
) -> None:
    settings, db = database
    history = (("Действует", "2020-03-01T00:00:00+03:00"), ("Прекращена", "2025-06-30T00:00:00+03:00"))
    spec = TslCaSpec("УЦ", (gost_pki.inter,), status="Прекращена", history=history)
    service.import_list(db, Path(write(tmp_path, "v1.xml", tsl_xml(1, NOW, [spec]))), settings, actor="test")
    thumb = sha1(gost_pki.inter.cert_der).lower()
    assert db.read_sync(lambda d: store.accreditation_history(d, thumb)) == [
        ("Действует", "2020-02-29T21:00:00+00:00"),
        ("Прекращена", "2025-06-29T21:00:00+00:00"),
    ]


def test_the_server_context_rereads_changed_crl_files_and_keeps_the_old_one_on_a_broken_file(
    tmp_path: Path, gost_pki: GostPki, database: tuple[Settings, Database]
) -> None:
    plain, db = database
    pki = gost_pki.pki
    crl_file = tmp_path / "inter.crl"
    crl_file.write_bytes(pki.crl(gost_pki.inter, name="context-crl").read_bytes())
    trust = msgspec.structs.replace(
        plain.trust, roots=[str(gost_pki.root.cert)], intermediates=[str(gost_pki.inter.cert)], crls=[str(crl_file)]
    )
    provider = TrustContext(msgspec.structs.replace(plain, trust=trust), db)
    first = provider.current()
    assert provider.current() is first and provider.rebuilt == 1  # nothing changed: no rebuild
    victim = pki.issue(gost_pki.inter, "context-victim", subject=pki.subject(CN="Отзываемый"))
    pki.revoke(victim)
    # Signed after the revocation (at or after its second): ``revoked`` whatever the machine's load. Signed
    # before, it was ``revoked_no_poe`` whenever the revocation fell in the next second.
    signature = pki.sign(victim, DOC)
    crl_file.write_bytes(pki.crl(gost_pki.inter, name="context-crl").read_bytes())  # the admin's new CRL
    (sig,) = verify_cms(signature, DOC, context=provider.current()).signatures
    assert "revoked" in sig.reasons and provider.rebuilt == 2
    crl_file.write_bytes(b"-----BEGIN X509 CRL-----\ntrunc")  # caught half-written
    assert provider.current() is not first and provider.rebuilt == 2  # the previous context stays
