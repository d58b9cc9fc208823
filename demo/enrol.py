"""Bind each demo signer's certificate to their Bitrix24 user, as each of them would from the page.

An internal signature is accepted only from a certificate registered to that user. In the demo nobody should
have to do that first, so at start the launcher does what every signer would: takes a challenge, signs it
with their demo key and registers the certificate through the server's own registration service (the proof
of possession, the onboarding rule, the audit entry and the store are the server's). The rule's portal facts
(the user's name, the ИНН of the company's requisites) are read from the seed the emulator serves: the server
is not installed on the emulator yet at this point. The demo certificates carry the company's ИНН and their
holders' names, so they come out active. A certificate already bound is left alone, so this runs at every start
and only the first one registers anything.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from cades.asn1 import load_certificate
from cades.certs import cert_info
from server.bitrix24 import User
from server.bitrix24.users import user_from
from server.config import PolicySettings
from server.db import Database
from server.workflow import certificate_store
from server.workflow.permissions import Viewer
from server.workflow.registration import CertificateRegistration

from . import bitrix24_seed, demo_people
from .pki import DemoPki


class SeedPortal:
    """The onboarding rule's portal facts, from the seed the emulator serves (registration.PortalFacts)."""

    async def user(self, user_id: int) -> User | None:
        return next((user_from(r) for r in bitrix24_seed.users() if r["ID"] == str(user_id)), None)

    async def own_company_inns(self) -> frozenset[str]:
        return frozenset({demo_people.own_company().inn})


def _bound(db: Database, user_id: int, der_or_pem: bytes) -> bool:
    info = cert_info(load_certificate(der_or_pem))
    owners = db.read_sync(lambda d: certificate_store.owners(d, issuer=info.issuer, serial=info.serial))
    return user_id in owners


async def _register(db: Database, pki: DemoPki, holder: demo_people.KeyHolder) -> None:
    assert holder.user_id is not None
    viewer = Viewer(user_id=holder.user_id)
    registration = CertificateRegistration(db, policy=PolicySettings(), portal=SeedPortal())
    challenge = await registration.challenge(viewer)
    cert = pki.cert(holder.key_name).read_bytes()
    with tempfile.TemporaryDirectory(prefix="klikdok-demo-") as tmp:
        text, sig = Path(tmp) / "challenge.txt", Path(tmp) / "challenge.sig"
        text.write_bytes(challenge.text.encode())
        await asyncio.to_thread(pki.sign, holder.key_name, text, sig)
        signature = sig.read_bytes()
    answer = await registration.register(viewer, cert, challenge=challenge.text, signature=signature)
    if answer["status"] != "active":
        raise RuntimeError(f"demo certificate of {holder.full_name} is {answer['status']}: {answer['message']}")


def enrol_signers(database_path: Path, pki: DemoPki, *, busy_timeout_ms: int = 5000) -> list[str]:
    """Register every demo signer's certificate not yet bound to them; the names of those registered now.

    The database must be migrated already (the launcher runs ``klikdok migrate`` first).
    """
    done = []
    db = Database(database_path, busy_timeout_ms=busy_timeout_ms)
    db.open()
    try:
        for holder in demo_people.key_holders():
            if holder.user_id is None:
                continue
            if _bound(db, holder.user_id, pki.cert(holder.key_name).read_bytes()):
                continue
            asyncio.run(_register(db, pki, holder))
            done.append(holder.full_name)
    finally:
        db.close()
    return done
