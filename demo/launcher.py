"""``make run`` (``python -m demo.launcher``): the server, and the Bitrix24 portal emulator when no real portal is
configured.

With a webhook configured, a portal named in `[portal] url`, or a real portal installed, this is just
``klikdok serve``. Otherwise it starts the emulator on 127.0.0.1:8090 with fixed demo credentials, starts the
server with the emulator as its portal (`[portal] url`, and the emulator's OAuth endpoint with the demo
application's client_id/client_secret, so the install is proven and tokens refresh like on a real box),
installs the app the way the admin's browser would (the install page POST), and prints where to look.

In emulator mode it also makes the rest of the story work with no configuration: a demo GOST PKI under
``<data>/demo/pki`` (made on the first start, CRLs issued at every start) trusted by the server through
``KLIKDOK_TRUST_*``, the demo signers' certificates registered to their users (:mod:`demo.enrol`), a mail
catcher the server sends to (``KLIKDOK_SMTP_*``) with its inbox pages at ``/mail/`` of the emulator, and an
auditor among the seed's users. Ports: ``KLIKDOK_DEMO_PORTAL_PORT`` (8090), ``KLIKDOK_DEMO_SMTP_PORT`` (free),
the server's from its configuration (``KLIKDOK_SERVER_LISTEN``/``KLIKDOK_SERVER_PUBLIC_URL``).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

from demo import bitrix24_seed, demo_people, mail_pages
from demo.demo_state import DemoState
from demo.emulator_visibility import SMART_TYPE_ID
from demo.enrol import enrol_signers
from demo.mail_catcher import MailCatcher, MailStore
from demo.pki import DemoPki, PkiError
from demo.portal_emulator import PortalEmulator
from demo.portal_state import EmulatorConfig
from server.config import ConfigError, Settings, find_config, load_settings

DEMO_HOST = "127.0.0.1"
DEMO_PORT = int(os.environ.get("KLIKDOK_DEMO_PORTAL_PORT", "8090"))
# The mail catcher's SMTP port; 0 takes a free one (the server is told which).
DEMO_SMTP_PORT = int(os.environ.get("KLIKDOK_DEMO_SMTP_PORT", "0"))
DEMO_CONFIG = dict(
    member_id="klikdok-demo-portal",
    application_token="demo-application-token",
    client_secret="demo-client-secret",
    webhook_code="demo",
)


def installed_domain(db_path: str) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT domain FROM portals WHERE enabled = 1 ORDER BY installed_at DESC LIMIT 1").fetchone()
        return row[0] if row else None
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def serve_only() -> None:
    os.execv(sys.executable, [sys.executable, "-m", "server.cli", "serve"])


def _command(*args: str) -> str:
    """How a person in the checkout types ``python -m ...`` with this interpreter (the venv's)."""
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(Path.cwd()))
    except ValueError:
        shown = str(exe)
    return " ".join([shown, *args])


def demo_env(settings: Settings, pki: DemoPki, catcher: MailCatcher | None) -> dict[str, str]:
    """What the demo adds to the server's configuration: the demo CA trusted (its CRLs as the revocation
    evidence), mail to the catcher, an auditor among the seed's users. Keys the configuration already sets
    are kept (own roots are added to, not replaced)."""
    trust = settings.trust
    env = {
        "KLIKDOK_TRUST_ROOTS": _toml_list([*trust.roots, str(pki.root_cert)]),
        "KLIKDOK_TRUST_INTERMEDIATES": _toml_list([*trust.intermediates, str(pki.ca_cert)]),
        "KLIKDOK_TRUST_CRLS": _toml_list([*trust.crls, str(pki.crl_dir)]),
    }
    if catcher is not None:
        env.update(catcher.smtp_env())
        if settings.smtp.sender == "klikdok@localhost":
            env["KLIKDOK_SMTP_SENDER"] = "edo@vector.example"
    if not settings.policy.auditor_user_ids and not settings.policy.auditor_group_id:
        env["KLIKDOK_POLICY_AUDITOR_USER_IDS"] = f"[{demo_people.role_user('auditor')}]"
    if not settings.crm.smart_processes:  # the emulator's smart process gets the tab, as an admin would enable it
        env["KLIKDOK_CRM_SMART_PROCESSES"] = f"[{SMART_TYPE_ID}]"
    return env


def _toml_list(values: list[str]) -> str:
    """A TOML array of strings: the config loader reads a list from the environment as a TOML value."""
    return "[" + ", ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "]"


def banner(base: str, portal: str, pki: DemoPki, installed: str, catcher: MailCatcher | None) -> str:
    """The one message a person reads after ``make run``: where to start, who to be, what to run."""
    users = {int(u["ID"]): u for u in bitrix24_seed.users()}
    card = f"{portal}/crm/deal/details/{demo_people.DEAL_ID}/"
    app = f"{portal}/marketplace/app/"
    inbox = f"{portal}/mail/to/{demo_people.counterparty_email()}"
    signers = ", ".join(demo_people.SIGNERS)
    lines = [
        "=" * 78,
        "KlikDok: демо-стенд (эмулятор Битрикс24, демо-УЦ с ключами, почтовый ящик)",
        f"Установка приложения: {installed}",
        "",
        "С чего начать: менеджер загружает документ во вкладке «ЭДО» сделки и отправляет его на подпись",
        "директору, затем главному бухгалтеру.",
        f"Карточка сделки с вкладкой «ЭДО»: {card}?user={demo_people.role_user('manager')}",
        "",
        "Войти как (?user=N в адресе; подписанты, отдел и аудит — на странице приложения):",
    ]
    for role, label, uid in demo_people.ROLES:
        u = users[uid]
        who = f"{u['LAST_NAME']} {u['NAME']}"
        lines.append(f"  {label:<34} {who:<17} {card if role == 'manager' else app}?user={uid}")
    lines += [
        "",
        "Почта: все письма KlikDok, по ящику на адрес"
        + ("" if catcher is not None else " (почта сейчас уходит на сервер из [smtp])"),
        f"  {portal}/mail/",
        f"  ящик контрагента: {inbox}",
        "",
        f"Агент подписи для подписанта ({signers}): сам получает код сопряжения, подключается",
        "и подписывает демо-ключом; после этого на странице «На подпись» работает кнопка «Подписать»:",
        f"  {_command('-m demo.agent director')}",
        "",
        f"Демо-ключи и сертификаты: {pki.folder / 'people'}  ({signers}, counterparty)",
        "Файл подписи .sig для загрузки на странице (подписанта или контрагента):",
        f"  {_command('-m demo.sign counterparty ДОКУМЕНТ.pdf')}   → ДОКУМЕНТ.pdf.sig",
        "  то же самое в openssl:",
        f"  OPENSSL_CONF={pki.conf} openssl cms -sign -binary -cades -nosmimecap -md md_gost12_256"
        f" -in ДОКУМЕНТ.pdf -signer {pki.cert('counterparty')} -inkey {pki.key('counterparty')}"
        f" -certfile {pki.ca_cert} -outform DER -out ДОКУМЕНТ.pdf.sig",
        "",
        f"KlikDok: {base}/healthz",
        "Остановить: Ctrl+C",
        "=" * 78,
    ]
    return "\n".join(lines)


def main() -> int:
    try:
        settings = load_settings(find_config(None))
    except ConfigError as exc:
        print(f"klikdok: {exc}", file=sys.stderr)
        return 2
    domain = installed_domain(str(settings.storage.database_path))
    demo_url = f"http://{DEMO_HOST}:{DEMO_PORT}"
    if (
        settings.portal.mode == "webhook"
        or (domain and domain != f"{DEMO_HOST}:{DEMO_PORT}")
        or (settings.portal.url and settings.portal.portal_origin != demo_url)
    ):
        serve_only()
    folder = settings.storage.path / "demo"
    pki = DemoPki(folder / "pki")
    try:
        if pki.ensure(demo_people.own_company()):
            print(f"Демо-УЦ и ключи подписантов созданы: {pki.folder}", flush=True)
    except PkiError as exc:
        print(f"klikdok demo: {exc}", file=sys.stderr)
        return 1
    # Mail goes to the catcher unless the configuration names an SMTP server of its own.
    catcher = None
    if (settings.smtp.host, settings.smtp.port) == ("127.0.0.1", 25):
        catcher = MailCatcher(MailStore(folder / "mail"), DEMO_HOST, DEMO_SMTP_PORT).start()
    config = EmulatorConfig(**DEMO_CONFIG)
    emulator = PortalEmulator(config, extra_handlers=mail_pages.route_handlers(MailStore(folder / "mail")))
    server: subprocess.Popen[bytes] | None = None
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        try:
            emulator.start(DEMO_HOST, DEMO_PORT)
        except OSError as exc:
            print(
                f"klikdok demo: порт {DEMO_PORT} занят ({exc.strerror}); задайте другой: "
                "KLIKDOK_DEMO_PORTAL_PORT=8091 make run",
                file=sys.stderr,
            )
            return 1
        emulator.mail_page = "/mail/"
        # People read this terminal: plain text log lines unless KLIKDOK_LOGGING_FORMAT says otherwise.
        env = {"KLIKDOK_LOGGING_FORMAT": "text", **os.environ, "KLIKDOK_PORTAL_URL": demo_url}
        env.update(demo_env(settings, pki, catcher))
        if not settings.portal.client_id:
            env.update(
                KLIKDOK_PORTAL_MODE="oauth",
                KLIKDOK_PORTAL_CLIENT_ID=config.client_id,
                KLIKDOK_PORTAL_CLIENT_SECRET=config.client_secret,
                KLIKDOK_PORTAL_OAUTH_SERVER=demo_url,
            )
        migrated = subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=env, check=False)
        if migrated.returncode != 0:
            return migrated.returncode
        for name in enrol_signers(
            settings.storage.database_path, pki, busy_timeout_ms=settings.storage.busy_timeout_ms
        ):
            print(f"Сертификат подписанта зарегистрирован: {name}", flush=True)
        server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], env=env)
        base = settings.server.public_url.rstrip("/")
        deadline = time.monotonic() + 60
        while not stop and time.monotonic() < deadline:
            if server.poll() is not None:
                return server.returncode
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        if stop:
            return 0
        query = urlencode({"DOMAIN": f"{DEMO_HOST}:{DEMO_PORT}", "PROTOCOL": "0", "LANG": "ru", "APP_SID": "demo"})
        answer = httpx.post(f"{base}/b24/install?{query}", data=emulator.state.placement_form(1, "DEFAULT"), timeout=60)
        installed = "выполнена" if answer.status_code == 200 else f"не удалась (HTTP {answer.status_code})"
        emulator.state.app_handler = f"{base}/b24/app"  # what the admin registered as the app's handler
        DemoState(server=base, portal=emulator.base_url, mail=f"{emulator.base_url}/mail/").save(folder)
        print("\n" + banner(base, emulator.base_url, pki, installed, catcher) + "\n", flush=True)
        while not stop and server.poll() is None:
            time.sleep(0.3)
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        emulator.stop()
        if catcher is not None:
            catcher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
