"""The ``klikdok`` command.

Every subcommand turns an expected failure (bad config, unreadable database, bad input) into one line on
stderr and exit code 2; a traceback means a bug. argparse is enough here and keeps the dependency list
short.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from common.errors import ConfigError

if TYPE_CHECKING:
    from asn1crypto import x509

    from cades.result import VerificationResult
    from server.config import Settings
    from server.db import Database

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Version(argparse.Action):
    """``--version``, looked up only when asked for (the installed version costs 70 ms of every start)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from server import __version__

        parser.exit(message=f"klikdok {__version__}\n")


class CliError(Exception):
    """An expected failure, phrased as the one line the user sees."""


def _settings(args: argparse.Namespace) -> Settings:
    from server.config import find_config, load_settings

    return load_settings(find_config(args.config))


# Each command imports what it needs inside its function: `klikdok --help` or `klikdok migrate` should not pay
# for loading the web application, uvicorn and the signature code.


# -- serve -----------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    import logging
    import signal
    import socket
    from types import FrameType

    import uvicorn

    from server import __version__, connections, logs
    from server.app import create_app
    from server.sdnotify import notify

    settings = _settings(args)
    if args.listen:
        host, _, port = args.listen.rpartition(":")
        if not port.isdigit():
            raise CliError(f"--listen: expected host:port, got {args.listen!r}")
    logs.configure(settings.logging.level, settings.logging.format, settings.logging.target)
    listen = args.listen or settings.server.listen
    host, _, port = listen.rpartition(":")
    app = create_app(settings)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # A SIGTERM that ends in a graceful shutdown is a clean stop (exit 0), not a death by signal.
            super().handle_exit(sig, frame)
            if sig == signal.SIGTERM:
                self._captured_signals.remove(sig)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                notify("READY=1")
                logging.getLogger("klikdok").info(
                    "listening", extra={"url": f"http://{host}:{port}", "version": __version__}
                )

    limits = settings.server
    http = connections.protocol_class(
        header_timeout=limits.header_timeout_seconds,
        body_timeout=limits.body_timeout_seconds,
        max_connections=limits.max_connections,
    )
    config = uvicorn.Config(
        app,
        host=host.strip("[]"),
        port=int(port),
        log_config=None,
        access_log=False,
        lifespan="on",
        http=http,
        ws="websockets-sansio",
        timeout_keep_alive=limits.keepalive_seconds,
        backlog=limits.max_connections,
        proxy_headers=True,
        forwarded_allow_ips=list(settings.limits.trusted_proxies),
        timeout_graceful_shutdown=10,
    )
    server = Server(config)
    server.run()
    notify("STOPPING=1")
    if not server.started:
        return EXIT_FAIL
    # Stopped cleanly: the lifespan closed the database (everything acknowledged is committed) and no thread is
    # left. Tearing down the interpreter would only free objects, which takes 0.4 s of a restart (a systemd
    # restart, every test's server); the logs are flushed and the process ends here.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_OK)


# -- migrate ---------------------------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace) -> int:
    from server.db import Database, migrations

    settings = _settings(args)
    db = Database(settings.storage.database_path, busy_timeout_ms=settings.storage.busy_timeout_ms)
    with db:
        if args.list:
            applied = {m.name for m in db.read_sync(migrations.migrations.applied)}
            for m in migrations.migrations._migrations:
                print(f"{'[x]' if m.name in applied else '[ ]'} {m.name}")
            return EXIT_OK
        done = db.write_sync(migrations.apply, transaction=False)
    print(f"Применено миграций: {len(done)}" + (f" ({', '.join(done)})" if done else " — схема уже актуальна"))
    return EXIT_OK


# -- backup ----------------------------------------------------------------------------------------
def cmd_backup(args: argparse.Namespace) -> int:
    from server.db import Database

    settings = _settings(args)
    source = settings.storage.database_path
    if not source.exists():
        raise CliError(f"база данных не найдена: {source}")
    dest = Path(args.dest)
    if dest.is_dir():
        dest = dest / "klikdok-backup.db"
    if dest.exists() and not args.force:
        raise CliError(f"{dest} уже существует (добавьте --force, чтобы перезаписать)")
    Database(source, busy_timeout_ms=settings.storage.busy_timeout_ms).backup(dest)
    print(f"Резервная копия: {dest} ({dest.stat().st_size} байт)")
    return EXIT_OK


# -- stamp -----------------------------------------------------------------------------------------
def cmd_stamp(args: argparse.Namespace) -> int:
    """``klikdok stamp DOCUMENT SIGNATURE... -o OUT.pdf``: verify as ``klikdok verify`` does (the same options, the
    store's anchors), then write the stamped copy (a PDF original) or the signing sheet (any other file, or a PDF
    that cannot take marks unchanged). Exit codes as ``verify``'s for the verdict; 2 and nothing written for
    unusable input."""
    import datetime as dt
    import tempfile

    from cades.cli import UsageError, verify_signature_files
    from cades.hashing import hash_file
    from cades.verdicts import document_headline, exit_code
    from server.paper import PaperError
    from server.paper.marks import marks_for
    from server.paper.stamp import copy_name, is_pdf, signing_sheet, stamp_pdf
    from server.text import local_time

    document, out = Path(args.document), Path(args.output)
    if not document.is_file():
        raise CliError(f"документ {document}: файл не найден")
    for given in (document, *map(Path, args.signatures)):
        if out.resolve() == given.resolve() or (out.exists() and given.exists() and out.samefile(given)):
            raise CliError(
                f"-o {out}: это {'сам документ' if given == document else 'файл подписи'}; укажите другой файл"
            )
    settings = _settings(args)
    url = args.url or settings.server.public_url.rstrip("/") + "/verify"
    zone = settings.portal.timezone

    def time_text(value: dt.datetime | None) -> str:
        return local_time(value, zone, seconds=True) or "—"

    try:
        results = [result for _, result in verify_signature_files(args, str(document), args.signatures)]
    except UsageError as exc:
        raise CliError(str(exc)) from exc
    data = document.read_bytes()
    marks = marks_for(document.name, results)
    note = ""
    try:
        pdf = is_pdf(data)
        if pdf:
            try:
                copy = stamp_pdf(data, marks, verify_url=url, time_text=time_text)
            except PaperError as exc:  # encrypted or broken: the signing sheet still says what was signed
                note, pdf = str(exc), False
        if not pdf:
            digest = hash_file(document, "streebog256").hex()
            copy = signing_sheet(document.name, digest, marks, verify_url=url, time_text=time_text)
    except PaperError as exc:
        raise CliError(str(exc)) from exc
    # Atomic: a reader of OUT sees the old file or the whole new one, never half of it.
    with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp", delete=False) as tmp:
        tmp.write(copy)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, out)
    heads = [document_headline(r) for r in results]
    worst = max(heads, key=lambda h: {"valid": 0, "indeterminate": 1, "invalid": 2}[h.tone])
    what = "Копия с отметками об электронной подписи" if pdf else "Лист подписания"
    print(worst.line)
    print(f"{what}: {out} (подписей: {len(marks)}; предлагаемое имя: {copy_name(document.name, pdf=pdf)})")
    if note:
        print(f"klikdok stamp: {note} Вместо копии записан лист подписания.", file=sys.stderr)
    return exit_code(worst)


# -- audit -----------------------------------------------------------------------------------------
def cmd_audit_verify(args: argparse.Namespace) -> int:
    import sqlite3

    import sqlite_utils

    from server.db import audit

    settings = _settings(args)
    path = Path(args.database) if args.database else settings.storage.database_path
    if not path.exists():
        raise CliError(f"база данных не найдена: {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        report = audit.verify(sqlite_utils.Database(conn))
    except sqlite3.DatabaseError as exc:
        raise CliError(f"{path}: не удалось прочитать журнал аудита: {exc}") from None
    finally:
        conn.close()
    if report.ok:
        print(f"Журнал аудита цел: {report.rows} записей, цепочка хешей не нарушена.")
        return EXIT_OK
    assert report.problem is not None
    print(
        f"Журнал аудита НАРУШЕН: запись {report.problem.row_id}: {report.problem.reason} "
        f"(проверено до неё записей: {report.rows})."
    )
    return EXIT_FAIL


# -- portal ----------------------------------------------------------------------------------------
def _portal_db(args: argparse.Namespace) -> Database:
    from server.db import Database

    settings = _settings(args)
    if not settings.storage.database_path.exists():
        raise CliError(f"база данных не найдена: {settings.storage.database_path}")
    return Database(settings.storage.database_path, busy_timeout_ms=settings.storage.busy_timeout_ms)


def cmd_portal_status(args: argparse.Namespace) -> int:
    from server.portal import store as portal_store

    db = _portal_db(args)
    with db:
        portals = db.read_sync(portal_store.every)
    if not portals:
        print("Портал не подключён: установите локальное приложение в Битрикс24.")
        return EXIT_OK
    for p in portals:
        state = "подключён" if p.enabled and p.has_tokens else "отключён"
        print(f"{p.domain}  member_id={p.member_id}  {state}  установлен {p.installed_at}")
    return EXIT_OK


def cmd_portal_disable(args: argparse.Namespace) -> int:
    """The admin's uninstall: forget the portal's tokens and stop serving it; documents stay."""
    from server.portal import generation, store

    db = _portal_db(args)
    with db:
        portal = db.read_sync(store.active)
        if portal is None:
            raise CliError("нет подключённого портала")
        if args.member_id and args.member_id != portal.member_id:
            raise CliError(f"подключён другой портал: {portal.domain} (member_id={portal.member_id})")
        db.write_sync(lambda d: store.disable(d, portal.member_id, actor="admin:cli", reason="klikdok portal disable"))
    # A running server drops the page sessions of this install at its next request.
    generation.announce(_settings(args).storage.path)
    print(
        f"Портал {portal.domain} отключён: токены удалены, документы и журнал сохранены. "
        "Чтобы подключить снова, переустановите приложение в Битрикс24."
    )
    return EXIT_OK


# -- trust -----------------------------------------------------------------------------------------
def _trust_db(args: argparse.Namespace) -> tuple[Settings, Database]:
    """The configured database, created and migrated if need be: the trust store may be filled before first start."""
    from server.db import Database, migrations

    settings = _settings(args)
    db = Database(settings.storage.database_path, busy_timeout_ms=settings.storage.busy_timeout_ms)
    db.open()
    db.write_sync(migrations.apply, transaction=False)
    return settings, db


def _moment(iso: str) -> str:
    import datetime as dt

    return f"{dt.datetime.fromisoformat(iso):%d.%m.%Y}"


def cmd_trust_import(args: argparse.Namespace) -> int:
    from cades.tsl import TslError
    from server.trust import service

    path = Path(args.file)
    settings, db = _trust_db(args)
    with db:
        try:
            result = service.import_list(db, path, settings, actor="admin:cli")
        except TslError as exc:
            raise CliError(f"перечень аккредитованных УЦ не загружен: {path.name}: {exc}") from None
        except service.ListRefused as exc:
            have = f"версия {exc.current.version} от {_moment(exc.current.issued_at)}"
            if exc.same:
                print(f"Этот перечень уже загружен ({have}); ничего не изменено.")
                return EXIT_OK
            raise CliError(f"перечень {path.name} не новее загруженного ({have}); ничего не изменено") from None
    info = result.info
    print(
        f"Загружен перечень аккредитованных УЦ: версия {info.version} от {_moment(info.issued_at)}; "
        f"УЦ: {info.ca_count} (действующих: {result.accredited_cas}), сертификатов: {info.certificate_count}."
    )
    if result.previous is not None:
        print(f"Заменён перечень версии {result.previous.version} от {_moment(result.previous.issued_at)}.")
    if info.signed:
        print("В файле есть подпись XMLDSig; она пока не проверяется: берите файл только с e-trust.gosuslugi.ru.")
    for why in result.skipped[:20]:
        print(f"Пропущен {why}")
    if len(result.skipped) > 20:
        print(f"… и ещё пропущено: {len(result.skipped) - 20}")
    print("Работающий сервер начнёт проверять подписи по новому перечню со следующей подписи; перезапуск не нужен.")
    return EXIT_OK


def cmd_trust_list(args: argparse.Namespace) -> int:
    from server.db import read_snapshot
    from server.trust import service, store

    settings = _settings(args)
    info, certs = read_snapshot(
        settings.storage.database_path,
        lambda d: (store.current_list(d), store.certificates(d, origin=None if args.all else "admin")),
    ) or (None, [])
    if info is None:
        print("Перечень аккредитованных УЦ не загружен (klikdok trust import FILE).")
    else:
        print(
            f"Перечень аккредитованных УЦ: версия {info.version} от {_moment(info.issued_at)} "
            f"({service.list_age_days(info)} дн. назад), УЦ: {info.ca_count}, сертификатов: {info.certificate_count}, "
            f"загружен {_moment(info.imported_at)} из {info.file_name or '?'}."
        )
    own = [c for c in certs if c.origin == "admin"]
    print(f"Собственные корневые сертификаты: {len(own) or 'нет'}")
    for c in certs:
        where = "собственный" if c.origin == "admin" else f"{c.ca_name} ({c.ca_status or 'статус неизвестен'})"
        print(f"  {c.thumbprint}  до {_moment(c.not_after)}  {c.subject}  [{where}]")
    return EXIT_OK


def cmd_trust_add(args: argparse.Namespace) -> int:
    from server.trust import service

    _, db = _trust_db(args)
    with db:
        try:
            added = service.add_roots(db, Path(args.file), actor="admin:cli")
        except service.TrustRefused as exc:
            raise CliError(str(exc)) from None
    for thumbprint, subject, fresh in added:
        print(f"{'Добавлен' if fresh else 'Уже был'} корневой сертификат {thumbprint}  {subject}")
    return EXIT_OK


def cmd_trust_remove(args: argparse.Namespace) -> int:
    from server.trust import service

    _, db = _trust_db(args)
    with db:
        try:
            service.remove_root(db, args.thumbprint, actor="admin:cli")
        except service.TrustRefused as exc:
            raise CliError(str(exc)) from None
    print(f"Корневой сертификат {service.normalise_thumbprint(args.thumbprint)} удалён из хранилища.")
    return EXIT_OK


def cmd_trust_refresh(args: argparse.Namespace) -> int:
    from server.trust import store

    settings, db = _trust_db(args)
    with db:
        db.write_sync(lambda d: store.request_refresh(d, actor="admin:cli"))
    if not settings.trust.network:
        print("Загрузка CRL из сети выключена ([trust] fetch = false): обновлять нечего; файлы [trust] crls сервер")
        print("перечитывает сам, когда они меняются.")
        return EXIT_OK
    print(
        "Сервер заново загрузит все закэшированные списки отзыва (CRL) в течение "
        f"{settings.trust.refresh_poll_seconds:g} с; результат покажет `klikdok doctor`."
    )
    return EXIT_OK


def _store_anchors(args: argparse.Namespace) -> tuple[x509.Certificate, ...]:
    """``klikdok verify`` trusts what the server trusts: the store's anchors from the configured database."""
    from server.trust import service

    return service.anchors_from_settings(_settings(args))


def _verify_pdf(
    results: Sequence[tuple[str, VerificationResult]], document: str | None, poas: Sequence[Mapping[int, Any]] = ()
) -> bytes:
    """``klikdok verify --format pdf``: the verification protocol (server.paper) of what was verified. A detached
    document is one file with every signature file's results; attached signatures are a file each (the content is
    inside). ``poas`` (``--poa``): per signature file, the МЧД verdict (cades.poa.PoaVerdict) of a signature by its
    index, printed under it. Moments in UTC, as the command's text report shows them."""
    import datetime as dt

    from cades.verdicts import ru_time
    from server.paper import PaperError
    from server.paper.protocol import Protocol, ProtocolFile, ProtocolNote
    from server.paper.protocol_pdf import render_protocol_pdf

    def digest(result: VerificationResult) -> str | None:
        return result.content_digest_streebog256

    def notes(result: VerificationResult, verdicts: Mapping[int, Any]) -> list[ProtocolNote]:
        """The МЧД rows of a signature file (the protocol shows a file's notes under each of its signatures, so a
        CMS with several signers names whose МЧД a row is)."""
        from cades.poa.report import poa_rows

        several = len(result.signatures) > 1
        return [
            ProtocolNote(label=(f"Подписант {index + 1}: {label}" if several else label), lines=list(lines))
            for index, verdict in sorted(verdicts.items())
            for label, lines in poa_rows(verdict)
        ]

    per_file = [notes(r, v) for (_, r), v in zip(results, poas, strict=True)] if poas else [[] for _ in results]
    if document is not None:
        first = results[0][1]
        files = [
            ProtocolFile(
                name=Path(document).name,
                streebog256=digest(first),
                size=first.content_size,
                results=[r for _, r in results],
                notes=per_file,
            )
        ]
    else:
        files = [
            ProtocolFile(name=Path(p).name, streebog256=digest(r), size=r.content_size, results=[r], notes=[n])
            for (p, r), n in zip(results, per_file, strict=True)
        ]
    protocol = Protocol(title=", ".join(f.name for f in files), files=files, generated=dt.datetime.now(dt.UTC))
    try:
        return render_protocol_pdf(protocol, time_text=ru_time)
    except PaperError as exc:
        raise ValueError(str(exc)) from exc


# -- doctor ----------------------------------------------------------------------------------------
def cmd_doctor(args: argparse.Namespace) -> int:
    from server.config import find_config
    from server.doctor import run_checks

    path = find_config(args.config)
    results = run_checks(path)
    width = max(len(r.name) for r in results)
    for r in results:
        line = f"{r.level:<4}  {r.name:<{width}}  {r.message}"
        if r.hint and r.level != "OK":
            line += f"\n      {'':<{width}}  → {r.hint}"
        print(line)
    failed = sum(r.level == "FAIL" for r in results)
    warned = sum(r.level == "WARN" for r in results)
    print(f"\nИтог: ошибок {failed}, предупреждений {warned}.")
    return EXIT_FAIL if failed else EXIT_OK


# -- parser ----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="klikdok",
        description="KlikDok — юридически значимый ЭДО с клиентами в коробочном Битрикс24 "
        "(server, storage and signature verification).",
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    parser.add_argument(
        "--config", metavar="PATH", help="configuration file (default: $KLIKDOK_CONFIG, then /etc/klikdok/klikdok.toml)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument(
            "--config",
            metavar="PATH",
            default=argparse.SUPPRESS,
            help="configuration file (overrides the global --config)",
        )
        p.set_defaults(func=func)
        return p

    p = add("serve", cmd_serve, "Run the HTTP server (applies pending migrations first).")
    p.add_argument("--listen", metavar="HOST:PORT", help="override server.listen")
    p = add("migrate", cmd_migrate, "Apply pending database migrations.")
    p.add_argument("--list", action="store_true", help="only list migrations and whether each is applied")
    add("doctor", cmd_doctor, "Check configuration, database, directories and the GOST backend.")
    p = add("backup", cmd_backup, "Make a consistent online backup of the SQLite database to DEST.")
    p.add_argument("dest", metavar="DEST", help="backup file (or directory) to write")
    p.add_argument("--force", action="store_true", help="overwrite DEST if it exists")
    p = add(
        "stamp",
        cmd_stamp,
        "Verify DOCUMENT's signatures as `verify` does and write its stamped copy (PDF: the marks and a QR code "
        "added as an incremental update) or its signing sheet (other files) to OUT.pdf. Exit codes as verify's: "
        "0 valid, 1 invalid, 3 not confirmed (the copy is written and says so), 2 unusable input (nothing written).",
    )
    p.add_argument("document", metavar="DOCUMENT", help="the signed file (never changed)")
    p.add_argument("signatures", nargs="+", metavar="SIGNATURE", help="its detached .sig files")
    p.add_argument("-o", "--output", required=True, metavar="OUT.pdf", help="the copy to write (never DOCUMENT)")
    p.add_argument("--url", help="address in the QR code (default: [server] public_url + /verify)")
    from cades.cli import add_verification_options

    add_verification_options(p)
    p.add_argument("--no-store", action="store_true", help="do not trust the server's trust store (klikdok trust)")
    p.set_defaults(store_anchors=_store_anchors)

    portal_p = sub.add_parser(
        "portal", help="The connected Bitrix24 portal.", description="The connected Bitrix24 portal."
    )
    portal_sub = portal_p.add_subparsers(dest="portal_command", metavar="ACTION")
    portal_sub.required = True
    for name, func, help_ in (
        ("status", cmd_portal_status, "Show the connected portal."),
        (
            "disable",
            cmd_portal_disable,
            "Disconnect the portal (as uninstalling the app does): tokens are deleted, documents stay.",
        ),
    ):
        p = portal_sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="configuration file")
        p.set_defaults(func=func)
        if name == "disable":
            p.add_argument("--member-id", help="refuse unless this is the connected portal's member_id")

    audit_p = sub.add_parser("audit", help="Audit-log tools.", description="Audit-log tools.")
    audit_sub = audit_p.add_subparsers(dest="audit_command", metavar="ACTION")
    audit_sub.required = True
    p = audit_sub.add_parser(
        "verify",
        help="Check the audit log's hash chain; names the first broken row.",
        description="Check the audit log's hash chain; names the first broken row.",
    )
    p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="configuration file")
    p.add_argument("--database", metavar="PATH", help="check this database file instead of the configured one")
    p.set_defaults(func=cmd_audit_verify)

    trust_p = sub.add_parser(
        "trust",
        help="The trust store: the list of accredited CAs and own roots.",
        description="The trust store: the list of accredited CAs and own roots.",
    )
    trust_sub = trust_p.add_subparsers(dest="trust_command", metavar="ACTION")
    trust_sub.required = True
    for name, func, help_ in (
        (
            "import",
            cmd_trust_import,
            "Import the Минцифры list of accredited CAs (XML) from FILE; an older list never replaces a newer one.",
        ),
        (
            "list",
            cmd_trust_list,
            "Show the imported list's version and age and the own roots (--all: every certificate).",
        ),
        ("add", cmd_trust_add, "Add the CA certificate(s) in FILE (PEM or DER) as own trusted roots."),
        ("remove", cmd_trust_remove, "Remove an own root by its SHA-1 THUMBPRINT."),
        ("refresh", cmd_trust_refresh, "Ask the running server to refetch every cached CRL now."),
    ):
        p = trust_sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="configuration file")
        p.set_defaults(func=func)
        if name in ("import", "add"):
            p.add_argument("file", metavar="FILE")
        elif name == "remove":
            p.add_argument("thumbprint", metavar="THUMBPRINT")
        elif name == "list":
            p.add_argument("--all", action="store_true", help="also every certificate of the accredited CAs")

    cades_cli: ModuleType | None
    try:
        from cades import cli as cades_cli
    except ImportError:
        cades_cli = None
    if cades_cli is not None and hasattr(cades_cli, "register"):
        cades_cli.register(sub, store_anchors=_store_anchors, render_pdf=_verify_pdf)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, CliError) as exc:
        print(f"klikdok: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `klikdok hash * | head`: the reader left; say nothing more, as coreutils do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        print(f"klikdok: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
