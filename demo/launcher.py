"""``make run`` (``python -m demo.launcher``): the server, and the Bitrix24 portal emulator when no real portal is
configured.

With a webhook configured, a portal named in `[portal] url`, or a real portal installed, this is just
``klikdok serve``. Otherwise it starts the emulator on 127.0.0.1:8090 with fixed demo credentials, starts the
server with the emulator as its portal (`[portal] url`, and the emulator's OAuth endpoint with the demo
application's client_id/client_secret, so the install is proven and tokens refresh like on a real box),
installs the app the way the admin's browser would (the install page POST), and prints where to look.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from urllib.parse import urlencode

import httpx

from demo.portal_emulator import PortalEmulator
from demo.portal_state import EmulatorConfig
from server.config import ConfigError, find_config, load_settings

DEMO_HOST = "127.0.0.1"
DEMO_PORT = int(os.environ.get("KLIKDOK_DEMO_PORTAL_PORT", "8090"))
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
    config = EmulatorConfig(**DEMO_CONFIG)
    emulator = PortalEmulator(config).start(DEMO_HOST, DEMO_PORT)
    # People read this terminal: plain text log lines unless KLIKDOK_LOGGING_FORMAT says otherwise.
    env = {"KLIKDOK_LOGGING_FORMAT": "text", **os.environ, "KLIKDOK_PORTAL_URL": demo_url}
    if not settings.portal.client_id:
        env.update(
            KLIKDOK_PORTAL_MODE="oauth",
            KLIKDOK_PORTAL_CLIENT_ID=config.client_id,
            KLIKDOK_PORTAL_CLIENT_SECRET=config.client_secret,
            KLIKDOK_PORTAL_OAUTH_SERVER=demo_url,
        )
    server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], env=env)
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    base = settings.server.public_url.rstrip("/")
    try:
        deadline = time.monotonic() + 60
        while not stop and time.monotonic() < deadline:
            if server.poll() is not None:
                return server.returncode
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        query = urlencode({"DOMAIN": f"{DEMO_HOST}:{DEMO_PORT}", "PROTOCOL": "0", "LANG": "ru", "APP_SID": "demo"})
        answer = httpx.post(f"{base}/b24/install?{query}", data=emulator.state.placement_form(1, "DEFAULT"), timeout=60)
        ok = answer.status_code == 200
        emulator.state.app_handler = f"{base}/b24/app"  # what the admin registered as the app's handler
        deal = sorted(emulator.state.deals)[0]
        print("\n" + "=" * 72)
        print(f"KlikDok:               {base}/healthz")
        print(f"Эмулятор Битрикс24:    {emulator.base_url}/")
        print(f"Карточка сделки с вкладкой «ЭДО»: {emulator.base_url}/crm/deal/details/{deal}/?user=1")
        print(f"Приложение (На подпись, Отдел, Аудит): {emulator.base_url}/marketplace/app/?user=1")
        print("Установка приложения: " + ("выполнена" if ok else f"не удалась (HTTP {answer.status_code})"))
        print("Остановить: Ctrl+C")
        print("=" * 72 + "\n", flush=True)
        while not stop and server.poll() is None:
            time.sleep(0.3)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
