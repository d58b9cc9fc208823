"""The emulated portal's CRM user fields, card updates and automation triggers (issue 17, crm-status).

Methods and the schemas they are checked against (demo/bitrix24_spec.json, from the reference spec):
- ``crm.deal.userfield.add``, ``crm.company.userfield.add`` (answer: the new field's id), ``crm.deal.userfield.list``
  (rows as its resultExample: string ids, ``LIST`` items with ID/SORT/VALUE/DEF/XML_ID);
- no schema in the reference, so they follow the official pages: ``crm.company.userfield.list``
  (https://dev.1c-bitrix.ru/rest_help/crm/company/crm_company_userfield_list.php: ``order``, ``filter``; the
  same rows as the deal method's), ``crm.contact.userfield.add`` and ``crm.contact.userfield.list``
  (https://dev.1c-bitrix.ru/rest_help/crm/contacts/crm_contact_userfield_add.php, the same parameters as the
  deal and company methods; ``.../crm_contact_userfield_list.php``), for contacts once the entity registry has
  them;
- ``crm.deal.update``, ``crm.company.update``, ``crm.contact.update`` (``id``, ``fields``; answer ``true``): the
  card's fields, user fields
  included; an enumeration field takes one of its item ids (or "" to clear), anything else is refused as the
  portal refuses it;
- ``crm.automation.trigger.add|delete|execute``: an application's triggers by CODE (``add`` with a known CODE
  renames it, as its page says); every ``execute`` is recorded in ``executions`` for the tests.
The values live on the deal and company rows, so ``crm.deal.get`` answers them and ``crm.deal.list`` filters on
them (a list gives user fields only when they are selected: ``select: ["*", "UF_*"]``).
"""

from __future__ import annotations

from typing import Any

from .portal_state import ApiError, CallContext, PortalState, _ci, _int, _need_admin, _need_app, matches, method

ENTITIES = {
    "deal": ("CRM_DEAL", "deals"),
    "company": ("CRM_COMPANY", "companies"),
    "contact": ("CRM_CONTACT", "contacts"),
}


def data(state: PortalState) -> dict[str, Any]:
    """This module's part of the portal: user fields per entity, triggers, executions (cleared by reset)."""
    return state.extra.setdefault(
        "crmstatus", {"fields": {e: [] for e in ENTITIES}, "triggers": {}, "executions": [], "next_id": 7000}
    )


def fields_of(state: PortalState, entity: str) -> list[dict[str, Any]]:
    with state.lock:
        return list(data(state)["fields"][entity])


def executions(state: PortalState) -> list[dict[str, Any]]:
    with state.lock:
        return list(data(state)["executions"])


def triggers(state: PortalState) -> dict[str, str]:
    with state.lock:
        return dict(data(state)["triggers"])


def _field_name(code: str) -> str:
    """The portal's rule: MANAGER_NOTE -> UF_CRM_MANAGER_NOTE, UF_X -> UF_CRM_X, UF_CRM_X stays."""
    code = code.strip().upper()
    if code.startswith("UF_CRM_"):
        return code
    if code.startswith("UF_"):
        return "UF_CRM_" + code[3:]
    return "UF_CRM_" + code


def _yn(value: Any, default: str = "N") -> str:
    if value is None:
        return default
    return "Y" if str(value).upper() in {"Y", "1", "TRUE"} else "N"


def _userfield_add(entity: str) -> Any:
    def handler(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        _need_admin(state, ctx)  # "администратор CRM" (the schema says so; the contact page has no schema)
        given = _ci(params, "fields")
        if not isinstance(given, dict):
            raise ApiError(400, "ERROR_ARGUMENT", "Required parameter 'fields' is missing")
        user_type = str(given.get("USER_TYPE_ID") or "")
        code = str(given.get("FIELD_NAME") or "")
        if not user_type or not code:
            raise ApiError(400, "ERROR_CORE", "USER_TYPE_ID and FIELD_NAME are required")
        name = _field_name(code)
        if len(name) > 50:
            raise ApiError(400, "ERROR_CORE", "Field name is too long")
        label = str(given.get("LABEL") or "")
        with state.lock:
            store = data(state)
            if any(f["FIELD_NAME"] == name for f in store["fields"][entity]):
                raise ApiError(400, "ERROR_CORE", f"Поле с кодом {name} уже существует")
            store["next_id"] += 1
            field_id = store["next_id"]
            items = []
            for n, item in enumerate(given.get("LIST") or []):
                if not isinstance(item, dict) or not str(item.get("VALUE") or ""):
                    continue
                store["next_id"] += 1
                items.append(
                    {
                        "ID": str(store["next_id"]),
                        "SORT": str(item.get("SORT") or (n + 1) * 10),
                        "VALUE": str(item["VALUE"]),
                        "DEF": _yn(item.get("DEF")),
                        "XML_ID": str(item.get("XML_ID") or f"{store['next_id']:x}"),
                    }
                )
            row: dict[str, Any] = {
                "ID": str(field_id),
                "ENTITY_ID": ENTITIES[entity][0],
                "FIELD_NAME": name,
                "USER_TYPE_ID": user_type,
                "XML_ID": given.get("XML_ID"),
                "SORT": str(given.get("SORT") or 100),
                "MULTIPLE": _yn(given.get("MULTIPLE")),
                "MANDATORY": _yn(given.get("MANDATORY")),
                "SHOW_FILTER": "E" if _yn(given.get("SHOW_FILTER")) == "Y" else "N",
                "SHOW_IN_LIST": _yn(given.get("SHOW_IN_LIST"), "Y"),
                "EDIT_IN_LIST": _yn(given.get("EDIT_IN_LIST"), "Y"),
                "IS_SEARCHABLE": _yn(given.get("IS_SEARCHABLE")),
                "SETTINGS": given.get("SETTINGS") or {},
                "EDIT_FORM_LABEL": str(given.get("EDIT_FORM_LABEL") or label),
                "LIST_COLUMN_LABEL": str(given.get("LIST_COLUMN_LABEL") or label),
                "LIST_FILTER_LABEL": str(given.get("LIST_FILTER_LABEL") or label),
                "ERROR_MESSAGE": given.get("ERROR_MESSAGE"),
                "HELP_MESSAGE": given.get("HELP_MESSAGE"),
            }
            if user_type == "enumeration":
                row["LIST"] = items
            store["fields"][entity].append(row)
        return {"result": field_id}

    return handler


def _userfield_list(entity: str) -> Any:
    def handler(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        conditions = _ci(params, "filter") or {}
        if not isinstance(conditions, dict):
            raise ApiError(400, "INVALID_ARG_VALUE", "filter must be an object")
        with state.lock:
            rows = [dict(f) for f in data(state)["fields"][entity] if matches(f, conditions)]
        return {"result": rows, "total": len(rows)}

    return handler


def _update(entity: str) -> Any:
    def handler(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        entity_id = _int(_ci(params, "id"), 0)
        given = _ci(params, "fields") or {}
        if not isinstance(given, dict):
            raise ApiError(400, "INVALID_ARG_VALUE", "fields must be an object")
        with state.lock:
            row = getattr(state, ENTITIES[entity][1]).get(entity_id)
            if row is None:
                raise ApiError(400, "", "Not found")
            known = {f["FIELD_NAME"]: f for f in data(state)["fields"][entity]}
            changes: dict[str, Any] = {}
            for name, value in given.items():
                if name.startswith("UF_"):
                    uf = known.get(name)
                    if uf is None:
                        continue  # the portal ignores a user field it does not have
                    if uf["USER_TYPE_ID"] == "enumeration" and value not in ("", None, False):
                        ids = {item["ID"] for item in uf.get("LIST") or []}
                        if str(value) not in ids:
                            raise ApiError(400, "", f"Значение поля «{uf['EDIT_FORM_LABEL']}» не найдено в списке")
                        value = str(value)
                    changes[name] = value or None
                elif name in row and not name.startswith("_") and name != "ID":
                    changes[name] = value
            row.update(changes)
        return {"result": True}

    return handler


for _entity in ENTITIES:
    method(f"crm.{_entity}.userfield.add")(_userfield_add(_entity))
    method(f"crm.{_entity}.userfield.list")(_userfield_list(_entity))
    method(f"crm.{_entity}.update")(_update(_entity))


@method("crm.automation.trigger.add")
def _trigger_add(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _need_app(ctx)
    code = str(_ci(params, "CODE") or "")
    if not code or any(not (c.isascii() and (c.islower() or c.isdigit() or c in ".-_")) for c in code):
        raise ApiError(400, "ERROR_ARGUMENT", "CODE must match [a-z0-9.\\-_]")
    with state.lock:
        data(state)["triggers"][code] = str(_ci(params, "NAME") or "")
    return {"result": True}


@method("crm.automation.trigger.delete")
def _trigger_delete(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _need_app(ctx)
    code = str(_ci(params, "CODE") or "")
    with state.lock:
        if data(state)["triggers"].pop(code, None) is None:
            raise ApiError(400, "ERROR_TRIGGER_NOT_FOUND", "Trigger not found")
    return {"result": True}


# OWNER_TYPE_ID with automation on this portal: deals (2), and the smart processes whose automation is on.
_OWNERS = {2: "deals"}


@method("crm.automation.trigger.execute")
def _trigger_execute(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _need_app(ctx)
    code = str(_ci(params, "CODE") or "")
    owner_type = _int(_ci(params, "OWNER_TYPE_ID"), 0)
    owner_id = _int(_ci(params, "OWNER_ID"), 0)
    with state.lock:
        if code not in data(state)["triggers"]:
            raise ApiError(400, "ERROR_TRIGGER_NOT_FOUND", "Trigger not found")
        table = _OWNERS.get(owner_type)
        smart = next((t for t in state.smart_types if t["entityTypeId"] == owner_type), None)
        if table is not None:
            found = owner_id in getattr(state, table)
        elif smart is not None and smart.get("isAutomationEnabled") == "Y":
            found = (owner_type, owner_id) in state.items
        else:
            raise ApiError(400, "ERROR_ARGUMENT", "Automation is not supported for this entity type")
        if not found:
            raise ApiError(400, "ERROR_NOT_FOUND", "Owner not found")
        data(state)["executions"].append({"CODE": code, "OWNER_TYPE_ID": owner_type, "OWNER_ID": owner_id})
    return {"result": True}
