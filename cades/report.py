"""Render a :class:`~cades.result.VerificationResult` for people: Russian text, JSON, a printable HTML page.

The HTML is self-contained (inline CSS, no scripts, fonts or images from elsewhere) so that an auditor can
archive or print it offline; Jinja2 autoescaping is on because certificate names are attacker-chosen.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

import jinja2
import msgspec

from .result import REASONS, WARNINGS, SignatureResult, VerificationResult

__all__ = ["render_html", "render_json", "render_text"]

STATUS_RU: Final = {
    "valid": "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА",
    "invalid": "ПОДПИСЬ НЕДЕЙСТВИТЕЛЬНА",
    "indeterminate": "СТАТУС НЕ ОПРЕДЕЛЁН",
}
DOC_STATUS_RU: Final = {
    "valid": "все подписи действительны",
    "invalid": "есть недействительные подписи",
    "indeterminate": "действительность подписей не удалось подтвердить",
}
TIME_SOURCE_RU: Final = {
    "timestamp": "штамп времени (CAdES-T), доверенное",
    "signed_attribute": "атрибут signingTime, заявлено подписантом",
    "none": "не указано",
}
REVOCATION_RU: Final = {
    "good": "не отозван (проверено по CRL)",
    "revoked": "ОТОЗВАН",
    "unknown": "неизвестен",
    "not_checked": "не проверялся",
}
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


def _time(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%d.%m.%Y %H:%M:%S UTC")


def _yes_no(value: bool | None) -> str:
    return {True: "да", False: "НЕТ", None: "не проверено"}[value]


def _identity_rows(sig: SignatureResult) -> list[tuple[str, str]]:
    if sig.signer is None:
        return []
    data = msgspec.structs.asdict(sig.signer)
    return [(label, str(data[key])) for key, label in IDENTITY_LABELS if data.get(key)]


def render_json(result: VerificationResult) -> bytes:
    return msgspec.json.format(msgspec.json.encode(result), indent=2) + b"\n"


def render_text(result: VerificationResult, *, document: str | None = None) -> str:
    """A readable Russian summary for the terminal."""
    lines: list[str] = []
    if document:
        lines.append(f"Документ: {document}")
    if result.content_size is not None:
        lines.append(f"Размер: {result.content_size} байт")
    if result.content_digest_streebog256:
        lines.append(f"ГОСТ Р 34.11-2012 (256): {result.content_digest_streebog256}")
    lines.append(f"Итог: {STATUS_RU[result.status]} ({DOC_STATUS_RU[result.status]})")
    for sig in result.signatures:
        lines.append("")
        lines.append(f"Подпись №{sig.index + 1}: {STATUS_RU[sig.status]}")
        lines.append(f"  Целостность: {_yes_no(sig.intact)} (подпись верна: {_yes_no(sig.signature_valid)}, "
                     f"хэш документа совпадает: {_yes_no(sig.digest_valid)})")  # fmt: skip
        for label, value in _identity_rows(sig):
            lines.append(f"  {label}: {value}")
        if sig.certificate is not None:
            c = sig.certificate
            lines.append(f"  Сертификат: серийный номер {c.serial}")
            lines.append(f"  Издатель: {c.issuer}")
            lines.append(f"  Действует: с {_time(c.not_before)} по {_time(c.not_after)}")
            lines.append(f"  Статус отзыва: {REVOCATION_RU.get(c.revocation, c.revocation)}")
            if len(c.chain) > 1:
                lines.append("  Цепочка:")
                for entry in c.chain:
                    mark = " [доверенный]" if entry.trusted else ""
                    lines.append(f"    - {entry.subject}{mark}")
        lines.append(f"  Время подписания: {_time(sig.signing_time)} ({TIME_SOURCE_RU[sig.signing_time_source]})")
        if sig.timestamp_authority:
            lines.append(f"  Служба штампов времени: {sig.timestamp_authority}")
        lines.append(f"  Проверено на момент: {_time(sig.validation_time)}")
        lines.append(
            "  Алгоритмы: "
            f"{ALGORITHM_RU.get(sig.digest_algorithm or '', sig.digest_algorithm or '—')}; "
            f"{ALGORITHM_RU.get(sig.signature_algorithm or '', sig.signature_algorithm or '—')}"
        )
        for code in sig.reasons:
            lines.append(f"  ! {REASONS[code][1]} [{code}]")
        for code in sig.warnings:
            lines.append(f"  ~ {WARNINGS.get(code, code)} [{code}]")
        for detail in sig.details:
            lines.append(f"    {detail}")
    return "\n".join(lines) + "\n"


_env: jinja2.Environment | None = None


def _environment() -> jinja2.Environment:
    global _env
    if _env is None:
        _env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _env.filters["ru_time"] = _time
        _env.filters["yes_no"] = _yes_no
    return _env


def render_html(result: VerificationResult, *, document: str | None = None) -> str:
    """A self-contained, printable verification report."""
    template = _environment().get_template("verification_report.html")
    return template.render(
        result=result,
        document=document,
        status_ru=STATUS_RU,
        doc_status_ru=DOC_STATUS_RU,
        time_source_ru=TIME_SOURCE_RU,
        revocation_ru=REVOCATION_RU,
        reasons=REASONS,
        warnings=WARNINGS,
        algorithm_ru=ALGORITHM_RU,
        identity_rows=_identity_rows,
        generated=_time(dt.datetime.now(dt.UTC)),
    )
