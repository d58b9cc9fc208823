"""Lenient readers for PHP-flavoured JSON: ids as strings, "Y"/"N" flags, `[]` for empty maps, nulls."""

from __future__ import annotations

from typing import Any


def to_int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "" or isinstance(value, (dict, list)):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default


def to_str(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).upper() in {"Y", "1", "TRUE"}


def int_list(value: Any) -> list[int]:
    """`[1, "2"]`, `"3"`, `{"0": 4}` and None all become a plain list of ints."""
    if value is None or value == "" or value is False:
        return []
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        value = [value]
    out: list[int] = []
    for item in value:
        number = to_int(item)
        if number is not None:
            out.append(number)
    return out


def emails(multifield: Any) -> list[str]:
    """Values of a CRM `EMAIL` multifield (`[{"VALUE": ..., "VALUE_TYPE": ...}]`), work addresses first."""
    if not isinstance(multifield, list):
        return []
    rows = [row for row in multifield if isinstance(row, dict) and to_str(row.get("VALUE")).strip()]
    rows.sort(key=lambda row: 0 if to_str(row.get("VALUE_TYPE")).upper() == "WORK" else 1)
    seen: list[str] = []
    for row in rows:
        address = to_str(row.get("VALUE")).strip()
        if address not in seen:
            seen.append(address)
    return seen
