"""Typed Bitrix24 errors.

Callers need to react differently to "refresh the token", "ask the admin to reinstall", "slow down", "the deal
is gone" and "the folder already exists"; a single exception with a string code would push that parsing into
every caller. Every error carries the REST method name and the portal's own code and text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Bitrix24Error(Exception):
    """Base: a REST call failed. `code` is Bitrix's `error`, `description` its `error_description`."""

    retryable = False

    def __init__(self, method: str, code: str = "", description: str = "", status: int | None = None) -> None:
        self.method = method
        self.code = code
        self.description = description
        self.status = status
        super().__init__(
            f"{method}: {code or 'error'}"
            + (f" ({description})" if description else "")
            + (f" [HTTP {status}]" if status else "")
        )


class TransportError(Bitrix24Error):
    """The portal could not be reached or the connection broke (after all retries)."""

    retryable = True


class BadResponse(Bitrix24Error):
    """The answer was not the JSON envelope Bitrix sends (a proxy error page, a truncated body...)."""


class AuthError(Bitrix24Error):
    """Credentials were refused."""


class ExpiredToken(AuthError):
    """`expired_token`: refresh and retry once (the client does this itself)."""


class InvalidToken(AuthError):
    """`invalid_token`, `NO_AUTH_FOUND`, `INVALID_CREDENTIALS`: the install is broken, reopen or reinstall."""


class OAuthError(AuthError):
    """The OAuth server refused a refresh (`invalid_grant`, `invalid_client`, `PAYMENT_REQUIRED`...).

    With `invalid_grant` the refresh token is gone: the admin has to open the app again.
    """


class AccessDenied(Bitrix24Error):
    """`ACCESS_DENIED`, `insufficient_scope`, `user_access_error`: the user or app lacks rights."""


class WrongAuthType(AccessDenied):
    """`WRONG_AUTH_TYPE`: the method needs app context (OAuth), not a webhook or a session."""


class RateLimited(Bitrix24Error):
    """503 `QUERY_LIMIT_EXCEEDED` / `OVERLOAD_LIMIT`: the request was refused before running; safe to retry."""

    retryable = True


class OperationTimeLimit(Bitrix24Error):
    """429 `OPERATION_TIME_LIMIT`: this method used its time budget; it is blocked until the window resets."""


class ServerError(Bitrix24Error):
    """5xx from the portal (`INTERNAL_SERVER_ERROR`, `ERROR_UNEXPECTED_ANSWER`, a proxy's 502/504)."""

    retryable = True


class PortalDeleted(ServerError):
    """`PORTAL_DELETED`: on a box, the public part is closed. Not worth retrying."""

    retryable = False


class MethodNotFound(Bitrix24Error):
    """`ERROR_METHOD_NOT_FOUND`: the module is missing or switched off on this box."""


class NotFound(Bitrix24Error):
    """The object does not exist (`ERROR_NOT_FOUND`, `NOT_FOUND`, `OWNER_NOT_FOUND`, CRM's bare "Not found")."""


class InvalidArgument(Bitrix24Error):
    """`ERROR_ARGUMENT`, `INVALID_ARG_VALUE`, `INVALID_REQUEST`, `ERROR_CORE`...: our request was wrong."""


class AlreadyExists(Bitrix24Error):
    """`DISK_OBJ_22000`: an object with this name exists already (used to make folder creation idempotent)."""


class BatchError(Bitrix24Error):
    """`ERROR_BATCH_LENGTH_EXCEEDED` / `ERROR_BATCH_METHOD_NOT_ALLOWED`."""


_BY_CODE: dict[str, type[Bitrix24Error]] = {
    "expired_token": ExpiredToken,
    "invalid_token": InvalidToken,
    "no_auth_found": InvalidToken,
    "invalid_credentials": InvalidToken,
    "wrong_client": InvalidToken,
    "authorization_error": InvalidToken,
    "application_not_found": InvalidToken,
    "not_installed": InvalidToken,
    "invalid_grant": OAuthError,
    "invalid_client": OAuthError,
    "invalid_request_oauth": OAuthError,
    "payment_required": OAuthError,
    "access_denied": AccessDenied,
    "insufficient_scope": AccessDenied,
    "invalid_scope": AccessDenied,
    "user_access_error": AccessDenied,
    "method_confirm_waiting": AccessDenied,
    "wrong_auth_type": WrongAuthType,
    "query_limit_exceeded": RateLimited,
    "overload_limit": RateLimited,
    "operation_time_limit": OperationTimeLimit,
    "internal_server_error": ServerError,
    "error_unexpected_answer": ServerError,
    "portal_deleted": PortalDeleted,
    "error_method_not_found": MethodNotFound,
    "error_not_found": NotFound,
    "not_found": NotFound,
    "owner_not_found": NotFound,
    "error_argument": InvalidArgument,
    "invalid_arg_value": InvalidArgument,
    "invalid_request": InvalidArgument,
    "error_core": InvalidArgument,
    "disk_obj_22000": AlreadyExists,
    "error_batch_length_exceeded": BatchError,
    "error_batch_method_not_allowed": BatchError,
}

_BY_STATUS: dict[int, type[Bitrix24Error]] = {
    401: InvalidToken,
    403: AccessDenied,
    404: NotFound,
    429: OperationTimeLimit,
    503: RateLimited,
}


def error_from(method: str, payload: Mapping[str, Any] | None, status: int | None) -> Bitrix24Error:
    """Map an error envelope (`{"error", "error_description"}`) and HTTP status to an exception instance.

    CRM methods answer some errors with an empty or numeric `error` and the meaning only in the text
    ("Not found", "Access denied."), so the description is consulted when the code says nothing.
    """
    payload = payload or {}
    raw_code = payload.get("error", "")
    code = "" if raw_code in (None, 0, "0") else str(raw_code)
    description = str(payload.get("error_description") or payload.get("error_message") or "")
    cls = _BY_CODE.get(code.lower())
    if cls is None:
        text = description.strip().rstrip(".!").lower()
        if text in {"not found", "owner not found"}:
            cls = NotFound
        elif text == "access denied":
            cls = AccessDenied
        elif status is not None and status in _BY_STATUS:
            cls = _BY_STATUS[status]
        elif status is not None and status >= 500:
            cls = ServerError
        elif status is not None and 400 <= status < 500 or text:
            cls = InvalidArgument
        else:
            cls = Bitrix24Error
    return cls(method, code, description, status)
