"""Render a :class:`~cades.result.VerificationResult` for people: Russian text, JSON, a printable HTML page.

The HTML is self-contained (inline CSS, no scripts, fonts or images from elsewhere) so that an auditor can
archive or print it offline; Jinja2 autoescaping is on because certificate names are attacker-chosen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

if TYPE_CHECKING:
    import jinja2

from .result import REASONS, WARNINGS, SignatureResult, VerificationResult
from .verdicts import (
    REVOCATION_STATE,
    Headline,
    TimeText,
    checked_lines,
    document_headline,
    revocation_line,
    ru_time,
    signature_headline,
)

if TYPE_CHECKING:
    from .poa import PoaVerdict

# The МЧД checked for each signature, by the signature's index in its result (issue 18): reports show it beside it.
PoaVerdicts = Mapping[int, "PoaVerdict"]

__all__ = ["headline_json", "render_html", "render_json", "render_text", "report_builtins"]

IDENTITY_LABELS: Final = (
    ("common_name", "Владелец (CN)"),
    ("surname", "Фамилия"),
    ("given_name", "Имя и отчество"),
    ("title", "Должность"),
    ("organization", "Организация"),
    ("organizational_unit", "Подразделение"),
    ("inn", "ИНН"),
    ("innle", "ИНН ЮЛ"),
    ("ogrn", "ОГРН"),
    ("ogrnip", "ОГРНИП"),
    ("snils", "СНИЛС"),
    ("email", "Эл. почта"),
    ("locality", "Населённый пункт"),
    ("subject_sign_tool", "Средство ЭП владельца"),
)
ALGORITHM_RU: Final = {
    "streebog256": "ГОСТ Р 34.11-2012 (256 бит)",
    "streebog512": "ГОСТ Р 34.11-2012 (512 бит)",
    "gost94": "ГОСТ Р 34.11-94",
    "gost3410_2012_256": "ГОСТ Р 34.10-2012 (256 бит)",
    "gost3410_2012_512": "ГОСТ Р 34.10-2012 (512 бит)",
    "gost3410_2001": "ГОСТ Р 34.10-2001",
    "gost3410_2012_256_streebog256": "ГОСТ Р 34.10-2012 (256 бит) с ГОСТ Р 34.11-2012",
    "gost3410_2012_512_streebog512": "ГОСТ Р 34.10-2012 (512 бит) с ГОСТ Р 34.11-2012",
    "gost3410_2001_gost94": "ГОСТ Р 34.10-2001 с ГОСТ Р 34.11-94",
}


_time = ru_time


def _identity_rows(sig: SignatureResult) -> list[tuple[str, str]]:
    if sig.signer is None:
        return []
    data = msgspec.structs.asdict(sig.signer)
    return [(label, str(data[key])) for key, label in IDENTITY_LABELS if data.get(key)]


def headline_json(head: Headline) -> dict[str, Any]:
    """A headline for machine readers: the same words the people see, with the ETSI names."""
    return {
        "status": head.status,
        "tone": head.tone,
        "title": head.title,
        "text": head.text,
        "sub_indication": head.sub_indication,
        "accepted_without_revocation": head.accepted_without_revocation,
    }


def report_builtins(
    result: VerificationResult, *, accepted: bool = False, poas: PoaVerdicts | None = None
) -> dict[str, Any]:
    """The result as JSON-able values with the headline first, for the document and for every signature; a
    signature checked with an МЧД carries it as ``poa`` (cades.poa.report.poa_builtins)."""
    data: dict[str, Any] = msgspec.to_builtins(result)
    for sig, sig_data in zip(result.signatures, data["signatures"], strict=True):
        sig_data["headline"] = headline_json(signature_headline(sig, accepted=accepted))
        if poas and sig.index in poas:
            from .poa.report import poa_builtins

            sig_data["poa"] = poa_builtins(poas[sig.index])
    return {"headline": headline_json(document_headline(result, accepted=accepted)), **data}


def render_json(result: VerificationResult, *, accepted: bool = False, poas: PoaVerdicts | None = None) -> bytes:
    data = report_builtins(result, accepted=accepted, poas=poas)
    return msgspec.json.format(msgspec.json.encode(data), indent=2) + b"\n"


def render_text(
    result: VerificationResult,
    *,
    document: str | None = None,
    accepted: bool = False,
    first_number: int = 1,
    poas: PoaVerdicts | None = None,
) -> str:
    """A readable Russian summary for the terminal; the first line is the headline.

    ``accepted``: the result is a signature the workflow accepted (the server's reports), see
    :func:`cades.verdicts.signature_headline`. ``first_number``: the number of its first signature when it is
    one of several signature files shown together (signatures are numbered across all of them). ``poas``: the МЧД
    checked for a signature (by its index), shown after it.
    """
    lines: list[str] = [document_headline(result, accepted=accepted).line]
    if document:
        lines.append(f"Документ: {document}")
    if result.content_size is not None:
        lines.append(f"Размер: {result.content_size} байт")
    if result.content_digest_streebog256:
        lines.append(f"ГОСТ Р 34.11-2012 (256): {result.content_digest_streebog256}")
    for n, sig in enumerate(result.signatures, start=first_number):
        head = signature_headline(sig, accepted=accepted)
        lines.append("")
        lines.append(f"Подпись № {n}: {head.title}")
        lines.append(f"  {head.text}" + (f" [{head.sub_indication}]" if head.sub_indication else ""))
        for label, value in checked_lines(sig):
            lines.append(f"  {label}: {value}")
        for label, value in _identity_rows(sig):
            lines.append(f"  {label}: {value}")
        if sig.certificate is not None:
            c = sig.certificate
            lines.append(f"  Сертификат: серийный номер {c.serial}")
            lines.append(f"  Издатель: {c.issuer}")
            lines.append(f"  Действует: с {_time(c.not_before)} по {_time(c.not_after)}")
            if c.chain:
                lines.append("  Цепочка:")
                for n, entry in enumerate(c.chain):
                    mark = " [доверенный]" if entry.trusted else ""
                    lines.append(f"    - {entry.subject}{mark}")
                    # The signer's own status is on the "Отзыв сертификата" line above; the CAs' are here.
                    if n > 0 and (entry.revocation != "not_checked" or entry.revocation_source is not None):
                        lines.append(f"      отзыв: {revocation_line(entry.revocation, entry.revocation_source)}")
        if sig.timestamp_authority:
            lines.append(f"  Служба штампов времени: {sig.timestamp_authority}")
        if sig.claimed_signing_time and sig.signing_time_source == "timestamp":
            lines.append(f"  Заявленное подписантом время: {_time(sig.claimed_signing_time)}")
        lines.append(f"  Проверено на момент: {_time(sig.validation_time)}")
        lines.append(
            "  Алгоритмы: "
            f"{ALGORITHM_RU.get(sig.digest_algorithm or '', sig.digest_algorithm or '—')}; "
            f"{ALGORITHM_RU.get(sig.signature_algorithm or '', sig.signature_algorithm or '—')}"
        )
        for code in sig.reasons:
            lines.append(f"  ! {REASONS[code][1] if code in REASONS else code} [{code}]")
        for code in sig.warnings:
            lines.append(f"  ~ {WARNINGS.get(code, code)} [{code}]")
        for detail in sig.details:
            lines.append(f"    {detail}")
        if poas and sig.index in poas:
            from .poa.report import poa_text_lines

            lines.append("  Машиночитаемая доверенность (МЧД):")
            lines.extend(poa_text_lines(poas[sig.index], indent="    "))
    return "\n".join(lines) + "\n"


_env: jinja2.Environment | None = None


def _environment() -> jinja2.Environment:
    import jinja2  # only the HTML report needs it: `klikdok verify`'s text report starts without it

    global _env
    if _env is None:
        _env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _env


def render_html(
    result: VerificationResult,
    *,
    document: str | None = None,
    accepted: bool = False,
    time_text: TimeText = _time,
    first_number: int = 1,
    poas: PoaVerdicts | None = None,
) -> str:
    """A self-contained, printable verification report; the headline on top, in its tone's colour.

    ``time_text`` shows every moment in it (UTC by default; the server passes its portal's zone);
    ``first_number`` numbers its signatures from there (several signature files in one report); ``poas``: the МЧД
    checked for a signature (by its index), shown in a section of its own under it."""
    from .poa.report import CHECK_STATUS_RU, POA_STATUS_RU, poa_about_rows

    template = _environment().get_template("verification_report.html")
    return template.render(
        result=result,
        document=document,
        headline=document_headline(result, accepted=accepted),
        signature_headline=lambda sig: signature_headline(sig, accepted=accepted),
        checked_lines=lambda sig: checked_lines(sig, time_text),
        revocation_line=lambda state, source: revocation_line(state, source, None, time_text),
        time_text=time_text,
        revocation_state=REVOCATION_STATE,
        reasons=REASONS,
        warnings=WARNINGS,
        algorithm_ru=ALGORITHM_RU,
        identity_rows=_identity_rows,
        generated=time_text(dt.datetime.now(dt.UTC)),
        first_number=first_number,
        poas=poas or {},
        poa_about_rows=poa_about_rows,
        poa_status=POA_STATUS_RU,
        check_status=CHECK_STATUS_RU,
    )
