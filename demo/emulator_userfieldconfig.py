"""The emulated portal's smart-process user fields and item updates (issue 17: the status field on smart processes).

A smart process's user fields are not made with ``crm.<entity>.userfield.add``: they belong to the universal
``userfieldconfig.*`` methods, and an item's values are written with ``crm.item.update`` in camelCase. The
reference spec has no schema for ``userfieldconfig.*``, so their parameters (vendored in demo/bitrix24_spec.json
with the page each comes from) and their answers follow the official pages
(bitrix-tools/b24-rest-docs, api-reference/crm/universal/userfieldconfig/userfieldconfig-add.md, -list.md,
-get.md):

- ``add`` takes ``moduleId`` and ``field`` (``entityId`` ``CRM_<crm.type id>``, ``fieldName``
  ``UF_<entityId>_<POSTFIX>`` of ``A-Z0-9_`` up to 50 characters, ``userTypeId``; ``enum`` items ``value``/
  ``def``/``sort``/``xmlId``) and answers ``{"field": {...}}`` with string ids and the enum items it numbered;
  unknown keys of ``field`` are ignored, as the page says; the errors are the page's texts with an empty code;
- ``list`` answers ``{"fields": [...]}`` (no enum items: ``get`` gives them), 50 a page with ``next``/``total``;
- ``get`` answers ``{"field": {...}}`` with the enum items, or the page's refusal for an unknown id.

``crm.item.update`` (schema in the reference) takes ``entityTypeId``, ``id``, ``fields`` and answers ``{"item":
…}``. User fields go by their camelCase names (``UF_CRM_7_KLIKDOK_STATUS`` -> ``ufCrm7KlikdokStatus``); an
enumeration takes one of its item ids or "" to clear, as the deal's field does.
"""

from __future__ import annotations

import copy
import re
import secrets
from typing import Any

from .emulator_visibility import may_read
from .portal_state import ApiError, CallContext, PortalState, _ci, _int, _need_admin, _public, matches, method

_NAME = re.compile(r"^[A-Z0-9_]{1,50}$")
_FILTERABLE = {
    "id",
    "fieldName",
    "userTypeId",
    "xmlId",
    "sort",
    "multiple",
    "mandatory",
    "showFilter",
    "showInList",
    "editInList",
    "isSearchable",
}


def data(state: PortalState) -> dict[str, Any]:
    return state.extra.setdefault("userfieldconfig", {"fields": [], "next_id": 9000})


def fields_of(state: PortalState, entity_id: str) -> list[dict[str, Any]]:
    """The fields made for ``entity_id`` (``CRM_7``), for the tests."""
    with state.lock:
        return copy.deepcopy([f for f in data(state)["fields"] if f["entityId"] == entity_id])


def camel_name(field_name: str) -> str:
    """How ``crm.item.*`` names a user field: UF_CRM_7_KLIKDOK_STATUS -> ufCrm7KlikdokStatus."""
    parts = field_name.lower().split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _module(params: dict[str, Any]) -> None:
    module = _ci(params, "moduleId")
    if not module:
        raise ApiError(400, "ERROR_ARGUMENT", "Required parameter 'moduleId' is missing")
    if module != "crm":
        raise ApiError(400, "", "No settings for UserFieldAccess")


def _yn(value: Any) -> str:
    return "Y" if str(value).upper() in {"Y", "1", "TRUE"} else "N"


def _lang_map(value: Any) -> dict[str, str | None]:
    if isinstance(value, dict):
        return {str(k): None if v is None else str(v) for k, v in value.items()}
    text = None if value in (None, "") else str(value)
    return {"en": text, "ru": text}


def _smart_type_ids(state: PortalState) -> set[int]:
    return {int(t["id"]) for t in state.smart_types}


def _listed(field: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in field.items() if k != "enum"}


@method("userfieldconfig.add")
def _add(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _module(params)
    _need_admin(state, ctx)  # «право изменения настроек объекта», which this portal gives its admins
    given = _ci(params, "field")
    if not isinstance(given, dict):
        raise ApiError(400, "ERROR_ARGUMENT", "Required parameter 'field' is missing")
    entity_id = str(given.get("entityId") or "")
    name = str(given.get("fieldName") or "")
    user_type = str(given.get("userTypeId") or "")
    if not user_type:
        raise ApiError(400, "", "The 'USER_TYPE_ID' field is not found.")
    if not name:
        raise ApiError(400, "", "The 'FIELD_NAME' field is not found.")
    match = re.fullmatch(r"CRM_(\d+)", entity_id)
    if match is None or int(match.group(1)) not in _smart_type_ids(state):
        raise ApiError(400, "", "Access denied")
    if not name.startswith(f"UF_{entity_id}_") or not _NAME.match(name):
        raise ApiError(400, "", "Вы не можете создавать пользовательские поля")
    label = _lang_map(given.get("editFormLabel"))
    with state.lock:
        store = data(state)
        if any(f["entityId"] == entity_id and f["fieldName"] == name for f in store["fields"]):
            raise ApiError(400, "", f"Поле {name} уже существует")
        store["next_id"] += 1
        field_id = str(store["next_id"])
        field: dict[str, Any] = {
            "id": field_id,
            "entityId": entity_id,
            "fieldName": name,
            "userTypeId": user_type,
            "xmlId": given.get("xmlId"),
            "sort": str(_int(given.get("sort"), 100)),
            "multiple": _yn(given.get("multiple", "N")),
            "mandatory": _yn(given.get("mandatory", "N")),
            "showFilter": _yn(given.get("showFilter", "N")),
            "showInList": "Y",  # not taken by add (its page): a new field shows in lists
            "editInList": _yn(given.get("editInList", "Y")),
            "isSearchable": _yn(given.get("isSearchable", "N")),
            "settings": given.get("settings") if isinstance(given.get("settings"), dict) else {},
            "languageId": {"en": "en", "ru": "ru"},
            "editFormLabel": label,
            "listColumnLabel": {"en": None, "ru": None},
            "listFilterLabel": {"en": None, "ru": None},
            "errorMessage": {"en": None, "ru": None},
            "helpMessage": _lang_map(given.get("helpMessage")),
        }
        if user_type == "enumeration":
            items = []
            for n, item in enumerate(given.get("enum") or []):
                if not isinstance(item, dict) or not str(item.get("value") or ""):
                    raise ApiError(400, "", "Fail to save enumeration field values")
                store["next_id"] += 1
                items.append(
                    {
                        "id": str(store["next_id"]),
                        "userFieldId": field_id,
                        "value": str(item["value"]),
                        "def": _yn(item.get("def", "N")),
                        "sort": str(_int(item.get("sort"), (n + 1) * 100)),
                        "xmlId": str(item.get("xmlId") or secrets.token_hex(16)),
                    }
                )
            field["enum"] = items
        store["fields"].append(field)
        return {"result": {"field": copy.deepcopy(field)}}


@method("userfieldconfig.list")
def _list(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _module(params)
    conditions = _ci(params, "filter") or {}
    if not isinstance(conditions, dict):
        raise ApiError(400, "INVALID_ARG_VALUE", "filter must be an object")
    # Only the page's filterable fields count; another key is ignored, as the portal's ORM filter map does.
    conditions = {k: v for k, v in conditions.items() if k.lstrip("=!<>%@") in _FILTERABLE}
    with state.lock:
        rows = [_listed(f) for f in data(state)["fields"] if matches(f, conditions)]
    start = _int(_ci(params, "start"), 0)
    envelope: dict[str, Any] = {"result": {"fields": copy.deepcopy(rows[start : start + 50])}, "total": len(rows)}
    if start + 50 < len(rows):
        envelope["next"] = start + 50
    return envelope


@method("userfieldconfig.get")
def _get(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _module(params)
    wanted = str(_int(_ci(params, "id"), 0))
    with state.lock:
        for field in data(state)["fields"]:
            if field["id"] == wanted:
                return {"result": {"field": copy.deepcopy(field)}}
    raise ApiError(400, "", "Вы не можете просматривать настройки пользовательских полей")


@method("crm.item.update")
def _item_update(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    type_id = _int(_ci(params, "entityTypeId"), 0)
    smart = next((t for t in state.smart_types if t["entityTypeId"] == type_id), None)
    if smart is None:
        raise ApiError(400, "NOT_FOUND", "Смарт-процесс не найден")
    given = _ci(params, "fields")
    if not isinstance(given, dict):
        raise ApiError(400, "INVALID_ARG_VALUE", "fields must be an object")
    with state.lock:
        row = state.items.get((type_id, _int(_ci(params, "id"), 0)))
        if row is None:
            raise ApiError(400, "NOT_FOUND", "Элемент не найден")
        if not may_read(state, ctx.user_id, row):
            raise ApiError(403, "ACCESS_DENIED", "Доступ запрещен")
        entity_id = f"CRM_{smart['id']}"
        known = {camel_name(f["fieldName"]): f for f in data(state)["fields"] if f["entityId"] == entity_id}
        changes: dict[str, Any] = {}
        for key, value in given.items():
            if key.startswith("ufCrm"):
                field = known.get(key)
                if field is None:
                    continue  # the portal ignores a user field it does not have
                if field["userTypeId"] == "enumeration" and value not in ("", None, False):
                    if str(value) not in {item["id"] for item in field.get("enum") or []}:
                        raise ApiError(400, "", f"Значение поля «{field['editFormLabel'].get('ru')}» не найдено")
                    value = _int(value)
                changes[key] = value or None
            elif key in row and key not in {"id", "entityTypeId"} and not key.startswith("_"):
                changes[key] = value
        row.update(changes)
        return {"result": {"item": _public(copy.deepcopy(row))}}
