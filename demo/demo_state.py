"""Where a running demo is: the addresses the launcher printed, kept in ``<data>/demo/state.json`` so
``python -m demo.agent`` and ``python -m demo.sign`` find the server, the portal emulator and the keys."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from server.config import find_config, load_settings


def demo_dir() -> Path:
    """``<storage data_dir>/demo`` of the configuration ``make run`` reads (file and KLIKDOK_* environment)."""
    return load_settings(find_config(None)).storage.path / "demo"


@dataclass(frozen=True)
class DemoState:
    server: str
    portal: str
    mail: str

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "state.json").write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2))

    @classmethod
    def load(cls, folder: Path) -> DemoState | None:
        try:
            data = json.loads((folder / "state.json").read_text())
            return cls(server=str(data["server"]), portal=str(data["portal"]), mail=str(data["mail"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
