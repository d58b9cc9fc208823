"""The emulated portal's CRM read rights, contacts' cards and smart processes (issue 17, visibility).

Why: KlikDok shows a card's documents to anyone who may read the card, asking the portal with the user's own
token, so the emulator must refuse a read the way a portal with CRM roles does. The model is small: admins read
everything; any other user reads what a user row's hidden `_CRM_READ` allows: "own" (the default: only records
the user is responsible for, ASSIGNED_BY_ID / assignedById, or observes: a deal's hidden `_OBSERVERS`, an
item's `observers`) or "all" (a role that reads every record).

A refused legacy read (`crm.deal.get`, `crm.contact.get`, `crm.company.get`) answers HTTP 400
{"error": "", "error_description": "Access denied."}, as the portal's CRM REST does (the same shape the
emulator's timeline methods already give); the universal `crm.item.get` answers 403 ACCESS_DENIED, as its
page (apidocs.bitrix24.ru/api-reference/crm/universal/crm-item-get.html, «Обработка ошибок») lists.

Smart processes: `crm.type.list` answers {"types": [...]} and `crm.item.get` / `crm.item.list` {"item": …} /
{"items": [...]} in camelCase, as the resultExample of their schemas in ../shared/reference/bitrix24-spec/ say;
their parameters (vendored in demo/bitrix24_spec.json) are checked by the schema checker before these run.
"""

from __future__ import annotations

import copy
from typing import Any

from .portal_state import (
    _METHODS,
    SEED_HOOKS,
    ApiError,
    CallContext,
    PortalState,
    _ci,
    _int,
    _public,
    matches,
    method,
)

# Seeded smart process: "Договоры поставки" (entityTypeId 1038, as the portal numbers user types from 1030 on).
SMART_TYPE_ID = 1038
_SMART_TYPES = [
    {
        "id": 7,
        "title": "Договоры поставки",
        "code": "",
        "createdBy": 1,
        "entityTypeId": SMART_TYPE_ID,
        "customSectionId": None,
        "isCategoriesEnabled": "N",
        "isStagesEnabled": "Y",
        "isBeginCloseDatesEnabled": "Y",
        "isClientEnabled": "Y",
        "isUseInUserfieldEnabled": "Y",
        "isLinkWithProductsEnabled": "N",
        "isMycompanyEnabled": "Y",
        "isDocumentsEnabled": "Y",
        "isSourceEnabled": "N",
        "isObserversEnabled": "Y",
        "isRecyclebinEnabled": "Y",
        "isAutomationEnabled": "Y",
        "isBizProcEnabled": "N",
        "isSetOpenPermissions": "N",
        "isPaymentsEnabled": "N",
        "isCountersEnabled": "N",
        "createdTime": "2026-03-01T10:00:00+03:00",
        "updatedTime": "2026-03-01T10:00:00+03:00",
        "updatedBy": 1,
    }
]


def _item(item_id: int, title: str, company_id: int, contact_ids: list[int], assigned: int) -> dict[str, Any]:
    return {
        "id": item_id,
        "xmlId": None,
        "title": title,
        "createdBy": assigned,
        "updatedBy": assigned,
        "movedBy": assigned,
        "createdTime": "2026-04-02T12:00:00+03:00",
        "updatedTime": "2026-04-02T12:00:00+03:00",
        "movedTime": "2026-04-02T12:00:00+03:00",
        "categoryId": 0,
        "opened": "Y",
        "stageId": f"DT{SMART_TYPE_ID}_1:NEW",
        "previousStageId": "",
        "begindate": "2026-04-02T00:00:00+03:00",
        "closedate": "2026-06-30T00:00:00+03:00",
        "companyId": company_id,
        "contactId": contact_ids[0] if contact_ids else None,
        "contactIds": contact_ids,
        "opportunity": 0,
        "isManualOpportunity": "N",
        "taxValue": 0,
        "currencyId": "RUB",
        "mycompanyId": 1,
        "sourceId": None,
        "sourceDescription": None,
        "webformId": None,
        "assignedById": assigned,
        "lastActivityBy": assigned,
        "lastActivityTime": "2026-04-02T12:00:00+03:00",
        "parentId2": None,
        "observers": [],
        "entityTypeId": SMART_TYPE_ID,
    }


def seed(state: PortalState) -> None:
    """Observers and smart processes on top of the CRM seed: Лебедев (6) observes deal 1 (whose responsible person
    is Морозова, 4); one smart process with two items."""
    state.smart_types = copy.deepcopy(_SMART_TYPES) if state.config.seed else []
    state.items = {}
    if not state.config.seed:
        return
    if 1 in state.deals:
        state.deals[1]["_OBSERVERS"] = [6]
    for row in (
        _item(1, "Поставка оборудования на 2026 год", 2, [1], 4),
        _item(2, "Рамочный договор с «Технопарк Восток»", 3, [3], 3),
    ):
        state.items[(SMART_TYPE_ID, int(row["id"]))] = row


SEED_HOOKS.append(seed)


def may_read(state: PortalState, user_id: int, row: dict[str, Any]) -> bool:
    """The portal's answer to "may this user read this record" in the model above."""
    user = state.users.get(user_id, {})
    if user.get("_ADMIN") or user.get("_CRM_READ", "own") == "all":
        return True
    assigned = row.get("ASSIGNED_BY_ID", row.get("assignedById"))
    observers = row.get("_OBSERVERS", row.get("observers")) or []
    return _int(assigned, 0) == user_id or user_id in {_int(o, 0) for o in observers}


def _guarded_get(name: str, table: str) -> None:
    """Wrap a legacy `crm.<kind>.get` so a user without read rights gets the portal's refusal."""
    original = _METHODS[name]

    def handler(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        row = getattr(state, table).get(_int(_ci(params, "id"), 0))
        if row is not None and not may_read(state, ctx.user_id, row):
            raise ApiError(400, "", "Access denied.")
        return original(state, params, ctx)

    method(name)(handler)


_guarded_get("crm.deal.get", "deals")
_guarded_get("crm.company.get", "companies")
_guarded_get("crm.contact.get", "contacts")


def _type_of(state: PortalState, params: dict[str, Any]) -> int:
    type_id = _int(_ci(params, "entityTypeId"), 0)
    if not any(t["entityTypeId"] == type_id for t in state.smart_types):
        raise ApiError(400, "NOT_FOUND", "Смарт-процесс не найден")
    return type_id


@method("crm.type.list")
def _type_list(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    conditions = _ci(params, "filter") or {}
    rows = [t for t in state.smart_types if matches(t, conditions)] if isinstance(conditions, dict) else []
    return {"result": {"types": copy.deepcopy(rows)}, "total": len(rows)}


@method("crm.item.get")
def _item_get(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    type_id = _type_of(state, params)
    row = state.items.get((type_id, _int(_ci(params, "id"), 0)))
    if row is None:
        raise ApiError(400, "NOT_FOUND", "Элемент не найден")
    if not may_read(state, ctx.user_id, row):
        raise ApiError(403, "ACCESS_DENIED", "Доступ запрещен")
    return {"result": {"item": _public(copy.deepcopy(row))}}


@method("crm.item.list")
def _item_list(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    """Items the caller may read (a list never refuses, it leaves out), 50 a page, by id."""
    type_id = _type_of(state, params)
    conditions = _ci(params, "filter") or {}
    if not isinstance(conditions, dict):
        raise ApiError(400, "INVALID_ARG_VALUE", "filter must be an object")
    rows = sorted(
        (r for (t, _), r in state.items.items() if t == type_id and matches(r, conditions)), key=lambda r: r["id"]
    )
    rows = [r for r in rows if may_read(state, ctx.user_id, r)]
    start = _int(_ci(params, "start"), 0)
    page = rows[start : start + 50]
    envelope: dict[str, Any] = {"result": {"items": [_public(copy.deepcopy(r)) for r in page]}, "total": len(rows)}
    if start + 50 < len(rows):
        envelope["next"] = start + 50
    return envelope


def smart_placements(state: PortalState) -> set[str]:
    """The detail-tab placements of the portal's smart processes (placement.list names them this way)."""
    return {f"CRM_DYNAMIC_{t['entityTypeId']}_DETAIL_TAB" for t in state.smart_types}
