"""Checking an МЧД for one signature: every check is a value (:class:`PoaCheck`), the verdict their sum.

The МЧД's own signature goes through :func:`cades.verify.verify_cms` with the caller's
:class:`~cades.validation.ValidationContext`, the path documents take, so trust anchors, revocation sources and the
validation time apply to it exactly as to the document; nothing here has a second, weaker notion of "verified".
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Final

import msgspec

from .model import Poa, PoaCheck, PoaFormatError, PoaPerson, PoaVerdict, overall, ru_date
from .registry import RegistryClient

if TYPE_CHECKING:
    from asn1crypto import x509

    from ..result import SignatureResult, SignerIdentity
    from ..validation import ValidationContext

__all__ = ["MOSCOW", "check_poa", "is_head_certificate"]

# МЧД dates are calendar dates of the Russian issuer; a signing moment is compared with them in Moscow time
# (UTC+3 all year since 2014): a document signed at 01:00 on the first day of validity, Moscow time, is in time.
MOSCOW: Final = dt.timezone(dt.timedelta(hours=3), "MSK")
NOT_CHECKED: Final = "статус в реестре ФНС не проверен"


def is_head_certificate(cert: x509.Certificate) -> bool:
    """Whether ``cert`` is an organisation's (ИНН ЮЛ or ОГРН in the subject) or an entrepreneur's (ОГРНИП): such a
    certificate names the principal itself, its holder signs without an МЧД. A person's certificate (СНИЛС and ИНН
    ФЛ only) signs for a company only with one."""
    from ..certs import facts

    identity = facts(cert).info.identity
    return bool(identity.get("innle") or identity.get("ogrn") or identity.get("ogrnip"))


def check_poa(
    xml: bytes,
    signature: bytes,
    *,
    signer_certificate: x509.Certificate,
    signing_time: dt.datetime | None,
    expected_principal_inn: str | None,
    required_powers: tuple[str, ...],
    context: ValidationContext,
    registry: RegistryClient | None,
    accept_revocation_unknown: bool = False,
) -> PoaVerdict:
    """Check the МЧД ``xml`` (raw bytes, as signed) with its detached CMS ``signature`` for a document signature
    made with ``signer_certificate`` at ``signing_time``.

    ``expected_principal_inn``: the company's ИНН in the CRM (None: the CRM has none, the check is "unknown").
    ``required_powers``: power codes the document type needs (empty: any). ``registry``: None skips the ФНС
    registry (the check says «статус в реестре ФНС не проверен»). ``accept_revocation_unknown``: the server's
    ``[trust] revocation = "warn"`` policy — an МЧД signature undecided only by an unknown revocation status then
    counts as checked, as a document signature would. Never raises for a bad МЧД: an unreadable one is a verdict
    with the one failed check ``format``."""
    from ..certs import facts

    try:
        from .xml import read_poa

        poa = read_poa(xml)
    except PoaFormatError as exc:
        return PoaVerdict(
            poa=None, status="invalid", checks=(PoaCheck(name="format", status="failed", message=exc.message),)
        )
    holder = facts(signer_certificate).info.identity
    sig_check, poa_signature = _signature(xml, signature, context, accept_revocation_unknown)
    checks = [
        sig_check,
        _issuer(poa, poa_signature),
        _validity(poa, signing_time),
        _representative(poa, holder),
        _principal(poa, expected_principal_inn),
        _powers(poa, required_powers),
    ]
    registry_check = _registry(poa, registry, signing_time)
    checks.append(registry_check)
    frozen = tuple(checks)
    return PoaVerdict(
        poa=poa,
        status=overall(frozen),
        checks=frozen,
        registry_checked=registry is not None and registry_check.status != "unknown",
        signature=poa_signature,
    )


# --- the checks -------------------------------------------------------------------------------------------


def _signature(
    xml: bytes, signature: bytes, context: ValidationContext, accept_revocation_unknown: bool
) -> tuple[PoaCheck, SignatureResult | None]:
    from ..asn1 import MalformedInput
    from ..result import only_revocation_unknown
    from ..verdicts import signature_headline
    from ..verify import verify_cms

    try:
        result = verify_cms(signature, xml, context=context)
    except MalformedInput as exc:
        return PoaCheck(name="signature", status="failed", message=f"файл подписи МЧД не читается: {exc}"), None
    if result.attached:
        # The ФНС format is a detached signature over the file; an attached one may carry other bytes.
        return PoaCheck(
            name="signature", status="failed", message="подпись МЧД присоединённая: нужна отсоединённая (.sig)"
        ), None
    if len(result.signatures) != 1:
        return PoaCheck(
            name="signature",
            status="failed",
            message=f"в подписи МЧД {len(result.signatures)} подписантов, ожидается один — руководитель доверителя",
        ), None
    sig = result.signatures[0]
    text = signature_headline(sig).text
    if sig.status == "valid":
        return PoaCheck(name="signature", status="ok", message=f"подпись МЧД действительна: {text}"), sig
    if sig.status == "invalid":
        return PoaCheck(name="signature", status="failed", message=f"подпись МЧД недействительна: {text}"), sig
    if accept_revocation_unknown and only_revocation_unknown(sig):
        return PoaCheck(
            name="signature",
            status="ok",
            message="подпись МЧД верна; статус отзыва сертификата не проверен, принято по политике «revocation = warn»",
        ), sig
    return PoaCheck(name="signature", status="unknown", message=f"подпись МЧД не подтверждена: {text}"), sig


def _person_text(full_name: str, snils: str, inn: str) -> str:
    marks = [f"СНИЛС {_snils_text(snils)}" if snils else "", f"ИНН {inn}" if inn else ""]
    extra = ", ".join(m for m in marks if m)
    return f"{full_name or 'без имени'}" + (f" ({extra})" if extra else "")


def _snils_text(digits: str) -> str:
    if len(digits) != 11:
        return digits
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:9]} {digits[9:]}"


def _digits(value: str | None) -> str:
    return "".join(ch for ch in (value or "") if ch.isdigit())


def _holder_name(identity: SignerIdentity | dict[str, str]) -> str:
    """«Фамилия Имя Отчество» from a certificate's identity (a cades.result value or cades.certs' dict)."""
    fields = identity if isinstance(identity, dict) else msgspec.structs.asdict(identity)
    name = " ".join(p for p in (fields.get("surname"), fields.get("given_name")) if p)
    return name or fields.get("common_name") or ""


def _same_person(person: PoaPerson, snils: str, inn: str, *, snils_required: bool = False) -> bool:
    """СНИЛС decides when both sides have it; otherwise ИНН ФЛ. ``snils_required``: a СНИЛС the МЧД gives must be
    in the certificate too (the representative: the certificate is the person the МЧД names by СНИЛС)."""
    if person.snils and snils:
        return person.snils == snils
    if person.snils and snils_required:
        return False
    return bool(person.inn and inn and person.inn == inn)


def _carries_principal(poa: Poa, who: SignerIdentity) -> bool:
    """Whether the certificate is the principal's: its ИНН ЮЛ or ОГРН is the principal's and neither names another
    organisation. Certificates issued before 2021 carry ИНН ЮЛ in the ИНН attribute as «00» + 10 digits; an
    entrepreneur's carries ОГРНИП and the ИП's own ИНН."""
    principal = poa.principal
    innle = who.innle or (who.inn[2:] if who.inn and len(who.inn) == 12 and who.inn.startswith("00") else None)
    if principal.kpp:  # an organisation
        ids = {(innle, principal.inn), (who.ogrn, principal.ogrn)}
    else:  # an entrepreneur: ОГРНИП and the person's ИНН
        ids = {(who.ogrnip, principal.ogrn), (who.inn, principal.inn)}
    present = [(mine, theirs) for mine, theirs in ids if mine and theirs]
    return bool(present) and all(mine == theirs for mine, theirs in present)


def _issuer(poa: Poa, sig: SignatureResult | None) -> PoaCheck:
    if sig is None or sig.signer is None:
        return PoaCheck(
            name="issuer",
            status="unknown",
            message="сертификат подписавшего МЧД не найден: кто её подписал, неизвестно",
        )
    who = sig.signer
    snils, inn = _digits(who.snils), who.inn or ""
    signer_text = _person_text(_holder_name(who), snils, inn)
    head = next((h for h in poa.principal.heads if _same_person(h, snils, inn)), None)
    if head is None:
        heads = "; ".join(_person_text(h.full_name, h.snils, h.inn) for h in poa.principal.heads) or "никто"
        return PoaCheck(
            name="issuer",
            status="failed",
            message=f"МЧД подписана сертификатом {signer_text}, а без доверенности за доверителя действует "
            f"только {heads} (ЛицоБезДов)",
        )
    principal = poa.principal
    if not _carries_principal(poa, who):
        shown = ", ".join(
            f"{label} {value}"
            for label, value in (("ИНН ЮЛ", who.innle), ("ОГРН", who.ogrn), ("ОГРНИП", who.ogrnip))
            if value
        )
        return PoaCheck(
            name="issuer",
            status="failed",
            message=f"сертификат подписавшего МЧД ({signer_text}) не принадлежит доверителю: в нём "
            f"{shown or 'нет ИНН ЮЛ и ОГРН'}, а доверитель — ИНН {principal.inn or '—'}, ОГРН {principal.ogrn or '—'}",
        )
    position = f", {head.position.lower()}" if head.position else ""
    return PoaCheck(
        name="issuer",
        status="ok",
        message=f"{_person_text(head.full_name, head.snils, head.inn)}{position}, указан в МЧД как действующий без "
        "доверенности; в его сертификате ИНН ЮЛ/ОГРН доверителя",
    )


def _validity(poa: Poa, signing_time: dt.datetime | None) -> PoaCheck:
    span = f"с {ru_date(poa.issued)} по {ru_date(poa.valid_until)}"
    if signing_time is None:
        return PoaCheck(name="validity", status="unknown", message=f"время подписания неизвестно; МЧД действует {span}")
    moment = signing_time if signing_time.tzinfo is not None else signing_time.replace(tzinfo=dt.UTC)
    day = moment.astimezone(MOSCOW).date()
    when = moment.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M МСК")
    if day < poa.issued:
        return PoaCheck(
            name="validity",
            status="failed",
            message=f"подпись сделана {when}, до выдачи МЧД ({span}): МЧД ещё не действовала",
        )
    if day > poa.valid_until:
        return PoaCheck(
            name="validity",
            status="failed",
            message=f"подпись сделана {when}, после окончания срока МЧД ({span}): срок действия истёк",
        )
    return PoaCheck(name="validity", status="ok", message=f"подпись сделана {when}, МЧД действует {span}")


def _representative(poa: Poa, holder: dict[str, str]) -> PoaCheck:
    snils, inn = _digits(holder.get("snils")), holder.get("inn", "")
    holder_text = _person_text(_holder_name(holder), snils, inn)
    if not snils and not inn:
        return PoaCheck(
            name="representative",
            status="failed",
            message=f"в сертификате подписанта ({holder_text}) нет ни СНИЛС, ни ИНН: "
            "сверить его с представителем нельзя",
        )
    match = next((p for p in poa.representatives if _same_person(p, snils, inn, snils_required=True)), None)
    if match is None:
        named = "; ".join(_person_text(p.full_name, p.snils, p.inn) for p in poa.representatives)
        return PoaCheck(
            name="representative",
            status="failed",
            message=f"подписант {holder_text} не указан представителем в МЧД (представитель: {named})",
        )
    if match.inn and inn and match.inn != inn:
        return PoaCheck(
            name="representative",
            status="failed",
            message=f"СНИЛС подписанта совпадает с представителем, а ИНН нет: в МЧД {match.inn}, в сертификате {inn}",
        )
    if not poa.may_sign_alone():
        return PoaCheck(
            name="representative",
            status="unknown",
            message=f"подписант — представитель {_person_text(match.full_name, match.snils, match.inn)}, но "
            f"полномочия совместные ({len(poa.representatives)} представителя): один он подписывать не может",
        )
    return PoaCheck(
        name="representative",
        status="ok",
        message=f"{_person_text(match.full_name, match.snils, match.inn)} — представитель по МЧД; СНИЛС"
        + (" и ИНН совпадают" if match.inn and inn else " совпадает")
        + " с сертификатом подписанта",
    )


def _principal(poa: Poa, expected_inn: str | None) -> PoaCheck:
    principal = poa.principal
    shown = f"{principal.name} (ИНН {principal.inn or '—'})"
    if expected_inn is None or not expected_inn.strip():
        return PoaCheck(
            name="principal",
            status="unknown",
            message=f"в CRM не указан ИНН организации: доверителя {shown} не с чем сверить",
        )
    if _digits(expected_inn) != principal.inn:
        return PoaCheck(
            name="principal",
            status="failed",
            message=f"доверитель в МЧД — {shown}, а ИНН организации в CRM {expected_inn.strip()}",
        )
    return PoaCheck(name="principal", status="ok", message=f"доверитель {shown}: ИНН совпадает с ИНН организации в CRM")


def _powers(poa: Poa, required: tuple[str, ...]) -> PoaCheck:
    if not required:
        return PoaCheck(
            name="powers",
            status="ok",
            message="для этого вида документа требуются любые полномочия (требования не заданы)",
        )
    have = poa.power_codes()
    missing = [code for code in required if code not in have]
    wanted = ", ".join(required)
    if not missing:
        return PoaCheck(name="powers", status="ok", message=f"в МЧД есть требуемые полномочия: {wanted}")
    if any(not p.code for p in poa.powers):
        return PoaCheck(
            name="powers",
            status="unknown",
            message=f"в МЧД нет кодов полномочий {', '.join(missing)}, а полномочия текстом (ТекстПолн) "
            "машина не сверяет: проверьте их вручную",
        )
    return PoaCheck(name="powers", status="failed", message=f"в МЧД нет требуемых полномочий: {', '.join(missing)}")


def _registry(poa: Poa, registry: RegistryClient | None, signing_time: dt.datetime | None) -> PoaCheck:
    if registry is None:
        return PoaCheck(name="registry", status="unknown", message=f"{NOT_CHECKED}: проверка реестра выключена")
    answer = registry.status(poa.number)
    if answer.state == "active":
        return PoaCheck(name="registry", status="ok", message="в реестре ФНС МЧД действует")
    if answer.state == "expired":
        # The validity check decides about the signing time; the registry only confirms the МЧД was registered.
        return PoaCheck(
            name="registry", status="ok", message="в реестре ФНС срок действия МЧД истёк (зарегистрирована)"
        )
    if answer.state == "revoked":
        when = answer.status_date
        if when is not None and signing_time is not None and signing_time < when:
            return PoaCheck(
                name="registry",
                status="unknown",
                message=f"в реестре ФНС МЧД отменена {when.astimezone(MOSCOW).strftime('%d.%m.%Y %H:%M МСК')}, "
                "позже заявленного времени подписания: что подпись сделана до отмены, не доказано",
            )
        since = f" {when.astimezone(MOSCOW).strftime('%d.%m.%Y')}" if when is not None else ""
        return PoaCheck(name="registry", status="failed", message=f"в реестре ФНС МЧД отменена{since}")
    if answer.state in ("not_found", "rejected"):
        return PoaCheck(name="registry", status="failed", message=f"в реестре ФНС: {answer.text}")
    if answer.state == "pending":
        return PoaCheck(name="registry", status="unknown", message=f"в реестре ФНС МЧД {answer.text}")
    return PoaCheck(name="registry", status="unknown", message=f"{NOT_CHECKED}: {answer.text}")
