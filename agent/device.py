"""The device key on disk, pairing with the server, and updating ``agent.toml`` after pairing.

The key file is created with mode 0600 and refused if others can read it (like ssh does), so a key that
leaked to other local users is not silently used. The key is never printed or logged; ``logredact`` scrubs
anything that looks like one from log records as a second line of defence.
"""

from __future__ import annotations

import os
import platform
import socket
import stat
import sys
from pathlib import Path

import httpx

from agent.config import AgentSettings, ConfigError, update_config


class PairingError(Exception):
    pass


def key_path(settings: AgentSettings, config_path: Path) -> Path:
    path = Path(settings.server.key_file).expanduser()
    return path if path.is_absolute() else config_path.parent / path


def write_key(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    tmp.replace(path)


def read_key(path: Path) -> str:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{path}: нет ключа устройства — выполните klikdok-agent pair URL CODE") from None
    if sys.platform != "win32" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: ключ устройства доступен другим пользователям; выполните chmod 600 {path}")
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise ConfigError(f"{path}: пустой файл ключа устройства")
    return key


def save_pairing(config_path: Path, *, url: str, device_id: int) -> None:
    update_config(config_path, "server", {"url": url, "device_id": str(device_id)})


def os_user() -> str:
    """The login name of the user the agent runs as, or "" when nothing knows it.

    The password database first: it is what the OS says this process is, and it works where the environment
    is bare (a systemd unit, a container, ``env -i``). Then the usual variables (Windows has no ``pwd``).
    """
    try:
        import pwd

        name = pwd.getpwuid(os.getuid()).pw_name
        if name:
            return name
    except (ImportError, KeyError, AttributeError, OSError):
        pass
    for variable in ("USER", "LOGNAME", "USERNAME"):
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    return ""


def device_name() -> str:
    """How the signer will recognise this computer in the agents list: "host (user)", or just the host."""
    host = socket.gethostname() or platform.node() or "компьютер"
    user = os_user()
    return f"{host} ({user})" if user else host


def pair(url: str, code: str, *, verify: bool | str = True, timeout: float = 30.0) -> tuple[int, int, str]:
    """Trade the code for (agent id, user id, device key)."""
    url = url.rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise PairingError("Адрес сервера должен начинаться с https://")
    try:
        resp = httpx.post(
            f"{url}/api/v1/agents/pair",
            json={"code": code, "name": device_name(), "platform": f"{platform.system()} {platform.release()}"},
            timeout=timeout,
            verify=verify,
        )
    except httpx.HTTPError as exc:
        raise PairingError(f"Сервер {url} недоступен: {exc}") from exc
    if resp.status_code != 201:
        try:
            message = resp.json().get("message") or resp.text
        except ValueError:
            message = resp.text
        raise PairingError(f"Сервер отказал ({resp.status_code}): {message[:300]}")
    body = resp.json()
    return int(body["agent_id"]), int(body["user_id"]), str(body["device_key"])
