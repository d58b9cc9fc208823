"""What ``/v/<id>`` shows about a document: the verdict KlikDok keeps, and nothing a stranger should not read.

The page is opened by whoever holds a stamped copy (its QR code), so it carries no file contents, no title and
no CRM data: only the file names with their GOST digests (a holder of a paper copy compares them with
``gost12sum``), the document's state in words (the vocabulary of :mod:`.docstate`) and each accepted
signature's summary as stored at acceptance (``signatures.verification``, read the way :mod:`.reports` reads
it, so the headline is the one the report shows).

The id is resolved by :meth:`server.workflow.public_verdicts.PublicVerdicts.document_for` (one lookup on the
unique index, a forged id costs what a missing one does); :func:`load` runs only for an id that matched.
"""

from __future__ import annotations

import msgspec
from sqlite_utils import Database as Connection

from cades.result import SignatureResult, VerificationResult
from cades.verdicts import TimeText, signature_headline
from server.db import Database

from . import store
from .docstate import DocState
from .model import DocumentFile

# What the state means to someone holding a copy, beside its label (the vocabulary's own words).
_STATE_NOTE: dict[DocState, str] = {
    DocState.COMPLETED: "Все подписи по маршруту документа собраны.",
    DocState.AWAITING_INTERNAL: "Документ ещё подписывается: ниже подписи, принятые на сейчас.",
    DocState.AWAITING_COUNTERPARTY: "Документ ждёт подписи контрагента: ниже подписи, принятые на сейчас.",
    DocState.REJECTED_INTERNAL: "Подписание остановлено: документ отклонён. Ниже подписи, принятые до этого.",
    DocState.REJECTED_COUNTERPARTY: "Подписание остановлено: контрагент отклонил документ.",
    DocState.WITHDRAWN: "Подписание остановлено: отправитель отозвал документ.",
    DocState.EXPIRED: "Подписание не завершено: срок подписания истёк.",
    DocState.DRAFT: "Документ ещё не отправлен на подпись.",
}


class PublicFile(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    size: int
    streebog256: str
    streebog512: str


class PublicSignature(msgspec.Struct, frozen=True, kw_only=True):
    number: int  # 1-based across the document, in the order the signatures were accepted
    file_name: str
    owner: str
    organization: str
    serial: str
    signing_time: str  # in the portal's zone
    signing_time_trusted: bool  # from a CAdES-T time-stamp; else claimed by the signer
    tone: str  # valid | invalid | indeterminate (the headline's colour)
    verdict: str  # the headline's title
    verdict_text: str  # the headline's sentence


class PublicView(msgspec.Struct, frozen=True, kw_only=True):
    state: str  # the DocState value (for the page's data attribute and tests)
    state_label: str
    state_tone: str
    state_note: str
    files: list[PublicFile]
    signatures: list[PublicSignature]


def _owner(sig: SignatureResult) -> str:
    who = sig.signer
    if who is None:
        return ""
    full = " ".join(p for p in (who.surname, who.given_name) if p)
    return full or who.common_name or ""


def _summary(number: int, file_name: str, sig: SignatureResult, time_text: TimeText) -> PublicSignature:
    head = signature_headline(sig, accepted=True)  # stored signatures were accepted by the workflow
    trusted = sig.signing_time_source == "timestamp"
    return PublicSignature(
        number=number,
        file_name=file_name,
        owner=_owner(sig),
        organization=(sig.signer.organization or "") if sig.signer else "",
        serial=sig.certificate.serial if sig.certificate else "",
        signing_time=time_text(sig.signing_time) if sig.signing_time else "",
        signing_time_trusted=trusted,
        tone=head.tone,
        verdict=head.title,
        verdict_text=head.text,
    )


def _read(d: Connection, document_id: int) -> tuple[DocState, list[DocumentFile], list[store.StoredSignature]]:
    doc = store.document_row(d, document_id)
    state = doc.state if doc is not None else DocState.DELETED
    return state, store.files(d, document_id), store.stored_signatures(d, document_id)


async def load(db: Database, document_id: int, time_text: TimeText) -> PublicView | None:
    """The public view of a document (None when it is gone: deleted documents are not shown)."""
    state, files, stored = await db.read(lambda d: _read(d, document_id))
    if state == DocState.DELETED:
        return None
    names = {f.id: f.name for f in files}
    signatures: list[PublicSignature] = []
    for row in stored:
        result = msgspec.json.decode(row.verification, type=VerificationResult)
        for sig in result.signatures:
            signatures.append(_summary(len(signatures) + 1, names.get(row.file_id, ""), sig, time_text))
    return PublicView(
        state=state.value,
        state_label=state.label,
        state_tone=state.info.tone,
        state_note=_STATE_NOTE.get(state, ""),
        files=[
            PublicFile(name=f.name, size=f.size, streebog256=f.streebog256, streebog512=f.streebog512) for f in files
        ],
        signatures=signatures,
    )
