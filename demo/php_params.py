"""How the emulated portal reads request parameters: PHP's `parse_str` / `$_REQUEST` rules, written for the emulator.

The portal is PHP, so a batch command's query string and a form body are read by PHP's own rules: `+` and
`%XX` decoding, `a[b][c]=v` nesting, `a[]=v` appending at the next integer index, spaces and dots in a top-level
name turned into underscores, and a later value of the same key winning. The emulator keeps this apart from the
server's encoder (server/bitrix24/phpquery.py) on purpose: a test against a portal that decodes with the client's
own code could not catch an encoding bug.

Arrays whose keys are exactly 0..n-1 come out as lists, the way the same array arrives in a JSON body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote_plus


def _segments(raw_key: str) -> list[str] | None:
    """`a[b][]` -> ['a', 'b', '']; None for a key PHP drops (empty name)."""
    key = raw_key.lstrip(" ")
    open_at = key.find("[")
    if open_at <= 0 or "]" not in key[open_at:]:
        # No (complete) brackets: the whole key is the name; PHP makes "[" in it an underscore too.
        name = key if open_at != 0 else ""
        name = name.replace(" ", "_").replace(".", "_").replace("[", "_")
        return [name] if name else None
    base = key[:open_at].replace(" ", "_").replace(".", "_")
    parts = [base]
    rest = key[open_at:]
    while rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            break
        parts.append(rest[1:close])
        rest = rest[close + 1 :]
    return parts


def _next_index(node: dict[str, Any]) -> str:
    numbers = [int(k) for k in node if k.lstrip("-").isdigit()]
    return str(max(numbers) + 1 if numbers else 0)


def _as_lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _as_lists(v) for k, v in node.items()}
    if converted and list(converted) == [str(i) for i in range(len(converted))]:
        return list(converted.values())
    return converted


def parse(query: str | bytes) -> dict[str, Any]:
    """PHP's parse_str of one query string or urlencoded body."""
    text = query.decode("utf-8", errors="replace") if isinstance(query, bytes) else query
    pairs: list[tuple[str, str]] = []
    for chunk in text.split("&"):
        if not chunk:
            continue
        key, _, value = chunk.partition("=")
        pairs.append((unquote_plus(key), unquote_plus(value)))
    return build(pairs)


def build(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Nest already-decoded (key, value) pairs (a multipart form's fields) the way PHP does."""
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        parts = _segments(raw_key)
        if parts is None:
            continue
        node = root
        for depth, part in enumerate(parts):
            if part == "" and depth > 0:
                part = _next_index(node)
            if depth == len(parts) - 1:
                node[part] = value
                break
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
    return _as_lists(root)


def overlay(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """$_REQUEST: body parameters replace query-string ones of the same top-level name."""
    return {**base, **extra}


def items(value: Any) -> list[Any]:
    """The elements of a PHP array parameter, whatever shape it came in (a list, a map, or a single value)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, Mapping):
        return list(value.values())
    return [value]
