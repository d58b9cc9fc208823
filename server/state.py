"""What the running application holds: set up by the lifespan, read by handlers via ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from server.config import Settings
from server.db import Database


@dataclass
class AppServices:
    settings: Settings
    db: Database
    http: httpx.AsyncClient
    started_at: float = 0.0
    extras: dict[str, object] = field(default_factory=dict)
