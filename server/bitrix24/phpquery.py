"""PHP-style query encoding (`a[b][]=c`) in both directions.

Bitrix24 is PHP: `batch` commands carry their parameters as `http_build_query` strings, and every POST the
portal sends to an app (install, placement, events) is form-encoded with bracket keys. Python's urllib knows
neither nesting convention, so both sides live here: the client encodes batch commands, the server (and the
portal emulator) decodes bracket-keyed forms into plain dicts and lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")

# PHP's max_input_nesting_level (64 by default): no portal sends deeper keys, and building the tree of a
# 5,000-level key would overflow the stack.
MAX_DEPTH = 64


class MalformedQuery(ValueError):
    """A bracket key nested deeper than MAX_DEPTH."""


def _scalar(value: Any) -> str:
    """PHP's http_build_query renders booleans as 1/0; msgspec/JSON callers expect the same on the portal."""
    if value is True:
        return "1"
    if value is False:
        return "0"
    return str(value)


def flatten(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Turn nested params into (bracket key, value) pairs, the way PHP's http_build_query does.

    None values are dropped (PHP skips nulls); an empty list or dict also produces nothing, as in PHP.
    """
    pairs: list[tuple[str, str]] = []

    def walk(key: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for sub_key, sub_value in value.items():
                walk(f"{key}[{sub_key}]", sub_value)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(f"{key}[{index}]", item)
        else:
            pairs.append((key, _scalar(value)))

    for name, value in params.items():
        walk(f"{prefix}[{name}]" if prefix else str(name), value)
    return pairs


def encode(params: Mapping[str, Any]) -> str:
    """URL-encode nested params as PHP would (used for `batch` command strings)."""
    return urlencode(flatten(params), quote_via=quote)


def _split_key(key: str) -> list[str]:
    """`FIELDS[UF][]` -> ['FIELDS', 'UF', '']; a key without brackets is a single segment."""
    head, bracket, _ = key.partition("[")
    if not bracket:
        return [key]
    rest = key[len(head) :]
    parts = _BRACKETS.findall(rest)
    # PHP ignores anything after a malformed bracket; keep it simple and treat such keys literally.
    if "".join(f"[{p}]" for p in parts) != rest:
        return [key]
    return [head, *parts]


def _listify(node: Any) -> Any:
    """Dicts whose keys are exactly 0..n-1 become lists, matching what a JSON body would have carried."""
    if isinstance(node, dict):
        converted = {k: _listify(v) for k, v in node.items()}
        keys = list(converted)
        if keys and all(k.isdigit() for k in keys) and sorted(int(k) for k in keys) == list(range(len(keys))):
            return [converted[str(i)] for i in range(len(keys))]
        return converted
    return node


def unflatten(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build nested dicts/lists from bracket-keyed pairs (`FIELDS[TITLE]=x`, `select[]=ID`, `filter[>ID]=5`).

    Later duplicates of a plain key win, like PHP's $_POST; `[]` appends. A key nested deeper than
    MAX_DEPTH raises MalformedQuery (PHP drops it silently; a server should say no instead).
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        if key.count("[") > MAX_DEPTH:
            raise MalformedQuery(f"form key nested deeper than {MAX_DEPTH} levels")
        segments = _split_key(key)
        node: dict[str, Any] = root
        for depth, segment in enumerate(segments):
            last = depth == len(segments) - 1
            if segment == "" and depth > 0:
                # `[]` append: pick the next free integer index at this level.
                segment = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[segment] = value
            else:
                child = node.get(segment)
                if not isinstance(child, dict):
                    child = {}
                    node[segment] = child
                node = child
    return _listify(root)


def decode(query: str | bytes) -> dict[str, Any]:
    """Parse an urlencoded body or query string with PHP bracket semantics."""
    if isinstance(query, bytes):
        query = query.decode("utf-8", errors="replace")
    return unflatten(parse_qsl(query, keep_blank_values=True))


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Shallow merge where `extra` (e.g. a body) overrides `base` (e.g. the query string), as PHP's $_REQUEST."""
    merged = dict(base)
    merged.update(extra)
    return merged


def as_sequence(value: Any) -> Sequence[Any]:
    """A PHP array that had one element often arrives as a scalar; normalise to a sequence."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return value
    if isinstance(value, Mapping):
        return list(value.values())
    return [value]
