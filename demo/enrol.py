"""Bind each demo signer's certificate to their Bitrix24 user, as each of them would from the page.

An internal signature is accepted only from a certificate registered to that user. In the demo nobody should
have to do that first, so at start the launcher does what every signer would: takes a challenge, signs it
with their demo key and registers the certificate through the server's own registration service (the proof
of possession, the audit entry and the store are the server's). A certificate already bound is left alone,
so this runs at every start and only the first one registers anything.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from cades.asn1 import load_certificate
from cades.certs import cert_info
from server.db import Database
from server.workflow import certificate_store
from server.workflow.permissions import Viewer
from server.workflow.registration import CertificateRegistration

from . import demo_people
from .pki import DemoPki


def _bound(db: Database, user_id: int, der_or_pem: bytes) -> bool:
    info = cert_info(load_certificate(der_or_pem))
    owners = db.read_sync(lambda d: certificate_store.owners(d, issuer=info.issuer, serial=info.serial))
    return user_id in owners


async def _register(db: Database, pki: DemoPki, holder: demo_people.KeyHolder) -> None:
    assert holder.user_id is not None
    viewer = Viewer(user_id=holder.user_id)
    registration = CertificateRegistration(db)
    challenge = await registration.challenge(viewer)
    cert = pki.cert(holder.key_name).read_bytes()
    with tempfile.TemporaryDirectory(prefix="klikdok-demo-") as tmp:
        text, sig = Path(tmp) / "challenge.txt", Path(tmp) / "challenge.sig"
        text.write_bytes(challenge.text.encode())
        await asyncio.to_thread(pki.sign, holder.key_name, text, sig)
        signature = sig.read_bytes()
    await registration.register(viewer, cert, challenge=challenge.text, signature=signature)


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
