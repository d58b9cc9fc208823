"""``klikdok doctor``: the on-call checklist, one line per check with a hint when it is not OK.

Checks never write: the database is opened read-only, directories are probed with ``os.access``.
Later features add their checks here (portal, SMTP, trust store, agents).
Each check imports its subsystem inside the function: the CLI loads this module for every `klikdok doctor`,
and a check for an unconfigured subsystem should not pay for (or fail on) importing it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

import msgspec
import sqlite_utils

from server.config import ConfigError, Settings, load_settings
from server.db import read_snapshot

T = TypeVar("T")

Level = Literal["OK", "WARN", "FAIL"]


class Check(msgspec.Struct, frozen=True):
    name: str
    level: Level
    message: str
    hint: str = ""


def check_config(path: Path | None) -> tuple[Check, Settings | None]:
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        return Check("config", "FAIL", str(exc), "исправьте ключ в файле и запустите doctor снова"), None
    where = str(path) if path else "встроенные значения по умолчанию"
    return Check("config", "OK", f"конфигурация прочитана: {where}"), settings


def check_data_dir(settings: Settings) -> Check:
    d = settings.storage.path
    if d.exists():
        if os.access(d, os.W_OK | os.X_OK):
            return Check("data_dir", "OK", f"{d} доступен для записи")
        return Check(
            "data_dir",
            "FAIL",
            f"{d} недоступен для записи",
            "выдайте права пользователю, от которого работает сервер (chown klikdok)",
        )
    parent = next((p for p in d.parents if p.exists()), Path("/"))
    if os.access(parent, os.W_OK | os.X_OK):
        return Check("data_dir", "WARN", f"{d} ещё не создан; будет создан при запуске")
    return Check("data_dir", "FAIL", f"{d} не существует и не может быть создан", f"создайте каталог: mkdir -p {d}")


def check_disk_space(settings: Settings) -> Check:
    d = settings.storage.path
    existing = d if d.exists() else next((p for p in d.parents if p.exists()), Path("/"))
    free = shutil.disk_usage(existing).free
    mb = free // (1024 * 1024)
    if mb < 200:
        return Check("disk_space", "FAIL", f"свободно {mb} МБ", "освободите место на диске")
    if mb < 2048:
        return Check("disk_space", "WARN", f"свободно {mb} МБ", "меньше 2 ГБ — стоит освободить место")
    return Check("disk_space", "OK", f"свободно {mb} МБ")


def check_database(settings: Settings) -> Check:
    from server.db import audit, checks, migrations

    path = settings.storage.database_path
    if not path.exists():
        return Check("database", "WARN", f"{path} ещё не создана", "выполните `klikdok migrate` или запустите сервер")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            db = sqlite_utils.Database(conn)
            ok, mode = checks.quick_check(conn)
            pending = migrations.pending(db)
            report = audit.verify(db) if not pending else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return Check("database", "FAIL", f"{path}: {exc}", "восстановите базу из резервной копии")
    if ok != "ok":
        return Check("database", "FAIL", f"проверка целостности: {ok}", "восстановите базу из резервной копии")
    if pending:
        return Check("database", "WARN", f"не применены миграции: {', '.join(pending)}", "выполните `klikdok migrate`")
    if report is not None and not report.ok and report.problem is not None:
        return Check(
            "database",
            "FAIL",
            f"журнал аудита нарушен в записи {report.problem.row_id}: {report.problem.reason}",
            "выполните `klikdok audit verify` и сообщите службе безопасности",
        )
    return Check("database", "OK", f"{path}: целостность в порядке, режим {mode}, схема актуальна")


def check_gost() -> Check:
    """Hashing and signature backends: fast (OpenSSL + gost engine/provider) or the pure-Python fallback."""
    try:
        from cades import gost, hashing

        hashing.self_test()
        info = hashing.backend()
        ec_name, ec_detail = gost.backend_name(), gost.backend_detail()
    except Exception as exc:  # any failure here is a FAIL line, not a crash
        return Check("gost", "FAIL", f"самопроверка ГОСТ не прошла: {exc}", "переустановите libengine-gost-openssl")
    message = f"хеш: {info.name} ({info.detail}); подпись: {ec_name} ({ec_detail})"
    if info.name == "openssl" and ec_name == "openssl":
        return Check("gost", "OK", message)
    return Check(
        "gost",
        "WARN",
        message + " — работает медленная реализация на Python",
        "установите пакет libengine-gost-openssl для быстрой проверки подписей",
    )


def check_pdf_font() -> Check:
    """The paper copies and protocols need a Cyrillic font; without one they are refused (and left out of the ZIP),
    which an admin should learn here rather than from a counterparty."""
    from server.paper import PaperError
    from server.paper.fonts import font_file

    try:
        return Check("pdf_font", "OK", f"шрифт для копий и протоколов PDF: {font_file()}")
    except PaperError as exc:
        return Check("pdf_font", "FAIL", str(exc), "sudo apt-get install fonts-dejavu-core fontconfig")


def check_portal_url(settings: Settings) -> Check:
    """`[portal] url`: without it the server refuses every install (issue 11), so say how to set it."""
    from server.portal.service import PORTAL_URL_HINT

    portal = settings.portal
    if portal.url:
        return Check(
            "portal_url", "OK", f"портал KlikDok: {portal.portal_origin}; установка из других адресов отклоняется"
        )
    if portal.mode == "webhook":
        return Check("portal_url", "OK", f"портал KlikDok: {portal.portal_origin} (адрес входящего вебхука)")
    return Check(
        "portal_url",
        "WARN",
        "адрес портала не задан ([portal] url): установка приложения будет отклонена",
        PORTAL_URL_HINT,
    )


async def _portal_check(settings: Settings) -> Check:
    from server.bitrix24 import Bitrix24Error, TransportError, UserDirectory
    from server.db import Database
    from server.portal.service import PortalService

    path = settings.storage.database_path
    if settings.portal.mode != "webhook" and not path.exists():
        return Check(
            "portal",
            "WARN",
            "портал не подключён (базы ещё нет)",
            "запустите сервер и установите локальное приложение в Битрикс24",
        )
    db = Database(path, busy_timeout_ms=settings.storage.busy_timeout_ms)
    db.open()
    # On-call wants an answer in seconds, not the server's patient retries.
    quick = msgspec.structs.replace(
        settings.portal, max_retries=1, timeout_seconds=min(settings.portal.timeout_seconds, 5)
    )
    service = PortalService(quick, db, settings.server.public_url, data_dir=settings.storage.path)
    try:
        client = await service.client()
        if client is None:
            return Check(
                "portal",
                "WARN",
                "портал не подключён: приложение ещё не установлено",
                f"зарегистрируйте локальное приложение с адресом установки {settings.server.public_url}/b24/install",
            )
        try:
            user = await UserDirectory(client).current()
        except TransportError as exc:
            return Check(
                "portal",
                "FAIL",
                f"портал {client.portal_base or '?'} недоступен ({exc.code})",
                "проверьте сеть и DNS между сервером KlikDok и порталом",
            )
        except Bitrix24Error as exc:
            hint = (
                "переустановите приложение в Битрикс24, чтобы получить новые токены"
                if settings.portal.mode != "webhook"
                else "проверьте адрес входящего вебхука и его права"
            )
            return Check("portal", "FAIL", f"портал отклонил авторизацию: {exc.code}", hint)
        how = "вебхук" if settings.portal.mode == "webhook" else "токены приложения"
        return Check(
            "portal",
            "OK",
            f"портал {client.portal_base} отвечает, {how} действуют (пользователь {user.full_name or user.id})",
        )
    finally:
        await service.aclose()
        db.close()


def check_portal(settings: Settings) -> Check:
    import asyncio

    from server.db import migrations

    try:
        if settings.portal.mode != "webhook" and settings.storage.database_path.exists():
            conn = sqlite3.connect(f"file:{settings.storage.database_path}?mode=ro", uri=True)
            try:
                if "0002_portals" in migrations.pending(sqlite_utils.Database(conn)):
                    return Check(
                        "portal", "WARN", "портал не подключён (схема базы не обновлена)", "выполните `klikdok migrate`"
                    )
            finally:
                conn.close()
        return asyncio.run(_portal_check(settings))
    except Exception as exc:  # doctor reports, it does not crash
        return Check("portal", "FAIL", f"проверка портала не удалась: {type(exc).__name__}: {exc}")


def check_smtp(settings: Settings) -> Check:
    from server.mail.smtp import MailFailure, SmtpSender
    from server.text import email_address, one_line

    smtp = settings.smtp
    where = f"{smtp.host}:{smtp.port}"
    if email_address(smtp.sender, local_domain=True) is None:
        # Every letter would be refused as unbuildable (and its link marked failed): worth stopping for.
        return Check(
            "smtp",
            "FAIL",
            f"адрес отправителя [smtp] sender «{one_line(smtp.sender, 80)}» некорректен",
            "укажите в [smtp] sender обычный адрес вида edo@example.ru (латиницей)",
        )
    try:
        how = SmtpSender(msgspec.structs.replace(smtp, timeout_seconds=min(smtp.timeout_seconds, 5))).probe()
    except MailFailure as exc:
        # Mail waits in the outbox until the relay answers, so this is a warning, not a failure.
        return Check(
            "smtp",
            "WARN",
            f"{where}: {exc}",
            "проверьте [smtp] в конфигурации: письма контрагентам ждут в очереди, пока сервер недоступен",
        )
    return Check("smtp", "OK", f"почтовый сервер {where} отвечает ({how})")


def check_trust(settings: Settings) -> Check:
    """Trust anchors loaded (``[trust]`` files, own roots, the accredited CAs list) and the policy in force."""
    import datetime as dt

    from cades.asn1 import MalformedInput
    from cades.validation import ValidationContext

    trust = settings.trust
    try:
        ctx = ValidationContext.from_paths(trust.roots, intermediates=trust.intermediates, crls=trust.crls)
    except (OSError, MalformedInput, ValueError) as exc:
        return Check(
            "trust",
            "FAIL",
            f"хранилище доверенных сертификатов не читается: {exc}",
            "проверьте пути в [trust] roots/intermediates/crls",
        )
    from server.trust import store

    stored, own = read_snapshot(
        settings.storage.database_path,
        lambda d: (len(store.anchor_ders(d)), len(store.certificates(d, origin="admin"))),
    ) or (0, 0)
    listed = stored - own
    policy = (
        "политика отзыва: require (подпись с непроверенным статусом отзыва не принимается)"
        if trust.revocation == "require"
        else "политика отзыва: warn (подпись с непроверенным статусом отзыва принимается с предупреждением)"
    )
    network = "CRL и OCSP из сети: " + ("загружаются" if trust.network else "выключено ([trust] fetch = false)")
    if trust.grace_minutes:
        policy += f", отсрочка {trust.grace_minutes} мин."
    if not ctx.trust_roots and not stored:
        return Check(
            "trust",
            "WARN",
            f"доверенных корневых сертификатов нет; {policy}; {network}",
            "загрузите перечень аккредитованных УЦ (`klikdok trust import FILE`) или добавьте свой корень "
            "(`klikdok trust add FILE`): без них ни одна подпись не получит статус «действительна»",
        )
    now = dt.datetime.now(dt.UTC)
    problems = []
    for cert in ctx.trust_roots:
        not_after = cert["tbs_certificate"]["validity"]["not_after"].native
        if not_after < now:
            problems.append(f"корневой сертификат «{cert.subject.human_friendly}» истёк {not_after:%d.%m.%Y}")
    for crl in ctx.crls:
        next_update = crl["tbs_cert_list"]["next_update"].native
        if next_update is not None and next_update < now:
            problems.append(f"CRL «{crl['tbs_cert_list']['issuer'].human_friendly}» устарел с {next_update:%d.%m.%Y}")
    summary = (
        f"корневых из [trust] roots: {len(ctx.trust_roots)}, собственных (klikdok trust add): {own}, "
        f"сертификатов аккредитованных УЦ из перечня: {listed}; промежуточных: {len(ctx.intermediates)}, "
        f"файлов CRL: {len(ctx.crls)}; {policy}; {network}"
    )
    if problems:
        return Check(
            "trust",
            "WARN",
            f"{summary}; " + "; ".join(problems[:3]),
            "обновите сертификаты и файлы списков отзыва в [trust] (или включите [trust] fetch)",
        )
    return Check("trust", "OK", summary)


def check_crl_cache(settings: Settings) -> Check:
    """The server's CRL cache, per CA: fresh, stale (past nextUpdate) or never fetched, with the last error."""
    import datetime as dt

    from server.trust.revocation_cache import cache_directory, read_status

    if not settings.trust.network:
        return Check("crl_cache", "OK", "загрузка CRL из сети выключена ([trust] fetch = false)")
    entries, _ = read_status(cache_directory(settings.storage.path))
    crls = [e for e in entries if e.kind == "crl"]
    if not crls:
        return Check("crl_cache", "OK", "CRL ещё не загружались (загружаются при первой проверке подписи)")
    now = dt.datetime.now(dt.UTC)
    fresh, stale, never = [], [], []
    for e in sorted(crls, key=lambda e: e.issuer or e.url):
        who = e.issuer or e.url
        error = f" ({e.last_error})" if e.last_error else ""
        if not e.has_bytes:
            never.append(f"{e.url}: ни разу не загружен{error}")
        elif e.next_update is not None and e.next_update < now:
            stale.append(f"{who}: устарел с {e.next_update:%d.%m.%Y %H:%M} UTC{error}")
        else:
            until = f"до {e.next_update:%d.%m.%Y %H:%M} UTC" if e.next_update else "без срока"
            fresh.append(f"{who}: {until}, загружен {e.fetched_at:%d.%m.%Y %H:%M} UTC{error}")
    summary = f"CRL в кэше: свежих {len(fresh)}, устаревших {len(stale)}, ни разу не загруженных {len(never)}"
    if stale or never:
        return Check(
            "crl_cache",
            "WARN",
            f"{summary}; " + "; ".join((stale + never)[:5]),
            "проверьте доступ сервера к адресам CRL (прокси, DNS, файрвол) и выполните `klikdok trust refresh`; "
            "без интернета положите свежие CRL в [trust] crls",
        )
    return Check("crl_cache", "OK", f"{summary}; " + "; ".join(fresh[:5]))


def check_ocsp(settings: Settings) -> Check:
    """Each OCSP responder validation has asked: does it answer now (a quick probe bounded by the timeout)?"""
    import httpx

    from cades import ocsp
    from server.trust.revocation_cache import cache_directory, read_status

    if not settings.trust.network:
        return Check("ocsp", "OK", "запросы OCSP выключены ([trust] fetch = false)")
    _, responders = read_status(cache_directory(settings.storage.path))
    if not responders:
        return Check("ocsp", "OK", "службы OCSP ещё не запрашивались")
    probe = ocsp.probe_request()
    timeout = min(settings.trust.fetch_timeout_seconds, 5.0)
    down = []
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for responder in responders[:10]:
            try:
                client.post(responder.url, content=probe, headers={"Content-Type": "application/ocsp-request"})
            except httpx.HTTPError as exc:
                down.append(f"{responder.url} ({type(exc).__name__})")
    reachable = min(len(responders), 10) - len(down)
    summary = f"служб OCSP: {len(responders)}, отвечают: {reachable}"
    if down:
        return Check(
            "ocsp",
            "WARN",
            f"{summary}; не отвечают: " + "; ".join(down[:5]),
            "проверьте доступ сервера к адресам OCSP; без ответа статус отзыва берётся из CRL",
        )
    return Check("ocsp", "OK", summary)


def check_accredited_list(settings: Settings) -> Check:
    """The imported list of accredited CAs: present, and not older than ``[trust] tsl_max_age_days``."""
    from server.trust import service, store

    info, own = read_snapshot(
        settings.storage.database_path,
        lambda d: (store.current_list(d), len(store.certificates(d, origin="admin"))),
    ) or (None, 0)
    roots = f"собственных корневых: {own}"
    if info is None:
        return Check(
            "accredited",
            "WARN",
            f"перечень аккредитованных УЦ не загружен; {roots}",
            "скачайте перечень (https://e-trust.gosuslugi.ru/app/scc/portal/api/v1/portal/ca/getxml) и выполните "
            "`klikdok trust import FILE`",
        )
    age = service.list_age_days(info)
    summary = (
        f"перечень аккредитованных УЦ: версия {info.version}, {age} дн. назад, УЦ: {info.ca_count}, "
        f"сертификатов: {info.certificate_count}; {roots}"
    )
    if age > settings.trust.tsl_max_age_days:
        return Check(
            "accredited",
            "WARN",
            f"{summary}; перечень старше {settings.trust.tsl_max_age_days} дн.",
            "скачайте свежий перечень и выполните `klikdok trust import FILE`",
        )
    return Check("accredited", "OK", summary)


def check_signer_certificates(settings: Settings) -> Check:
    import datetime as dt

    from server.workflow import certificate_store

    rows = read_snapshot(settings.storage.database_path, certificate_store.active_expiries)
    if not rows:
        return Check("signers", "OK", "сертификаты подписантов ещё не зарегистрированы")
    now = dt.datetime.now(dt.UTC)
    expired, soon = [], []
    for user_id, subject, not_after in rows:
        when = dt.datetime.fromisoformat(not_after)
        when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        if when < now:
            expired.append(f"пользователь {user_id}: {subject} (истёк {when:%d.%m.%Y})")
        elif when < now + dt.timedelta(days=30):
            soon.append(f"пользователь {user_id}: {subject} (до {when:%d.%m.%Y})")
    if expired or soon:
        parts = ([f"истекли: {'; '.join(expired[:3])}"] if expired else []) + (
            [f"истекают в ближайшие 30 дней: {'; '.join(soon[:3])}"] if soon else []
        )
        return Check(
            "signers", "WARN", ". ".join(parts), "подписантам нужно выпустить и зарегистрировать новые сертификаты"
        )
    return Check("signers", "OK", f"действующих сертификатов подписантов: {len(rows)}, ни один не истекает в 30 дней")


def check_agents(settings: Settings) -> Check:
    import datetime as dt

    from server.agents import store as agent_store

    rows = read_snapshot(settings.storage.database_path, agent_store.active_last_seen)
    if not rows:
        return Check("agents", "OK", "агенты подписи ещё не подключены")
    fresh = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=3 * settings.agents.heartbeat_seconds)
    online = 0
    for seen in rows:
        if seen:
            when = dt.datetime.fromisoformat(seen)
            online += (when if when.tzinfo else when.replace(tzinfo=dt.UTC)) >= fresh
    return Check("agents", "OK", f"агентов подписи: {len(rows)}, на связи сейчас: {online}")


def run_checks(path: Path | None) -> list[Check]:
    import logging

    logging.getLogger("klikdok.bitrix24").setLevel(logging.ERROR)  # the check's line says it all
    config_check, settings = check_config(path)
    results = [config_check]
    if settings is not None:
        steps: list[Callable[[Settings], Check]] = [
            check_data_dir,
            check_disk_space,
            check_database,
            check_portal_url,
            check_portal,
            check_smtp,
            check_trust,
            check_accredited_list,
            check_crl_cache,
            check_ocsp,
            check_signer_certificates,
            check_agents,
        ]
        results.extend(step(settings) for step in steps)
    results.append(check_gost())
    results.append(check_pdf_font())
    return results
