"""JSON from requests, decoded so that nesting depth is an ordinary client error, never a 500.

msgspec and the ``json`` module decode arrays and objects recursively, also the values of fields nobody
asked for: 50,000 nested brackets raise RecursionError, which is not a DecodeError, so a handler that
catches only DecodeError (and Litestar itself, for typed ``data`` bodies) answered 500. Every JSON body or
field the server reads from outside goes through :func:`decode`, :func:`loads` or :class:`Request`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, overload

import msgspec
from litestar import Request as LitestarRequest
from litestar.exceptions import ClientException

T = TypeVar("T")

TOO_DEEP = "JSON is nested too deeply"


@overload
def decode(data: bytes | str) -> Any: ...
@overload
def decode(data: bytes | str, type: type[T]) -> T: ...


def decode(data: bytes | str, type: Any = Any) -> Any:
    """``msgspec.json.decode``; too deep a nesting raises ``msgspec.DecodeError`` like any malformed JSON."""
    try:
        return msgspec.json.decode(data, type=type)
    except RecursionError:
        raise msgspec.DecodeError(TOO_DEEP) from None


def loads(text: str | bytes) -> Any:
    """``json.loads``; too deep a nesting raises ``ValueError`` like any malformed JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(TOO_DEEP) from None


class Request(LitestarRequest[Any, Any, Any]):
    """The app's request class: Litestar decodes typed ``data`` bodies through ``json()``."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ClientException("Слишком глубокая вложенность JSON.") from None
