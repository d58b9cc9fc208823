"""Agent settings: the typed shape of ``agent.toml``, found in the user's config directory."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Literal

import msgspec

from common.errors import ConfigError
from common.tomlconfig import load

ENV_PREFIX = "KLIKDOK_AGENT"


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base of every section. msgspec passes ``frozen`` on to subclasses, but mypy's dataclass view of a
    Struct does not, so each subclass repeats ``frozen=True``."""


class ServerSection(_Section, frozen=True):
    url: str = ""
    device_id: str = ""
    key_file: str = "device.key"
    ca_file: str = ""
    reconnect_max_seconds: float = 60.0


class BackendSection(_Section, frozen=True):
    kind: Literal["cryptoarm", "cryptopro", "cryptcp", "openssl"] = "cryptoarm"
    certificate: str = ""
    key_file: str = ""
    cryptcp_path: str = ""
    pin_file: str = ""
    link_opener: str = ""
    timeout_seconds: int = 600


class QueueSection(_Section, frozen=True):
    max_jobs: int = 16


class LoggingSection(_Section, frozen=True):
    level: Literal["debug", "info", "warning", "error"] = "info"


class AgentSettings(_Section, frozen=True):
    server: ServerSection = ServerSection()
    backend: BackendSection = BackendSection()
    queue: QueueSection = QueueSection()
    logging: LoggingSection = LoggingSection()

    def check(self) -> str | None:
        pkcs12 = self.backend.key_file.lower().endswith((".p12", ".pfx"))
        if self.backend.kind == "openssl" and not (self.backend.key_file and (self.backend.certificate or pkcs12)):
            return 'backend.certificate, backend.key_file: required when backend.kind = "openssl"'
        if self.backend.kind in ("cryptopro", "cryptcp") and not self.backend.certificate:
            return f"backend.certificate: the certificate's SHA-1 thumbprint is required for {self.backend.kind}"
        if self.server.reconnect_max_seconds <= 0:
            return "server.reconnect_max_seconds: expected a positive number"
        if self.queue.max_jobs < 1:
            return "queue.max_jobs: expected a positive integer"
        return None


def default_config_path() -> Path:
    env = os.environ.get("KLIKDOK_AGENT_CONFIG")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "klikdok" / "agent.toml"


def load_agent_settings(path: Path | None = None) -> AgentSettings:
    path = path or default_config_path()
    return load(AgentSettings, path if path.exists() else None, prefix=ENV_PREFIX)


__all__ = ["AgentSettings", "ConfigError", "default_config_path", "load_agent_settings"]


def _set_keys(text: str, section: str, values: dict[str, str]) -> str:
    """Set ``key = "value"`` lines inside ``[section]`` of a TOML text, keeping everything else (comments too)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == f"[{section}]"), None)
    if start is None:
        lines += ["", f"[{section}]"]
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("[")), len(lines))
    for key, value in values.items():
        rendered = f"{key} = " + '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i in range(start + 1, end):
            if pattern.match(lines[i]):
                lines[i] = rendered
                break
        else:
            lines.insert(end, rendered)
            end += 1
    return "\n".join(lines) + "\n"


def update_config(config_path: Path, section: str, values: dict[str, str]) -> None:
    """Write string keys into one section of ``agent.toml`` (created if missing), atomically: ``pair`` and
    ``setup`` each own their section and leave the rest of the file, comments included, as it was."""
    text = (
        config_path.read_text(encoding="utf-8")
        if config_path.exists()
        else "# klikdok-agent configuration; see config/agent.toml in the KlikDok sources for every key.\n"
    )
    text = _set_keys(text, section, values)
    config_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = config_path.with_name(config_path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(config_path)
