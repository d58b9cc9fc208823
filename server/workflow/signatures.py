"""``accept_signature``: the one door every signature comes through (upload, agent, CryptoARM, counterparty).

Order of checks, each refusal a :class:`SignatureRefused` with a stable ``code`` and a Russian message, audited,
and with nothing else changed:
1. size and the route: the document is open, the file is part of it, the claimed signer is the current step's
   (``not_current_signer``), this file is not signed on this step yet (``already_signed``);
2. ``cades`` verification against the Streebog digests recorded when the file was uploaded (``wrong_document``
   when the signature covers other bytes, ``invalid_signature`` / ``unverifiable`` otherwise). A signature whose
   only problem is an unknown revocation status is refused under ``[trust] revocation = "require"`` and accepted
   under ``"warn"`` with the document warning «статус отзыва сертификата не проверен»;
3. the certificate belongs to the expected signer (``wrong_signer``), unless the admin's policy says "warn"; an
   internal signer refused for a certificate bound to nobody gets an offer to bind it, the proof being this very
   signature (an upload's refusal carries it in ``details["bind_offer"]``; an agent's or CryptoARM's job keeps it
   for the page waiting on the job, never for the device: :mod:`.certificate_offers`);
3a. a person's (not the head's) certificate needs an МЧД under ``[policy] internal_poa`` / ``counterparty_poa``
   (:mod:`.poa_policy`): ``poa_missing`` / ``poa_invalid`` under "require", each naming the failed check;
4. one transaction: the signature (CMS + verification result, and the МЧД verdict), the document's new state, the
   audit row, the outbox messages (Disk copy ``<name>.sig``, timeline comment, notifications). The route is
   re-checked inside that transaction, so two signatures racing for the same step cannot both win. The
   transition's listeners (e.g. the counterparty invitation when the company's part completes) run in the same
   transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

import msgspec
from sqlite_utils import Database

from cades.asn1 import MalformedInput
from cades.result import REASONS, SignatureResult, VerificationResult, only_revocation_unknown
from cades.validation import ValidationContext
from cades.verify import verify_cms
from server.config import Settings
from server.db import Database as KlikDatabase
from server.db import audit
from server.trust import context as trust_context

from . import certificate_offers, effects, identity, job_store, poa_policy, poa_store, signature_store, states, store
from .docstate import SIGNING_STATES, DocState
from .listeners import TransitionListeners
from .model import DocumentFile, DocumentRow, RouteStep
from .signature_refusal import SignatureRefused
from .store import document_row, now_iso

Source = Literal["upload", "agent", "cryptoarm", "counterparty"]

REVOCATION_WARNING: Final = "статус отзыва сертификата не проверен"
REVOCATION_REFUSAL: Final = (
    "Подпись не принята: не удалось проверить, не отозван ли сертификат подписанта — список отзыва (CRL) "
    "и служба OCSP удостоверяющего центра недоступны серверу. Администратору: проверьте `klikdok doctor` "
    "(доступ сервера к адресам CRL и OCSP), положите свежий CRL этого УЦ в [trust] crls или, если это допустимо "
    'для вашей организации, разрешите приём таких подписей с предупреждением: [trust] revocation = "warn".'
)


@dataclass(frozen=True)
class SignerClaim:
    """Who is presenting the signature.

    ``internal``: the Bitrix24 user ``user_id`` (from a checked page session, a paired agent or a CryptoARM
    transaction bound to that user). ``counterparty``: the holder of the document's counterparty link; ``label``
    is what the audit log shows (e.g. the link's recipient).
    """

    kind: Literal["internal", "counterparty"]
    user_id: int | None = None
    label: str = ""

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}" if self.kind == "internal" else f"counterparty:{self.label or '?'}"


class AcceptedSignature(msgspec.Struct, kw_only=True):
    signature_id: int
    document_id: int
    file_id: int
    step_id: int
    step_completed: bool
    document_state: str
    status: str
    warning: str = ""


class ValidationProvider(Protocol):
    """Where acceptance gets the validation context: asked once per signature, so trust changes made while the
    server runs (``klikdok trust``, a replaced CRL file) apply to the next one
    (:class:`server.trust.context.TrustContext`)."""

    def current(self) -> ValidationContext: ...


@dataclass(frozen=True)
class FixedValidation:
    """One context for good (tests, tools that verify a batch)."""

    context: ValidationContext

    def current(self) -> ValidationContext:
        return self.context


@dataclass
class SignatureDeps:
    """What acceptance needs from the running server (built once at start-up, sharing the server's listeners)."""

    db: KlikDatabase
    settings: Settings
    validation: ValidationProvider
    listeners: TransitionListeners = field(default_factory=TransitionListeners)
    # Issue 18, the МЧД policy (.poa_policy): our company's ИНН from the portal's own companies, and the ФНС
    # registry client used when `[mchd] registry_check` is on.
    own_inns: poa_policy.OwnInns | None = None
    poa_registry: Any = None


def validation_context(settings: Settings) -> ValidationContext:
    """The ``[trust]`` files alone, judged as the server judges (an unknown revocation status is a reason)."""
    return trust_context.build(settings)


def _reason_text(sig: SignatureResult) -> str:
    return "; ".join(REASONS.get(code, (None, code))[1] for code in sig.reasons) or "подпись не подтверждена"


def _route_check(
    db: Database, document_id: int, file_id: int, claim: SignerClaim, job_id: int | None
) -> tuple[DocumentRow, RouteStep, DocumentFile]:
    """(document, current step, file) if this claim may sign this file now; else SignatureRefused."""
    doc = document_row(db, document_id)
    if doc is None or doc.state == DocState.DELETED:
        raise SignatureRefused("not_found", "Документ не найден.")
    file = store.file(db, document_id, file_id)
    if file is None:
        raise SignatureRefused("not_found", "В документе нет такого файла.")
    if doc.state not in SIGNING_STATES:
        raise SignatureRefused("not_awaiting_signature", "Документ сейчас не ждёт подписи.")
    step = store.current_step(db, document_id)
    if step is None:
        raise SignatureRefused("not_awaiting_signature", "Документ сейчас не ждёт подписи.")
    if step.kind != claim.kind or (claim.kind == "internal" and step.user_id != claim.user_id):
        who = step.display_name or "контрагент"
        raise SignatureRefused("not_current_signer", f"Сейчас документ подписывает {who}, а не вы.")
    if job_id is not None:
        jrow = job_store.state(db, job_id)
        if (
            jrow is None
            or jrow.document_id != document_id
            or jrow.step_id != step.id
            or jrow.user_id != claim.user_id
            or jrow.status not in job_store.OPEN
        ):
            raise SignatureRefused("job_not_open", "Задание на подпись уже закрыто или относится к другому шагу.")
    if signature_store.signed_on_step(db, file_id=file_id, step_id=step.id):
        raise SignatureRefused("already_signed", f"Файл «{file.name}» уже подписан на этом шаге.")
    return doc, step, file


def _verify(deps: SignatureDeps, cms: bytes, file: DocumentFile) -> VerificationResult:
    try:
        return verify_cms(
            cms,
            content_digest={
                "streebog256": bytes.fromhex(file.streebog256),
                "streebog512": bytes.fromhex(file.streebog512),
            },
            context=deps.validation.current(),
            max_size=deps.settings.limits.max_signature_kb * 1024,
        )
    except MalformedInput as exc:
        raise SignatureRefused("malformed", f"Файл не является подписью CMS (PKCS#7): {exc}") from None


def _judge(result: VerificationResult, revocation_policy: str) -> tuple[SignatureResult, str]:
    """The signature if the workflow may accept it, with the warning to record (policy "warn"); else refused."""
    if len(result.signatures) != 1:
        raise SignatureRefused(
            "signer_count",
            "Нужна отдельная (detached) подпись ровно одного подписанта, "
            f"а в файле подписей: {len(result.signatures)}.",
        )
    sig = result.signatures[0]
    if sig.status == "valid":
        return sig, ""
    if only_revocation_unknown(sig):
        if revocation_policy == "warn":
            return sig, REVOCATION_WARNING
        raise SignatureRefused("unverifiable", REVOCATION_REFUSAL, {"reasons": sig.reasons})
    if "digest_mismatch" in sig.reasons or "no_content" in sig.reasons:
        raise SignatureRefused(
            "wrong_document",
            "Подпись сделана не для этого документа: подписанные данные не "
            "совпадают с файлом, отправленным на подпись.",
            {"reasons": sig.reasons},
        )
    code = "invalid_signature" if sig.status == "invalid" else "unverifiable"
    raise SignatureRefused(code, f"Подпись не принята: {_reason_text(sig)}.", {"reasons": sig.reasons})


async def accept_signature(
    deps: SignatureDeps,
    *,
    document_id: int,
    file_id: int,
    cms: bytes,
    claim: SignerClaim,
    source: Source,
    job_id: int | None = None,
) -> AcceptedSignature:
    """Verify, check, store and advance, or raise :class:`SignatureRefused` (audited, nothing else changed)."""
    try:
        if len(cms) > deps.settings.limits.max_signature_kb * 1024:
            raise SignatureRefused("too_large", "Файл подписи слишком большой.")
        if not cms.strip():
            raise SignatureRefused("malformed", "Пустой файл подписи.")
        doc, step, file = await deps.db.read(lambda d: _route_check(d, document_id, file_id, claim, job_id))
        result = await asyncio.to_thread(_verify, deps, cms, file)
        sig, revocation_warning = _judge(result, deps.settings.trust.revocation)
        if claim.kind == "internal":
            signer_id = step.user_id
            assert signer_id is not None, "an internal step names its signer"
            mismatch = await deps.db.read(
                lambda d: identity.check_internal(d, deps.settings.policy, signer_id, step.display_name, sig)
            )
            mode = deps.settings.policy.internal_identity_mismatch
        else:
            mismatch = identity.check_counterparty(doc, sig)
            mode = deps.settings.policy.counterparty_identity_mismatch
            # A counterparty employee's own certificate carries no company ИНН: its МЧД (whose principal's ИНН is
            # checked against the CRM) is what ties it to the company (.poa_policy.counterparty_identity).
            poa = await _judge_poa(deps, claim, step, doc, sig, cms)
            mismatch = poa_policy.counterparty_identity(mismatch, poa, refuse=mode == "refuse")
        if mismatch and mode == "refuse":
            offer = None
            # An upload's refusal carries the offer to the page; an agent's or CryptoARM's goes to the device
            # without it, and the page waiting on the job gets the offer from the job's progress.
            if claim.kind == "internal" and claim.user_id is not None and source != "counterparty":
                user_id = claim.user_id
                offer = await deps.db.write(
                    lambda d: certificate_offers.offer_for(
                        d,
                        user_id=user_id,
                        doc=doc,
                        step_id=step.id,
                        file_id=file_id,
                        job_id=job_id,
                        source=source,
                        cms=cms,
                        sig=sig,
                        max_cms=deps.settings.limits.max_signature_kb * 1024,
                    )
                )
            raise SignatureRefused("wrong_signer", mismatch, {"bind_offer": offer} if offer else None)
        warning = mismatch or ""
        if claim.kind == "internal":
            poa = await _judge_poa(deps, claim, step, doc, sig, cms)
        accepted = await deps.db.write(
            lambda d: _store(
                d,
                document_id,
                file_id,
                cms,
                claim,
                source,
                job_id,
                result,
                sig,
                warning,
                revocation_warning,
                deps.listeners,
                poa,
            )
        )
    except SignatureRefused as refusal:
        details = {
            "file_id": file_id,
            "source": source,
            "code": refusal.code,
            "message": refusal.message,
            "job_id": job_id,
        }
        await deps.db.write(
            lambda d: audit.append(
                d,
                actor=claim.actor,
                action="signature.refused",
                object_type="document",
                object_id=document_id,
                details=details,
            )
        )
        raise
    deps.listeners.committed()
    return accepted


async def _judge_poa(
    deps: SignatureDeps,
    claim: SignerClaim,
    step: RouteStep,
    doc: DocumentRow,
    sig: SignatureResult,
    cms: bytes,
) -> poa_policy.PoaOutcome | None:
    """The МЧД outcome under the side's policy (.poa_policy), which raises :class:`SignatureRefused` itself."""
    return await poa_policy.judge(
        db=deps.db,
        settings=deps.settings,
        context=deps.validation.current(),
        registry=deps.poa_registry,
        own_inns=deps.own_inns,
        kind=claim.kind,
        user_id=step.user_id if claim.kind == "internal" else None,
        doc=doc,
        sig=sig,
        cms=cms,
    )


def _store(
    db: Database,
    document_id: int,
    file_id: int,
    cms: bytes,
    claim: SignerClaim,
    source: Source,
    job_id: int | None,
    result: VerificationResult,
    sig: SignatureResult,
    warning: str,
    revocation_warning: str,
    listeners: TransitionListeners,
    poa: poa_policy.PoaOutcome | None = None,
) -> AcceptedSignature:
    doc, step, file = _route_check(db, document_id, file_id, claim, job_id)
    signer = msgspec.to_builtins(sig.signer) if sig.signer is not None else {}
    cert = sig.certificate
    signature_id = signature_store.insert(
        db,
        signature_store.NewSignature(
            document_id=document_id,
            file_id=file_id,
            step_id=step.id,
            signer_kind=claim.kind,
            signer_user_id=claim.user_id,
            source=source,
            cms=cms,
            cms_sha256=hashlib.sha256(cms).hexdigest(),
            status=sig.status,
            signer=signer,
            certificate_serial=cert.serial if cert else "",
            certificate_issuer=cert.issuer if cert else "",
            identity_warning=warning,
            verification=result.to_json().decode(),
            accepted_at=now_iso(),
        ),
    )
    if warning:
        doc = states.add_warning(db, doc, f"{file.name}: {warning}")
    if revocation_warning:
        doc = states.add_warning(db, doc, f"{file.name}: {revocation_warning}")
    if poa is not None:
        poa_store.record_verdict(
            db,
            signature_id=signature_id,
            poa_id=poa.poa_id,
            policy=poa.policy,
            status=poa.status,
            summary=poa.summary,
            verdict=poa.verdict_json,
        )
        if poa.warning:
            doc = states.add_warning(db, doc, f"{file.name}: {poa.warning}")
    audit.append(
        db,
        actor=claim.actor,
        action="signature.accepted",
        object_type="document",
        object_id=document_id,
        details={
            "signature_id": signature_id,
            "file": file.name,
            "step": step.position,
            "source": source,
            "certificate_serial": cert.serial if cert else "",
            "signer": {k: signer.get(k) for k in ("common_name", "inn", "innle", "snils", "ogrn") if signer.get(k)},
            "warning": warning,
            "revocation_warning": revocation_warning,
            "poa": {"status": poa.status, "poa_id": poa.poa_id, "summary": poa.summary} if poa else None,
            "job_id": job_id,
        },
    )
    effects.store_signature_on_disk(db, signature_id)
    completed = states.signature_recorded(db, doc, step, actor=claim.actor, listeners=listeners)
    signed = document_row(db, document_id)
    assert signed is not None  # read above in this same transaction
    state = signed.state
    return AcceptedSignature(
        signature_id=signature_id,
        document_id=document_id,
        file_id=file_id,
        step_id=step.id,
        step_completed=completed,
        document_state=state,
        status=sig.status,
        warning="; ".join(w for w in (warning, revocation_warning, poa.warning if poa else "") if w),
    )
