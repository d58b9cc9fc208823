"""The per-kind handlers of CryptoARM transactions (see the package docstring for the contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from server.state import AppServices

from .transactions import Txn


@dataclass(frozen=True)
class OfferedFile:
    key: str  # the handler's own id for the file (echoed back by the app as directResults[].id)
    name: str
    size: int


@dataclass(frozen=True)
class Offer:
    files: list[OfferedFile]
    header: str = "Подписание документов KlikDok"
    description: str = ""


@dataclass(frozen=True)
class DirectResult:
    key: str
    cms: bytes  # DER


@dataclass
class Outcome:
    accepted: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)  # {key, code, message}

    def as_dict(self) -> dict[str, object]:
        return {"accepted": self.accepted, "refused": self.refused}


class TransactionHandler(Protocol):
    kind: str

    async def offer(self, services: AppServices, txn: Txn) -> Offer: ...

    async def open_file(self, services: AppServices, txn: Txn, key: str) -> tuple[str, bytes]: ...

    async def accept(self, services: AppServices, txn: Txn, results: list[DirectResult]) -> Outcome: ...

    async def cancelled(self, services: AppServices, txn: Txn) -> None: ...


HANDLERS: dict[str, TransactionHandler] = {}


def register(handler: TransactionHandler) -> None:
    HANDLERS[handler.kind] = handler
