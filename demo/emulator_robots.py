"""Automation robots on the emulated portal: ``bizproc.robot.add|delete|list``, ``bizproc.event.send``, and
:func:`run_robot`, the test hook that runs a registered robot on a card the way the portal's automation does.

What the real portal does, from the official pages (api-reference/bizproc/bizproc-robot/):
- ``bizproc.robot.add`` (schema in bitrix24_spec.json): CODE of a-z, A-Z, 0-9, ``.``, ``-``, ``_``, unique
  within the application (a second add of a code answers ERROR_ACTIVITY_ALREADY_INSTALLED); PLACEMENT_HANDLER
  is needed only with USE_PLACEMENT = Y (otherwise ERROR_WRONG_HANDLER_URL, bizproc-robot-add.md);
- ``bizproc.robot.delete``: an unknown code answers ERROR_ACTIVITY_NOT_FOUND;
- ``bizproc.robot.list`` has no published schema; its page (bizproc-robot-list.md) answers the application's
  robot codes as a list;
- ``bizproc.event.send`` (bizproc-event-send.md): the EVENT_TOKEN must be valid and current, else ACCESS_DENIED;
  an answer is taken only from a robot registered with USE_SUBSCRIPTION = Y. A token that has had its answer is
  no longer current: the second answer is refused the same way.

A robot call is a form POST to the robot's HANDLER (the robot handler's fields, bizproc-robot/index.md):
workflow_id, code, document_id, document_type, event_token, properties, use_subscription, timeout_duration, ts,
auth (a user's token pair plus member_id and application_token).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import httpx

from .portal_state import ApiError, CallContext, PortalState, _ci, _need_app, method

_CODE = re.compile(r"^[A-Za-z0-9._-]+$")
_DOCUMENTS = {"deal": ("CCrmDocumentDeal", "DEAL"), "company": ("CCrmDocumentCompany", "COMPANY")}


def _robots(state: PortalState) -> dict[str, dict[str, Any]]:
    """The registered robots by CODE (kept on the state; a reset of the state gives a fresh dict)."""
    robots: dict[str, dict[str, Any]] | None = getattr(state, "robots", None)
    if robots is None:
        robots = state.robots = {}
    return robots


def _events(state: PortalState) -> dict[str, dict[str, Any]]:
    """Each robot call's event token -> {"code", "document_id", "properties", "answers": [RETURN_VALUES...]}."""
    events: dict[str, dict[str, Any]] | None = getattr(state, "robot_events", None)
    if events is None:
        events = state.robot_events = {}
    return events


@method("bizproc.robot.add")
def _robot_add(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _need_app(ctx, "ACCESS_DENIED")
    code = str(_ci(params, "CODE") or "")
    handler = str(_ci(params, "HANDLER") or "")
    if not _CODE.match(code):
        raise ApiError(400, "ERROR_ACTIVITY_VALIDATION_FAILURE", "Wrong activity code!")
    if not handler.startswith(("http://", "https://")):
        raise ApiError(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL")
    if str(_ci(params, "USE_PLACEMENT") or "").upper() == "Y" and not str(_ci(params, "PLACEMENT_HANDLER") or ""):
        raise ApiError(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL")
    with state.lock:
        robots = _robots(state)
        if code in robots:
            raise ApiError(400, "ERROR_ACTIVITY_ALREADY_INSTALLED", "Activity or Robot already installed!")
        robots[code] = {
            "CODE": code,
            "HANDLER": handler,
            "AUTH_USER_ID": _ci(params, "AUTH_USER_ID"),
            "USE_SUBSCRIPTION": str(_ci(params, "USE_SUBSCRIPTION") or ""),
            "NAME": _ci(params, "NAME"),
            "PROPERTIES": _ci(params, "PROPERTIES") or {},
            "RETURN_PROPERTIES": _ci(params, "RETURN_PROPERTIES") or {},
            "FILTER": _ci(params, "FILTER"),
        }
    return {"result": True}


@method("bizproc.robot.delete")
def _robot_delete(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _need_app(ctx, "ACCESS_DENIED")
    code = str(_ci(params, "CODE") or "")
    with state.lock:
        if _robots(state).pop(code, None) is None:
            raise ApiError(400, "ERROR_ACTIVITY_NOT_FOUND", "Activity or Robot not found!")
    return {"result": True}


@method("bizproc.robot.list")
def _robot_list(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    # No schema: the page (bizproc-robot-list.md) takes no parameters and answers the codes; admins only.
    _need_app(ctx, "ACCESS_DENIED")
    if not state.users.get(ctx.user_id, {}).get("_ADMIN"):
        raise ApiError(403, "ACCESS_DENIED", "Access denied! Administrator rights required")
    if set(params) - {"auth"}:
        raise ApiError(400, "INVALID_ARG_VALUE", f"Unknown parameter '{sorted(set(params) - {'auth'})[0]}'")
    with state.lock:
        return {"result": list(_robots(state))}


@method("bizproc.event.send")
def _event_send(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    token = str(_ci(params, "EVENT_TOKEN") or "")
    values = _ci(params, "RETURN_VALUES") or {}
    with state.lock:
        event = _events(state).get(token)
        robot = _robots(state).get(event["code"]) if event else None
        if event is None or robot is None or event["answers"]:
            raise ApiError(403, "ACCESS_DENIED", "Access denied!")
        if robot["USE_SUBSCRIPTION"].upper() != "Y":
            raise ApiError(403, "ACCESS_DENIED", "Access denied!")
        if not isinstance(values, dict):
            raise ApiError(400, "ERROR_ARGUMENT", "RETURN_VALUES must be an object")
        event["answers"].append({"values": dict(values), "log": str(_ci(params, "LOG_MESSAGE") or "")})
    return {"result": True}


def robot_answers(state: PortalState, token: str) -> list[dict[str, Any]]:
    """The RETURN_VALUES the portal took for a call (at most one: the portal refuses a second)."""
    with state.lock:
        event = _events(state).get(token)
        return [dict(a["values"]) for a in event["answers"]] if event else []


def robot_call_form(
    state: PortalState,
    code: str,
    entity: tuple[str, int],
    properties: dict[str, Any] | None = None,
    *,
    user_id: int | None = None,
    application_token: str | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """(handler URL, event token, form fields) of one run of robot ``code`` on a card; the token is recorded as
    waiting for its answer. ``application_token`` overrides the portal's (a forged call)."""
    with state.lock:
        robot = _robots(state).get(code)
        if robot is None:
            raise KeyError(f"robot {code!r} is not registered")
        runner = int(robot["AUTH_USER_ID"] or user_id or 1)
        workflow = secrets.token_hex(12)
        token = f"{workflow}|A{secrets.token_hex(6)}|{secrets.token_urlsafe(24)}.{secrets.token_hex(32)}"
        module_class, prefix = _DOCUMENTS[entity[0]]
        document_id = ["crm", module_class, f"{prefix}_{entity[1]}"]
        _events(state)[token] = {
            "code": code,
            "document_id": document_id,
            "properties": dict(properties or {}),
            "answers": [],
        }
        handler = str(robot["HANDLER"])
    auth = state.issue_tokens(runner)
    auth["user_id"] = runner
    if application_token is not None:
        auth["application_token"] = application_token
    form = {
        "workflow_id": workflow,
        "code": code,
        "document_id": document_id,
        "document_type": ["crm", module_class, prefix],
        "event_token": token,
        "properties": dict(properties or {}),
        "use_subscription": robot["USE_SUBSCRIPTION"] or "Y",
        "timeout_duration": "0",
        "ts": str(int(time.time())),
        "auth": auth,
    }
    return handler, token, form


def _form_pairs(value: Any, key: str = "") -> list[tuple[str, str]]:
    """A nested form as the portal's PHP posts it (``auth[member_id]``, ``document_id[0]``)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _form_pairs(v, f"{key}[{k}]" if key else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _form_pairs(v, f"{key}[{i}]")]
    return [] if value is None else [(key, str(value))]


def post_robot_call(handler: str, form: dict[str, Any]) -> httpx.Response:
    """POST a robot call's form to its handler, as the portal's queue server does."""
    return httpx.post(handler, data=dict(_form_pairs(form)), timeout=30)


def run_robot(
    state: PortalState,
    code: str,
    entity: tuple[str, int],
    properties: dict[str, Any] | None = None,
    *,
    user_id: int | None = None,
) -> tuple[str, httpx.Response]:
    """Run robot ``code`` on a card: its event token and the handler's HTTP answer."""
    handler, token, form = robot_call_form(state, code, entity, properties, user_id=user_id)
    return token, post_robot_call(handler, form)
