"""The one refusal of a signature, in a module of its own so that the checks around acceptance (the МЧД policy,
:mod:`.poa_policy`) raise it themselves instead of a copy that acceptance translates."""

from __future__ import annotations

from typing import Any


class SignatureRefused(Exception):
    """Why a signature was not accepted: ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
