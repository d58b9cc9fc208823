"""An МЧД verdict in the words every report uses: rows (label, lines) that the text, HTML and PDF reports show beside
the signature the МЧД was checked for, and the JSON form.

One function decides what an МЧД section says (:func:`poa_rows`), so the CLI's text, the HTML report, the PDF
protocol and the server's pages cannot word the same verdict differently.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from .model import Poa, PoaPerson, PoaVerdict, ru_date

__all__ = ["CHECK_STATUS_RU", "POA_STATUS_RU", "poa_about_rows", "poa_builtins", "poa_rows", "poa_text_lines"]

POA_STATUS_RU: Final = {
    "valid": "МЧД действительна",
    "invalid": "МЧД недействительна",
    "indeterminate": "МЧД не подтверждена",
}
CHECK_STATUS_RU: Final = {"ok": "пройдена", "failed": "не пройдена", "unknown": "не проверена"}
_MARK: Final = {"ok": "+", "failed": "!", "unknown": "?"}
POWERS_SHOWN: Final = 12  # an МЧД may list dozens of powers; the rest are counted, the JSON has them all


def _snils(digits: str) -> str:
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:9]} {digits[9:]}" if len(digits) == 11 else digits


def _person(person: PoaPerson) -> str:
    marks = [f"СНИЛС {_snils(person.snils)}" if person.snils else "", f"ИНН {person.inn}" if person.inn else ""]
    extra = ", ".join(m for m in marks if m)
    position = f", {person.position}" if person.position else ""
    return f"{person.full_name}{position}" + (f" ({extra})" if extra else "")


def _principal(poa: Poa) -> str:
    p = poa.principal
    ids = [f"ИНН {p.inn}" if p.inn else "", f"КПП {p.kpp}" if p.kpp else "", f"ОГРН {p.ogrn}" if p.ogrn else ""]
    return p.name + (f" ({', '.join(i for i in ids if i)})" if any(ids) else "")


def _powers(poa: Poa) -> list[str]:
    lines = []
    for power in poa.powers[:POWERS_SHOWN]:
        text = f"{power.code} — {power.text}" if power.code else f"текстом: {power.text}"
        if power.limits:
            text += f" ({'; '.join(power.limits)})"
        lines.append(text)
    if len(poa.powers) > POWERS_SHOWN:
        lines.append(f"и ещё {len(poa.powers) - POWERS_SHOWN}")
    return lines or ["не указаны"]


def poa_about_rows(verdict: PoaVerdict) -> list[tuple[str, tuple[str, ...]]]:
    """What the МЧД says and who signed it."""
    rows: list[tuple[str, tuple[str, ...]]] = []
    poa = verdict.poa
    if poa is not None:
        number = f"№ {poa.number}" + (f" (внутренний № {poa.internal_number})" if poa.internal_number else "")
        rows.append(("Номер МЧД", (number,)))
        rows.append(("Доверитель", (_principal(poa),)))
        heads = tuple(_person(h) for h in poa.principal.heads)
        if heads:
            rows.append(("Без доверенности действует", heads))
        rows.append(("Представитель", tuple(_person(r) for r in poa.representatives)))
        rows.append(("Срок действия МЧД", (f"с {ru_date(poa.issued)} по {ru_date(poa.valid_until)}",)))
        alone = "единолично" if poa.may_sign_alone() else "только совместно с другими представителями"
        rows.append(("Порядок действий", (alone + "; " + poa.redelegation_text,)))
        rows.append(("Полномочия", tuple(_powers(poa))))
    if verdict.signature is not None and verdict.signature.signer is not None:
        who = verdict.signature.signer
        name = " ".join(x for x in (who.surname, who.given_name) if x) or who.common_name or "—"
        rows.append(("МЧД подписана", (name + (f", {who.organization}" if who.organization else ""),)))
    return rows


def poa_rows(verdict: PoaVerdict) -> list[tuple[str, tuple[str, ...]]]:
    """(label, lines) of an МЧД section: the verdict first, what the МЧД says, then every check with its outcome."""
    rows: list[tuple[str, tuple[str, ...]]] = [("МЧД", (POA_STATUS_RU[verdict.status],))]
    rows += poa_about_rows(verdict)
    rows += [(c.title, (f"{CHECK_STATUS_RU[c.status]}: {c.message}",)) for c in verdict.checks]
    return rows


def poa_text_lines(verdict: PoaVerdict, indent: str = "  ") -> list[str]:
    """The section for the terminal: a summary line, the rows, each check marked + (passed), ! (failed) or ?
    (not decided)."""
    lines = [f"{indent}{verdict.summary()}"]
    for label, values in poa_about_rows(verdict):
        lines.append(f"{indent}  {label}: {values[0]}")
        lines.extend(f"{indent}    {value}" for value in values[1:])
    lines += [f"{indent}  {_MARK[c.status]} {c.title}: {c.message}" for c in verdict.checks]
    return lines


def poa_builtins(verdict: PoaVerdict) -> dict[str, Any]:
    """JSON-able values of a verdict, with its one-line summary and each check's title."""
    data: dict[str, Any] = msgspec.to_builtins(verdict)
    data["summary"] = verdict.summary()
    for check, check_data in zip(verdict.checks, data["checks"], strict=True):
        check_data["title"] = check.title
    if verdict.poa is not None:
        data["poa"]["may_sign_alone"] = verdict.poa.may_sign_alone()
    return data
