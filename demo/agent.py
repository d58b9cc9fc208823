"""``python -m demo.agent WHO [--code CODE]``: a signing agent for a demo signer, paired and running.

What a signer does on their PC, in one command: get a pairing code on the app page, ``klikdok-agent pair URL
CODE``, set the backend to OpenSSL with their key, ``klikdok-agent run``. Without ``--code`` the code comes
the way the page gets it: the portal emulator opens the app page as that user (its hidden form with the
user's tokens), the server answers with the page session, and the page's own call
``POST /api/v1/agents/pairing-codes`` returns the code. The agent's files live in ``<data>/demo/agents/WHO``;
once paired, later runs just start it (``--pair`` pairs again, say after revoking it on the page).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import httpx

from agent.config import update_config

from . import demo_people
from .demo_state import DemoState, demo_dir
from .pki import DemoPki


class _FormReader(HTMLParser):
    """The app page's hidden form in the portal emulator (action and inputs) and the server page's session."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.session = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "placement-form":
            self.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        if "data-session" in a and a["data-session"]:
            self.session = a["data-session"]


def page_session(state: DemoState, user_id: int) -> str:
    """The session the app page gets when ``user_id`` opens it from the portal."""
    with httpx.Client(timeout=30) as http:
        portal_page = http.get(f"{state.portal}/marketplace/app/", params={"user": user_id})
        portal_page.raise_for_status()
        form = _FormReader()
        form.feed(portal_page.text)
        if not form.action:
            raise RuntimeError("Портал не открыл приложение: установлено ли оно (см. вывод make run)?")
        app_page = http.post(form.action, data=form.fields)
        app_page.raise_for_status()
        page = _FormReader()
        page.feed(app_page.text)
        if not page.session:
            raise RuntimeError("Страница приложения не выдала сессию.")
        return page.session


def pairing_code(state: DemoState, user_id: int) -> str:
    """What «Подключить агент» on the app page does: a one-time pairing code for this user."""
    session = page_session(state, user_id)
    answer = httpx.post(
        f"{state.server}/api/v1/agents/pairing-codes", headers={"X-KlikDok-Session": session}, timeout=30
    )
    answer.raise_for_status()
    return str(answer.json()["code"])


def agent_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "agent.cli", "--config", str(config), *args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.agent", description="Агент подписи демо-подписанта: сопряжение и запуск"
    )
    parser.add_argument("who", choices=demo_people.SIGNERS, help="чей агент: director, accountant или head")
    parser.add_argument("--code", default="", help="код сопряжения со страницы приложения (иначе получить самому)")
    parser.add_argument("--pair", action="store_true", help="сопрячь заново, даже если агент уже сопряжён")
    args = parser.parse_args(argv)
    folder = demo_dir()
    state = DemoState.load(folder)
    pki = DemoPki(folder / "pki")
    if state is None or not pki.ready():
        print("Демо-стенд не запущен: сначала выполните make run (в другом терминале).", file=sys.stderr)
        return 1
    home = folder / "agents" / args.who
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    config = home / "agent.toml"
    update_config(
        config,
        "backend",
        {"kind": "openssl", "certificate": str(pki.cert(args.who)), "key_file": str(pki.key(args.who))},
    )
    paired = 'device_id = "' in config.read_text(encoding="utf-8") and (home / "device.key").exists()
    if args.code or args.pair or not paired:
        user_id = demo_people.role_user(args.who)
        try:
            code = args.code or pairing_code(state, user_id)
        except (httpx.HTTPError, RuntimeError) as exc:
            print(f"Не удалось получить код сопряжения: {exc}", file=sys.stderr)
            return 1
        done = subprocess.run(agent_command(config, "pair", state.server, code), check=False)
        if done.returncode != 0:
            return done.returncode
    print(f"Агент подписи ({args.who}) запущен: {config}. Остановить: Ctrl+C", flush=True)
    command = agent_command(config, "run")
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
