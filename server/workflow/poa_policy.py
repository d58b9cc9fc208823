"""The МЧД policy inside ``accept_signature`` (issue 18): a person's signature for a company needs a power of attorney.

A signature made with the company head's certificate (the organisation's ИНН ЮЛ/ОГРН in it,
:func:`cades.poa.is_head_certificate`) needs nothing more. Any other certificate is a person's: the policy of its
side (``[policy] internal_poa`` / ``counterparty_poa``) decides what an МЧД must show:

- where the МЧД comes from: for our employee, the МЧД bound to the registered certificate on «Мои сертификаты»
  (the one in force at the signing time, else the newest); for the counterparty, the one kept with the document
  from the public page;
- what it is checked against (:func:`cades.poa.check_poa`): the principal's ИНН from the CRM (the counterparty
  company's requisites captured with the document; for our employees the requisites of the portal's own
  companies, ``IS_MY_COMPANY``, and ``[policy] company_inn``), the powers ``[mchd] powers`` names for the
  document's CRM card kind, the ФНС registry when ``[mchd] registry_check``;
- ``require`` refuses (:class:`SignatureRefused` naming each failed check; the refusal is audited by the caller),
  ``warn`` accepts with the verdict as the document's warning, ``off`` does not look.

Whatever was decided is stored with the signature (:mod:`.poa_store`) so every page, the ZIP and the reports show
the same number, principal, validity and verdict. ``cades.poa`` (and the XML libraries under it) is imported on
first use: the server's start and the CLI must not load them (tests/foundation/test_startup_imports.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec
from asn1crypto import x509

from cades.asn1 import MalformedInput, load_certificate
from cades.cms import parse_signed_data
from cades.result import SignatureResult
from server.config import Settings

from . import poa_store
from .model import DocumentRow
from .signature_refusal import SignatureRefused

if TYPE_CHECKING:
    from cades.poa import Poa, PoaVerdict
    from cades.validation import ValidationContext

log = logging.getLogger(__name__)

Mode = Literal["require", "warn", "off"]
OwnInns = Callable[[], Awaitable[frozenset[str]]]

NO_POA_WARNING: Final = "МЧД не приложена: подпись сделана сертификатом сотрудника, а не руководителя организации"
HEAD_SUMMARY: Final = "Подписано сертификатом организации (руководителя): МЧД не нужна"
# The checks (cades.poa) that say who signs for whom; the rest say whether and for what the МЧД holds.
IDENTITY_CHECKS: Final = frozenset({"signature", "issuer", "representative", "principal"})
STATUS_WORDS: Final = {"valid": "действительна", "invalid": "недействительна", "indeterminate": "не подтверждена"}


@dataclass(frozen=True)
class PoaOutcome:
    """What the policy decided for one signature: stored with it, shown everywhere it shows."""

    poa_id: int | None
    policy: str
    status: str  # valid | invalid | indeterminate | missing | head
    summary: str
    verdict_json: str = "{}"
    warning: str = ""  # the document's warning (policy "warn" and a verdict short of valid)
    # The МЧД ties the certificate's person to the principal: its signature, its issuer (the head), the
    # representative and the principal's ИНН all checked out, whatever else (validity, powers, registry) did not.
    identity_ok: bool = False


def card_kind(doc: DocumentRow) -> str:
    """The key of ``[mchd] powers`` for this document: its CRM card's kind code (``deal``, ``dynamic_<id>``...)."""
    return str(doc.entity_type)


def required_powers(settings: Settings, doc: DocumentRow) -> tuple[str, ...]:
    """The power codes ``[mchd] powers`` asks of an МЧД for a signature on ``doc`` (empty: any power)."""
    powers = settings.mchd.powers
    found = powers.get(card_kind(doc))
    if found is None:
        found = powers.get("*", [])
    return tuple(p for p in found if p)


def signer_certificate(cms: bytes, fallback_der: bytes | None = None) -> x509.Certificate | None:
    """The signer's certificate as carried in the CMS (else the registered one the caller passes)."""
    try:
        parsed = parse_signed_data(cms)
    except MalformedInput:
        parsed = None
    if parsed is not None and parsed.signers:
        signer = parsed.signers[0]
        for cert in parsed.certificates:
            if signer.sid_serial is not None and cert.serial_number == signer.sid_serial:
                if signer.sid_issuer is None or cert.issuer == signer.sid_issuer:
                    return cert
            if signer.sid_ski and cert.key_identifier == signer.sid_ski:
                return cert
    if fallback_der:
        try:
            return load_certificate(fallback_der)
        except MalformedInput:
            return None
    return None


def _signing_time(sig: SignatureResult) -> dt.datetime:
    moment = sig.signing_time
    if isinstance(moment, dt.datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC)


def _in_force(rows: list[poa_store.PoaRow], day: str) -> poa_store.PoaRow | None:
    """The МЧД valid on ``day`` (ISO date), newest first; else the newest (its check will say why it fails)."""
    for row in rows:
        if (not row.valid_from or row.valid_from <= day) and (not row.valid_until or day <= row.valid_until):
            return row
    return rows[0] if rows else None


def expected_inn(candidates: frozenset[str], principal_inn: str) -> str | None:
    """The ИНН the МЧД's principal must have: the one of ``candidates`` it names, else any of them (the check
    then fails and says which was expected); None when nothing is known (the check says it is unknown)."""
    if principal_inn and principal_inn in candidates:
        return principal_inn
    return sorted(candidates)[0] if candidates else None


def failed_checks(verdict: PoaVerdict) -> list[str]:
    """The Russian message of every check that did not pass (failed first, then unknown)."""
    failed = [c.message for c in verdict.checks if c.status == "failed"]
    unknown = [c.message for c in verdict.checks if c.status == "unknown"]
    return failed + unknown


def refusal_text(number: str, verdict: PoaVerdict) -> str:
    what = f"МЧД № {number}" if number else "МЧД"
    reasons = "; ".join(failed_checks(verdict)) or "проверка не пройдена"
    return f"Подпись не принята: {what} не подтверждает право подписанта подписывать за организацию — {reasons}."


def poa_facts(poa: Poa) -> dict[str, str]:
    """What the lists keep of an МЧД (the columns of ``poa_files``)."""
    principal = poa.principal
    reps = ", ".join(p.full_name for p in poa.representatives if p.full_name)
    return {
        "number": poa.number,
        "principal_name": principal.name,
        "principal_inn": principal.inn or "",
        "representative": reps,
        "valid_from": poa.issued.isoformat() if poa.issued else "",
        "valid_until": poa.valid_until.isoformat() if poa.valid_until else "",
    }


def run_check(
    xml: bytes,
    sig: bytes,
    *,
    certificate: x509.Certificate,
    signing_time: dt.datetime,
    principal_inn: str | None,
    powers: tuple[str, ...],
    context: ValidationContext,
    registry: Any,
    accept_revocation_unknown: bool = False,
) -> PoaVerdict:
    """:func:`cades.poa.check_poa`, imported here on first use (it loads the XML libraries)."""
    from cades.poa import check_poa

    return check_poa(
        xml,
        sig,
        signer_certificate=certificate,
        signing_time=signing_time,
        expected_principal_inn=principal_inn,
        required_powers=powers,
        context=context,
        registry=registry,
        accept_revocation_unknown=accept_revocation_unknown,
    )


_REGISTRIES: dict[tuple[str, float], Any] = {}


def registry_for(settings: Settings) -> Any:
    """The ФНС registry client of ``[mchd]`` (one per address, its cache shared by every check), or None when
    ``registry_check`` is off: the check then says «статус в реестре ФНС не проверен»."""
    mchd = settings.mchd
    if not mchd.registry_check:
        return None
    key = (mchd.registry_url, mchd.registry_timeout_seconds)
    client = _REGISTRIES.get(key)
    if client is None:
        from cades.poa import RegistryClient

        client = _REGISTRIES[key] = RegistryClient(mchd.registry_url, timeout=mchd.registry_timeout_seconds)
    return client


def is_head(certificate: x509.Certificate) -> bool:
    from cades.poa import is_head_certificate

    return is_head_certificate(certificate)


def verdict_outcome(mode: Mode, row: poa_store.PoaRow, verdict: PoaVerdict, powers: tuple[str, ...] = ()) -> PoaOutcome:
    """The stored outcome of a checked МЧД; under ``require`` anything short of valid is raised by the caller."""
    summary = verdict.summary()
    warning = ""
    if verdict.status != "valid":
        reasons = "; ".join(failed_checks(verdict))
        warning = f"{summary}" + (f" — {reasons}" if reasons else "")
    by_name = {c.name: c.status for c in verdict.checks}
    return PoaOutcome(
        poa_id=row.id,
        identity_ok=all(by_name.get(name) == "ok" for name in IDENTITY_CHECKS),
        policy=mode,
        status=verdict.status,
        summary=summary,
        # The verdict as cades.poa made it, plus the powers the policy asked for ("any" when none: the report says).
        verdict_json=msgspec.json.encode({**msgspec.to_builtins(verdict), "required_powers": list(powers)}).decode(),
        warning=warning,
    )


def missing_outcome(mode: Mode, who: str) -> PoaOutcome:
    text = NO_POA_WARNING + (f" ({who})" if who else "")
    return PoaOutcome(poa_id=None, policy=mode, status="missing", summary=text, warning=text)


def head_outcome(mode: Mode) -> PoaOutcome:
    return PoaOutcome(poa_id=None, policy=mode, status="head", summary=HEAD_SUMMARY)


def day_text(iso: str) -> str:
    """``2026-03-01`` as people read it: ``01.03.2026`` (anything else as it is)."""
    try:
        return dt.date.fromisoformat(iso).strftime("%d.%m.%Y")
    except ValueError:
        return iso


def shown(entry: poa_store.SignaturePoa | None) -> dict[str, Any] | None:
    """An МЧД verdict as the pages and the reports give it (JSON-able), or None when nothing was looked at."""
    if entry is None:
        return None
    checks = entry.verdict.get("checks") or []
    return {
        "status": entry.status,
        "status_text": STATUS_WORDS.get(entry.status, ""),
        "policy": entry.policy,
        "summary": entry.summary,
        "number": entry.number,
        "principal_name": entry.principal_name,
        "principal_inn": entry.principal_inn,
        "valid_from": entry.valid_from,
        "valid_until": entry.valid_until,
        "valid_from_text": day_text(entry.valid_from),
        "valid_until_text": day_text(entry.valid_until),
        "file_name": entry.file_name,
        "checks": [
            {"name": c.get("name", ""), "status": c.get("status", ""), "message": c.get("message", "")}
            for c in checks
            if isinstance(c, dict)
        ],
        "required_powers": list(entry.verdict.get("required_powers") or []),
        "registry_checked": bool(entry.verdict.get("registry_checked")),
    }


def counterparty_identity(mismatch: str | None, poa: PoaOutcome | None, *, refuse: bool) -> str | None:
    """The counterparty's identity problem once its МЧД is known.

    A person's certificate never carries the company's ИНН, so the ИНН check of
    :func:`.identity.check_counterparty` cannot pass for it: an МЧД whose principal is the CRM company, signed by its
    head, for this very person, stands in for it (under ``warn`` such an МЧД may still be short of valid, e.g. its
    registry status unknown: that is the МЧД's warning, not an identity problem). Without such an МЧД, the refusal
    under ``counterparty_identity_mismatch = "refuse"`` is about the МЧД (``poa_missing`` / ``poa_invalid``: the
    public page then asks for it), not "another organisation"; under "warn" the mismatch stays the warning it was
    (the МЧД's verdict is another). The head's certificate, and the policy ``off``, leave the identity check as it
    is."""
    if not mismatch or poa is None or poa.status == "head":
        return mismatch
    if poa.status == "valid" or poa.identity_ok:
        return None  # the МЧД names this person for the CRM company; what else it lacks is its own warning
    if refuse:
        code = "poa_missing" if poa.status == "missing" else "poa_invalid"
        why = "МЧД не приложена" if poa.status == "missing" else poa.warning or poa.summary
        raise SignatureRefused(
            code,
            "Подпись не принята: она сделана сертификатом сотрудника, а не руководителя организации, и право "
            f"подписывать за организацию не подтверждено — {why}. Приложите МЧД, выданную организацией "
            "(XML и файл её подписи .sig), вместе с подписью.",
            {"checks": [code]},
        )
    return mismatch  # "warn": both the mismatch and the МЧД's verdict become the document's warnings


async def own_company_inns(settings: Settings, own_inns: OwnInns | None) -> frozenset[str]:
    """Our company's ИНН: ``[policy] company_inn`` and the requisites of the portal's own companies (when the
    portal answers: a portal that does not leaves only the configured ones, and the check says what it knows)."""
    configured = frozenset(i.strip() for i in settings.policy.company_inn if i.strip())
    if own_inns is None:
        return configured
    try:
        return configured | await own_inns()
    except Exception as exc:  # PortalMissing, Bitrix24Error, the network: the МЧД check goes on without them
        log.warning("own company requisites unavailable for the МЧД check: %s", type(exc).__name__)
        return configured


async def judge(
    *,
    db: Any,
    settings: Settings,
    context: ValidationContext,
    registry: Any,
    own_inns: OwnInns | None,
    kind: Literal["internal", "counterparty"],
    user_id: int | None,
    doc: DocumentRow,
    sig: SignatureResult,
    cms: bytes,
) -> PoaOutcome | None:
    """The МЧД outcome of one signature under its side's policy; None under ``off``.

    Raises :class:`.signature_refusal.SignatureRefused` under ``require`` when the МЧД is missing or short of
    valid: ``accept_signature`` lets it through as the signature's refusal."""
    mode: Mode = settings.policy.internal_poa if kind == "internal" else settings.policy.counterparty_poa
    if mode == "off":
        return None
    cert_info = sig.certificate
    registered_der: bytes | None = None
    rows: list[poa_store.PoaRow] = []
    if kind == "internal" and user_id is not None and cert_info is not None:
        issuer, serial = cert_info.issuer, cert_info.serial
        rows, registered_der = await db.read(
            lambda d: (
                poa_store.for_signer_certificate(d, user_id=user_id, issuer=issuer, serial=serial),
                poa_store.registered_der(d, user_id=user_id, issuer=issuer, serial=serial),
            )
        )
    elif kind == "counterparty":
        kept = await db.read(lambda d: poa_store.of_document(d, doc.id))
        rows = [kept] if kept is not None else []
    certificate = await asyncio.to_thread(signer_certificate, cms, registered_der)
    if certificate is None:
        # Verification accepted the signature, so its certificate was somewhere; without it nothing is judged.
        if mode == "require":
            raise SignatureRefused(
                "poa_unverifiable", "Подпись не принята: не найден сертификат подписанта, чтобы проверить МЧД."
            )
        return None
    if await asyncio.to_thread(is_head, certificate):
        return head_outcome(mode)
    signer = sig.signer
    who = (signer.common_name or "") if signer is not None else ""
    signing_time = _signing_time(sig)
    row = _in_force(rows, signing_time.date().isoformat())
    if row is None:
        if mode == "require":
            where = (
                "Загрузите МЧД (XML и файл подписи .sig) на странице «Мои сертификаты» для этого сертификата."
                if kind == "internal"
                else "Приложите МЧД (XML и файл подписи .sig) вместе с подписью."
            )
            raise SignatureRefused(
                "poa_missing",
                f"Подпись не принята: сертификат сотрудника{f' ({who})' if who else ''} — не руководителя "
                f"организации — требует машиночитаемой доверенности (МЧД), а она не приложена. {where}",
                {"checks": ["poa_missing"]},
            )
        return missing_outcome(mode, who)
    files = await db.read(lambda d: poa_store.poa_bytes(d, row.id))
    assert files is not None, "the row was read just now and rows are never deleted"
    xml, poa_sig = files
    if kind == "counterparty":
        principal = doc.counterparty_inn.strip() or None
    else:
        principal = expected_inn(await own_company_inns(settings, own_inns), row.principal_inn)
    powers = required_powers(settings, doc)
    verdict = await asyncio.to_thread(
        run_check,
        xml,
        poa_sig,
        certificate=certificate,
        signing_time=signing_time,
        principal_inn=principal,
        powers=powers,
        context=context,
        registry=(registry or registry_for(settings)) if settings.mchd.registry_check else None,
        accept_revocation_unknown=settings.trust.revocation == "warn",
    )
    if verdict.status != "valid" and mode == "require":
        raise SignatureRefused(
            "poa_invalid",
            refusal_text(row.number, verdict),
            {"checks": [c.name for c in verdict.checks if c.status != "ok"], "poa_id": row.id},
        )
    return verdict_outcome(mode, row, verdict, powers)
