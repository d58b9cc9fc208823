"""The one vocabulary of verdict headlines: what every page, e-mail, report and CLI says a signature is.

A lawyer or an auditor reads "valid" as "legally valid", so a headline is never stronger than what was checked
(ETSI EN 319 102-1: TOTAL-PASSED, TOTAL-FAILED with a sub-indication, INDETERMINATE). The words live here, in
cades, because the library's own reports and CLI use them and the server (which may import cades, never the
other way round) renders its pages, e-mails and ZIP reports with the same words. Two cases are easy to dress
up as success and are therefore named in the headline itself: a signature the workflow accepted under the
``[trust] revocation = "warn"`` policy although its revocation status is unknown, and a "valid" result whose
revocation status was never checked (older stored results, a verification given no revocation material).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from .result import (
    REASONS,
    RevocationSource,
    SignatureResult,
    Status,
    VerificationResult,
    only_revocation_unknown,
)

__all__ = [
    "EXIT_CODES",
    "SUB_INDICATIONS",
    "Headline",
    "TimeText",
    "Tone",
    "checked_lines",
    "document_headline",
    "exit_code",
    "revocation_line",
    "revocation_source_text",
    "ru_time",
    "signature_headline",
    "signing_time_text",
]

# The colour a verdict is shown in: valid green, invalid red, everything undecided amber (never green).
Tone = Literal["valid", "invalid", "indeterminate"]

# CLI exit codes by tone; 2 stays "unusable input or usage" (cades.cli).
EXIT_CODES: Final[dict[Tone, int]] = {"valid": 0, "invalid": 1, "indeterminate": 3}

# reason code -> (ETSI EN 319 102-1 sub-indication, the headline's words after the colon).
# The order is the priority: the first code present decides the headline, the others are listed as reasons.
SUB_INDICATIONS: Final[dict[str, tuple[str, str]]] = {
    "revoked": ("REVOKED", "сертификат отозван"),
    "digest_mismatch": ("HASH_FAILURE", "документ изменён после подписания"),
    "bad_signature": ("SIG_CRYPTO_FAILURE", "значение подписи неверно"),
    "cert_hash_mismatch": ("SIG_CONSTRAINTS_FAILURE", "подменён сертификат подписанта"),
    "bad_certificate_signature": ("CERTIFICATE_CHAIN_GENERAL_FAILURE", "подпись удостоверяющего центра неверна"),
    "expired": ("EXPIRED", "срок действия сертификата истёк"),
    "not_yet_valid": ("NOT_YET_VALID", "сертификат ещё не действовал"),
    "bad_timestamp": ("SIG_CONSTRAINTS_FAILURE", "штамп времени неверен"),
    "not_a_ca": ("CHAIN_CONSTRAINTS_FAILURE", "сертификат выдан не удостоверяющим центром"),
    "key_usage": ("CHAIN_CONSTRAINTS_FAILURE", "сертификат не предназначен для подписи"),
    "content_type_mismatch": ("FORMAT_FAILURE", "структура подписи нарушена"),
    "content_type_not_data": ("FORMAT_FAILURE", "структура подписи нарушена"),
    "malformed": ("FORMAT_FAILURE", "структура подписи повреждена"),
    "revoked_no_poe": ("REVOKED_NO_POE", "сертификат отозван, время подписания не подтверждено"),
    "untrusted_root": ("NO_CERTIFICATE_CHAIN_FOUND", "сертификат выдан недоверенным удостоверяющим центром"),
    "chain_incomplete": ("NO_CERTIFICATE_CHAIN_FOUND", "цепочка сертификатов неполная"),
    "no_signer_certificate": ("NO_SIGNING_CERTIFICATE_FOUND", "нет сертификата подписанта"),
    "revocation_unknown": ("TRY_LATER", "статус отзыва сертификата неизвестен"),
    "unsupported_algorithm": ("CRYPTO_CONSTRAINTS_FAILURE", "алгоритм не поддерживается"),
    "no_content": ("SIGNED_DATA_NOT_FOUND", "подписанный документ не передан"),
}

_TITLE: Final[dict[Status, str]] = {
    "valid": "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА",
    "invalid": "ПОДПИСЬ НЕДЕЙСТВИТЕЛЬНА",
    "indeterminate": "ПОДПИСЬ НЕ ПОДТВЕРЖДЕНА",
}
_SHORT: Final[dict[Status, str]] = {
    "valid": "Подпись действительна",
    "invalid": "Подпись недействительна",
    "indeterminate": "Подпись не подтверждена",
}
ACCEPTED_TITLE: Final = "ПОДПИСЬ ПРИНЯТА БЕЗ ПРОВЕРКИ ОТЗЫВА"
ACCEPTED_SHORT: Final = "Принята без проверки отзыва"
ACCEPTED_TEXT: Final = (
    "подпись математически верна, сертификат действовал, но статус отзыва сертификата проверить не удалось; "
    "подпись принята по правилу организации, разрешающему приём без проверки отзыва"
)
UNCHECKED_TITLE: Final = "ПОДПИСЬ ВЕРНА, ОТЗЫВ НЕ ПРОВЕРЯЛСЯ"
UNCHECKED_SHORT: Final = "Верна, отзыв не проверялся"
UNCHECKED_TEXT: Final = (
    "подпись математически верна и цепочка доходит до доверенного удостоверяющего центра, но статус отзыва "
    "сертификата не проверялся: действительность подписи не подтверждена"
)
VALID_TEXT: Final = (
    "подпись математически верна, документ не изменён, сертификат действовал на момент подписания, выдан "
    "доверенным удостоверяющим центром и не отозван"
)

REVOCATION_STATE: Final[dict[str, str]] = {
    "good": "не отозван",
    "revoked": "ОТОЗВАН",
    "unknown": "неизвестен: проверить не удалось",
    "not_checked": "не проверялся",
}
_ORIGIN: Final[dict[str, str]] = {
    "embedded": "из самой подписи (CAdES-X Long / CAdES-A)",
    "supplied": "из файла, указанного администратором",
    "network": "загружен при проверке",
    "cache": "из кэша сервера",
}


@dataclass(frozen=True)
class Headline:
    """What a verdict is called where it is shown: ``title`` in the headline (upper case), ``short`` on a badge,
    ``text`` the one sentence saying what was (not) established, ``tone`` the colour."""

    status: Status
    tone: Tone
    title: str
    short: str
    text: str
    sub_indication: str = ""
    accepted_without_revocation: bool = False

    @property
    def line(self) -> str:
        """The headline as one line: the first line of every text report."""
        return f"{self.title}: {self.text}"


def ru_time(value: dt.datetime | None) -> str:
    """The library's own way to show a moment: UTC, named. A server shows its users' zone instead, by passing
    its own :data:`TimeText` to the functions below."""
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%d.%m.%Y %H:%M:%S UTC")


# How a moment is shown in a report's lines ("—" for None); ru_time unless the caller has its users' zone.
TimeText = Callable[[dt.datetime | None], str]


def _deciding_reason(sig: SignatureResult) -> str | None:
    """The reason that names the verdict: the most serious code that forces the signature's own status."""
    forcing = [r for r in sig.reasons if REASONS.get(r, ("indeterminate", ""))[0] == sig.status]
    candidates = forcing or list(sig.reasons)
    for code in SUB_INDICATIONS:
        if code in candidates:
            return code
    return candidates[0] if candidates else None


def _revocation_checked(sig: SignatureResult) -> bool:
    """Known good, or nothing to check: a signer certificate that is itself a trust anchor is trusted as such,
    the way a root is (no one above it publishes its revocation)."""
    cert = sig.certificate
    if cert is None:
        return False
    return cert.revocation == "good" or (len(cert.chain) == 1 and cert.chain[0].trusted)


def signature_headline(sig: SignatureResult, *, accepted: bool = False) -> Headline:
    """The headline of one signature. ``accepted``: the workflow took it (a stored signature), so an
    ``indeterminate`` one held back only by an unknown revocation status was accepted under the ``warn`` policy
    and is called exactly that."""
    if sig.status == "valid":
        if not _revocation_checked(sig):
            return Headline(
                status="valid", tone="indeterminate", title=UNCHECKED_TITLE, short=UNCHECKED_SHORT, text=UNCHECKED_TEXT
            )
        return Headline(status="valid", tone="valid", title=_TITLE["valid"], short=_SHORT["valid"], text=VALID_TEXT)
    if accepted and only_revocation_unknown(sig):
        return Headline(
            status="indeterminate",
            tone="indeterminate",
            title=ACCEPTED_TITLE,
            short=ACCEPTED_SHORT,
            text=ACCEPTED_TEXT,
            sub_indication="TRY_LATER",
            accepted_without_revocation=True,
        )
    code = _deciding_reason(sig)
    sub, words = SUB_INDICATIONS.get(code or "", ("GENERIC", ""))
    explanation = REASONS[code][1] if code in REASONS else "подпись не удалось проверить до конца"
    tone: Tone = "invalid" if sig.status == "invalid" else "indeterminate"
    title = _TITLE[sig.status] + (f": {words.upper()}" if words else "")
    return Headline(
        status=sig.status,
        tone=tone,
        title=title,
        short=_SHORT[sig.status] + (f": {words}" if words else ""),
        text=explanation,
        sub_indication=sub,
    )


def document_headline(result: VerificationResult, *, accepted: bool = False) -> Headline:
    """The headline of a CMS document: its one signature's, or for several the worst one's, named by number."""
    heads = [signature_headline(s, accepted=accepted) for s in result.signatures]
    if not heads:
        return Headline(
            status="indeterminate",
            tone="indeterminate",
            title="ПОДПИСЕЙ НЕТ",
            short="Подписей нет",
            text="в файле нет ни одной подписи",
            sub_indication="SIGNED_DATA_NOT_FOUND",
        )
    if len(heads) == 1:
        return heads[0]
    rank = {"valid": 0, "indeterminate": 1, "invalid": 2}
    worst = max(range(len(heads)), key=lambda i: (rank[heads[i].tone], not heads[i].accepted_without_revocation))
    head = heads[worst]
    if head.tone == "valid":
        return Headline(
            status="valid",
            tone="valid",
            title="ВСЕ ПОДПИСИ ДЕЙСТВИТЕЛЬНЫ",
            short="Все подписи действительны",
            text=f"подписей: {len(heads)}; каждая: {VALID_TEXT}",
        )
    number = result.signatures[worst].index + 1
    return Headline(
        status=result.status,
        tone=head.tone,
        title=f"{head.title} (подпись № {number} из {len(heads)})",
        short=head.short,
        text=head.text,
        sub_indication=head.sub_indication,
        accepted_without_revocation=head.accepted_without_revocation,
    )


def exit_code(head: Headline) -> int:
    """The CLI's exit code for what the headline says: 0 valid, 1 invalid, 3 indeterminate."""
    return EXIT_CODES[head.tone]


def revocation_source_text(src: RevocationSource, time_text: TimeText = ru_time) -> str:
    """Where a revocation status came from, so an auditor can ask for the same CRL or OCSP answer."""
    if src.kind == "ocsp":
        parts = [f"OCSP: служба {src.location or '—'}"]
        if src.issuer:
            parts.append(f"ответ подписан {src.issuer}")
        parts.append(f"producedAt {time_text(src.produced_at)}")
        if src.this_update:
            parts.append(f"thisUpdate {time_text(src.this_update)}")
    else:
        parts = [f"CRL {src.location or '—'}"]
        if src.issuer:
            parts.append(f"издатель {src.issuer}")
        parts.append(f"thisUpdate {time_text(src.this_update)}")
        if src.next_update:
            parts.append(f"nextUpdate {time_text(src.next_update)}")
        if src.delta:
            parts.append("с разностным (delta) CRL")
    parts.append(_ORIGIN.get(src.origin, src.origin))
    return ", ".join(parts)


def revocation_line(
    state: str, source: RevocationSource | None, when: dt.datetime | None = None, time_text: TimeText = ru_time
) -> str:
    """A certificate's revocation status and its source in one line."""
    text = REVOCATION_STATE.get(state, state)
    if state == "revoked" and when is not None:
        text += f" ({time_text(when)})"
    if source is not None:
        text += f" — по данным: {revocation_source_text(source, time_text)}"
    elif state in ("good", "revoked"):
        text += " — источник не указан"
    return text


def signing_time_text(sig: SignatureResult, time_text: TimeText = ru_time) -> str:
    """The signing time with its source: trusted (a CAdES-T time-stamp) or only claimed by the signer."""
    if sig.signing_time_source == "timestamp":
        return f"{time_text(sig.signing_time)} — по штампу времени (CAdES-T), доверенное"
    if sig.signing_time_source == "signed_attribute":
        return f"{time_text(sig.signing_time)} — заявленное подписантом, не подтверждено штампом времени"
    return "не указано (проверено на момент проверки)"


def checked_lines(sig: SignatureResult, time_text: TimeText = ru_time) -> list[tuple[str, str]]:
    """What was checked, as (label, value) rows every report shows right under the headline."""
    rows = [
        (
            "Математическая проверка",
            "подпись верна, документ не изменён"
            if sig.intact
            else "НЕ ПРОЙДЕНА"
            + ("" if sig.signature_valid is not False else ": значение подписи неверно")
            + ("" if sig.digest_valid is not False else ": хэш документа не совпадает"),
        ),
        ("Время подписания", signing_time_text(sig, time_text)),
    ]
    cert = sig.certificate
    if cert is not None:
        anchor = next((e.subject for e in cert.chain if e.trusted), "")
        rows.append(
            (
                "Доверие к сертификату",
                f"цепочка доходит до доверенного корневого сертификата {anchor}"
                if anchor
                else "цепочка не доходит до доверенного корневого сертификата",
            )
        )
        revocation = revocation_line(cert.revocation, cert.revocation_source, cert.revocation_time, time_text)
        rows.append(("Отзыв сертификата", revocation))
    else:
        rows.append(("Сертификат", "не найден"))
    return rows
