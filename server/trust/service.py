"""What the admin and the verifiers do with the trust store: import a list, add and remove own roots, read anchors.

Trust anchors are the admin's own roots and every certificate the Минцифры list gives for a CA whose
accreditation is in force (``Действует``). The list is treated as a trusted list in the European sense: the
ministry vouches for each accredited CA's keys by listing them, so a chain is trusted when it reaches one of
those certificates, root or subordinate, whether or not the head CA's root above it is present. Certificates of
CAs whose accreditation ended stay in the store (for the history) but anchor nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path
from typing import TypeVar

import msgspec
import sqlite_utils
from asn1crypto import x509

from cades.asn1 import MalformedInput, load_certificates
from cades.certs import facts
from cades.tsl import TrustedList, read_tsl
from cades.validation import ValidationContext
from server.config import Settings
from server.db import Database, read_snapshot

from . import store
from .store import ListInfo, ListRefused

T = TypeVar("T")

__all__ = [
    "ImportResult",
    "ListRefused",
    "TrustRefused",
    "add_roots",
    "anchors",
    "anchors_from_settings",
    "import_list",
    "list_age_days",
    "normalise_thumbprint",
    "remove_root",
    "with_store_anchors",
]


class TrustRefused(Exception):
    """An admin's request the store does not carry out; the message is for the admin, in Russian."""


class ImportResult(msgspec.Struct, frozen=True):
    info: ListInfo
    previous: ListInfo | None
    skipped: tuple[str, ...]
    accredited_cas: int


def import_list(db: Database, path: Path, settings: Settings, *, actor: str) -> ImportResult:
    """Parse the file (a :class:`cades.tsl.TslError` if it is unusable) and store it if it is newer."""
    tsl: TrustedList = read_tsl(path, max_bytes=settings.trust.tsl_max_mb * 1024 * 1024)

    def write(d: sqlite_utils.Database) -> tuple[ListInfo, ListInfo | None]:
        previous = store.current_list(d)
        return store.replace_list(d, tsl, file_name=path.name, actor=actor), previous

    info, previous = db.write_sync(write)
    return ImportResult(info, previous, tsl.skipped, sum(ca.accredited for ca in tsl.cas))


def normalise_thumbprint(text: str) -> str:
    """A thumbprint as typed (spaces, colons, any case) in the store's form: upper-case hex."""
    value = "".join(ch for ch in text if ch not in " :\t").upper()
    if len(value) != 40 or any(ch not in "0123456789ABCDEF" for ch in value):
        raise TrustRefused(f"«{text[:80]}» не похож на отпечаток SHA-1 (40 шестнадцатеричных знаков)")
    return value


def add_roots(db: Database, path: Path, *, actor: str) -> list[tuple[str, str, bool]]:
    """Add every CA certificate in the file (PEM or DER); (thumbprint, subject, newly added) for each."""
    try:
        certs = load_certificates(path.read_bytes())
    except MalformedInput as exc:
        raise TrustRefused(f"{path.name}: сертификат не читается: {exc}") from None
    if not certs:
        raise TrustRefused(f"{path.name}: в файле нет сертификатов")
    for cert in certs:
        f = facts(cert)
        self_signed = cert.subject.dump() == cert.issuer.dump()
        # A CA says so in basicConstraints; a v1 certificate without extensions passes only as a self-signed root.
        if (f.has_basic_constraints and not f.is_ca) or (not f.has_basic_constraints and not self_signed):
            raise TrustRefused(
                f"{path.name}: «{cert.subject.human_friendly[:120]}» — не сертификат удостоверяющего центра; "
                "доверенным корнем может быть только сертификат УЦ"
            )
    return db.write_sync(lambda d: [_add(d, cert, actor) for cert in certs])


def _add(d: sqlite_utils.Database, cert: x509.Certificate, actor: str) -> tuple[str, str, bool]:
    der = cert.dump()
    thumbprint = hashlib.sha1(der).hexdigest().upper()  # the thumbprint admins and the list use
    validity = cert["tbs_certificate"]["validity"]
    fresh = store.add_root(
        d,
        der=der,
        thumbprint=thumbprint,
        subject=cert.subject.human_friendly,
        issuer=cert.issuer.human_friendly,
        serial=format(cert.serial_number, "X"),
        not_before=validity["not_before"].native,
        not_after=validity["not_after"].native,
        self_signed=cert.subject.dump() == cert.issuer.dump(),
        actor=actor,
    )
    return thumbprint, cert.subject.human_friendly, fresh


def remove_root(db: Database, thumbprint: str, *, actor: str) -> None:
    value = normalise_thumbprint(thumbprint)
    outcome = db.write_sync(lambda d: store.remove_root(d, value, actor=actor))
    if outcome == "in_list":
        raise TrustRefused(
            f"сертификат {value} входит в перечень аккредитованных УЦ: его убирает только новый перечень"
        )
    if outcome == "absent":
        raise TrustRefused(f"в хранилище нет собственного корневого сертификата с отпечатком {value}")


def list_age_days(info: ListInfo, now: dt.datetime | None = None) -> int:
    """Whole days since the list's own date (Дата), not since its import."""
    issued = dt.datetime.fromisoformat(info.issued_at)
    return max(0, ((now or dt.datetime.now(dt.UTC)) - issued).days)


def _certificates(ders: list[bytes]) -> tuple[x509.Certificate, ...]:
    return tuple(x509.Certificate.load(der) for der in ders)


def anchors(db: Database) -> tuple[x509.Certificate, ...]:
    """The store's trust anchors, read through the server's database."""
    return _certificates(db.read_sync(store.anchor_ders))


def anchors_from_settings(settings: Settings) -> tuple[x509.Certificate, ...]:
    """The store's trust anchors, read from the configured database file (``klikdok verify``); none without one."""
    return _certificates(read_snapshot(settings.storage.database_path, store.anchor_ders) or [])


def with_store_anchors(context: ValidationContext, extra: tuple[x509.Certificate, ...]) -> ValidationContext:
    """``context`` with the store's anchors added to its own (from ``[trust] roots`` or ``--trust``)."""
    if not extra:
        return context
    return dataclasses.replace(context, trust_roots=(*context.trust_roots, *extra))
