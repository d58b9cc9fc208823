"""The workflow as the signing channels see it: job files out, signatures in (one adapter, two users).

Both the agent hub and the CryptoARM endpoint go through here, so the rule "every signature arrives through
``server.workflow.signatures.accept_signature``" holds in one place: the signer claim is always the job's user
(taken from the job row, never from what the device or the app says), and the job id is passed along so that
acceptance re-checks that the job is still open and belongs to the current step.
"""

from __future__ import annotations

import logging

from server.workflow.downloads import Downloads
from server.workflow.signatures import (
    AcceptedSignature,
    SignatureDeps,
    SignatureRefused,
    SignerClaim,
    Source,
    accept_signature,
)

log = logging.getLogger(__name__)

__all__ = ["AcceptedSignature", "SignatureRefused", "accept_job_signature", "job_file"]


async def job_file(downloads: Downloads, document_id: int, file_id: int) -> tuple[str, str, bytes]:
    """(name, content type, bytes) of one file of a job's document, checked against its recorded digest."""
    name, ctype, data = await downloads.file_bytes(document_id, file_id)
    return name, ctype, data


async def accept_job_signature(
    signatures: SignatureDeps, *, job_id: int, document_id: int, user_id: int, file_id: int, cms: bytes, source: Source
) -> AcceptedSignature:
    """Hand one detached CMS to the workflow's single acceptance door; raises ``SignatureRefused``."""
    return await accept_signature(
        signatures,
        document_id=document_id,
        file_id=file_id,
        cms=cms,
        claim=SignerClaim("internal", user_id=user_id),
        source=source,
        job_id=job_id,
    )
