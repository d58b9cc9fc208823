"""The per-kind handlers of CryptoARM transactions (see the package docstring for the contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

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
    # The signer certificate as the app reports it (``signers[0].x509``, DER), unverified: a kind that needs the
    # certificate and finds none inside the CMS may take it (the signature is then checked with it).
    certificate: bytes | None = None


@dataclass
class Outcome:
    accepted: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)  # {key, code, message}
    details: dict[str, Any] = field(default_factory=dict)  # what else the kind's status needs (stored with it)

    def as_dict(self) -> dict[str, object]:
        return {**self.details, "accepted": self.accepted, "refused": self.refused}


class TransactionHandler(Protocol):
    kind: str

    async def offer(self, services: AppServices, txn: Txn) -> Offer: ...

    async def open_file(self, services: AppServices, txn: Txn, key: str) -> tuple[str, bytes]: ...

    async def accept(self, services: AppServices, txn: Txn, results: list[DirectResult]) -> Outcome: ...

    async def cancelled(self, services: AppServices, txn: Txn) -> None: ...


HANDLERS: dict[str, TransactionHandler] = {}


def register(handler: TransactionHandler) -> None:
    HANDLERS[handler.kind] = handler
