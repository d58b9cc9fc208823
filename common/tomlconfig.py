"""Typed TOML configuration shared by the server and the agent.

Both programs read a TOML file into msgspec Structs and let the environment override single keys
(``<PREFIX>_<SECTION>_<KEY>``). A bad file must stop start-up with one line that names the file, the key
and what was expected, so the loader turns every failure into :class:`ConfigError` with that line.
It lives in ``common`` because ``server`` and ``agent`` may not import each other; it does no I/O beyond
reading the one file it is handed.
"""

from __future__ import annotations

import os
import re
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from common.errors import ConfigError

T = TypeVar("T", bound=msgspec.Struct)

_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "array": "a list",
    "object": "a table",
    "null": "nothing",
}


def _describe(msg: str) -> str:
    """Turn msgspec's wording ("Expected `int`, got `str`") into plain words."""
    match = re.match(r"Expected `(.+?)`, got `(.+?)`", msg)
    if match:
        want = " or ".join(_TYPE_WORDS.get(w.strip(), w.strip()) for w in match.group(1).split("|"))
        got = _TYPE_WORDS.get(match.group(2), match.group(2))
        return f"expected {want}, got {got}"
    return msg[0].lower() + msg[1:] if msg else msg


def _allowed_values(cls: type[msgspec.Struct], path: str) -> list[str] | None:
    """The Literal choices of the field at ``path`` ("portal.mode"), for a helpful enum message."""
    annotation: Any = cls
    for part in path.split("."):
        hints = _field_types(annotation) if isinstance(annotation, type) else {}
        if part not in hints:
            return None
        annotation = hints[part]
    if typing.get_origin(annotation) is typing.Literal:
        return [str(v) for v in typing.get_args(annotation)]
    return None


def _format_validation_error(source: str, err: msgspec.ValidationError, cls: type[msgspec.Struct]) -> str:
    text = str(err)
    msg, _, path = text.partition(" - at `")
    path = path.rstrip("`").removeprefix("$").lstrip(".")
    path = re.sub(r"\[(\d+)\]", r"[\1]", path)
    unknown = re.match(r"Object contains unknown field `(.+?)`", msg)
    if unknown:
        key = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        return f"{source}: {key}: unknown key"
    missing = re.match(r"Object missing required field `(.+?)`", msg)
    if missing:
        key = f"{path}.{missing.group(1)}" if path else missing.group(1)
        return f"{source}: {key}: required value is missing"
    enum = re.match(r"Invalid enum value (.+)", msg)
    choices = _allowed_values(cls, path) if enum else None
    if enum and choices:
        return f"{source}: {path}: expected one of {', '.join(choices)}, got {enum.group(1)}"
    return f"{source}: {path or '(top level)'}: {_describe(msg)}"


def _field_types(cls: type[msgspec.Struct]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _env_value(raw: str, annotation: Any) -> Any:
    """Parse an environment string according to the field it overrides.

    Strings are taken as they are; everything else is read as a TOML value, so lists and booleans are
    written the way they are in the file (``KLIKDOK_TRUST_ROOTS='["/a", "/b"]'``).
    """
    if annotation is str:
        return raw
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_env(data: dict[str, Any], cls: type[msgspec.Struct], prefix: str, environ: Mapping[str, str]) -> list[str]:
    """Overlay ``PREFIX_SECTION_KEY`` variables onto ``data``; return the variable names used."""
    used: list[str] = []
    for section, section_type in _field_types(cls).items():
        if not (isinstance(section_type, type) and issubclass(section_type, msgspec.Struct)):
            continue
        for key, annotation in _field_types(section_type).items():
            name = f"{prefix}_{section}_{key}".upper()
            if name in environ:
                data.setdefault(section, {})
                if not isinstance(data[section], dict):
                    continue
                data[section][key] = _env_value(environ[name], annotation)
                used.append(name)
    return used


def load(cls: type[T], path: Path | None, *, prefix: str, environ: Mapping[str, str] | None = None) -> T:
    """Read ``path`` (may be None for defaults only), apply env overrides, validate into ``cls``."""
    environ = os.environ if environ is None else environ
    source = str(path) if path is not None else "(defaults)"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{source}: file not found") from None
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"{source}: not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    used = apply_env(data, cls, prefix, environ)
    try:
        result = msgspec.convert(data, cls, strict=True)
    except msgspec.ValidationError as exc:
        where = source if not used else f"{source} (+ environment)"
        raise ConfigError(_format_validation_error(where, exc, cls)) from None
    check = getattr(result, "check", None)
    if check is not None:
        problem = check()
        if problem:
            raise ConfigError(f"{source}: {problem}")
    return result
