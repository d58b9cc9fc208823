"""Agent settings: the typed shape of ``agent.toml``, found in the user's config directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

import msgspec

from common.tomlconfig import ConfigError, load

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
