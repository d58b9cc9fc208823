"""The portal's document generator (issue 17, templates): templates per CRM entity type, numbered documents with a
real PDF each, and the deal list whose row menu opens the app (placement ``CRM_DEAL_LIST_MENU``).

Answers follow the vendored schemas' ``resultExample`` (shared/reference/bitrix24-spec,
crm.documentgenerator.template.list / document.add / document.get / document.list): ``template.list`` answers
``{"templates": {id: {...}}}`` keyed by id with ``entityTypeId`` as provider strings ("2_category_0"),
``document.add``/``document.get`` answer ``{"document": {...}}`` with ``pdfUrl`` (the browser's ajax.php address)
and, in ``get``, ``pdfUrlMachine`` (a ``/rest/crm.documentgenerator.document.getPdf.json`` address that needs the
caller's ``auth``). That machine address has no schema of its own (it answers bytes, not JSON): it is served here
as the REST endpoint the example names, counted by the portal's rate limit like any REST request, and it refuses
a request without a valid ``auth``.

The list menu's POST is documented on api-reference/widgets/crm/list-menu.md (b24-rest-docs): ``PLACEMENT_OPTIONS``
is ``{"ID": "<deal id>", "URI": "/crm/deal/list/"}``, one deal (the row whose menu was opened), not a selection.
"""

from __future__ import annotations

import copy
import hashlib
import html
import secrets
from dataclasses import dataclass, field
from typing import Any

from fpdf import FPDF

from . import php_params
from .portal_state import (
    RAW_METHODS,
    RESET_HOOKS,
    ApiError,
    CallContext,
    PortalState,
    _ci,
    _int,
    matches,
    method,
)

LIST_MENU = "CRM_DEAL_LIST_MENU"
PAGE = 50

# The seeded templates: id -> (name, provider strings it is bound to). Deals are entity type 2, companies 4.
SEED_TEMPLATES: dict[int, tuple[str, list[str]]] = {
    37: ("Договор поставки", ["2_category_0"]),
    39: ("Счёт на оплату", ["2_category_0", "2_category_32"]),
    41: ("Договор с компанией", ["4"]),
}


@dataclass
class DocGen:
    """What the generator holds: templates, documents (with their PDF bytes) and the numerators."""

    templates: dict[int, dict[str, Any]] = field(default_factory=dict)
    documents: dict[int, dict[str, Any]] = field(default_factory=dict)
    pdfs: dict[int, bytes] = field(default_factory=dict)
    numbers: dict[int, int] = field(default_factory=dict)
    next_id: int = 60
    adds: int = 0  # document.add calls that made a document (tests count them)
    # The portal's converter makes the PDF after `add` answered: the first `pdf_after_gets` document.get calls of a
    # new document answer without pdfUrlMachine, as a real portal does while the transformer works (tests set it).
    pdf_after_gets: int = 0


def _reset(state: PortalState) -> None:
    gen = DocGen()
    for tid, (name, providers) in SEED_TEMPLATES.items():
        gen.templates[tid] = {
            "id": str(tid),
            "name": name,
            "region": "ru",
            "code": None,
            "active": "Y",
            "moduleId": "crm",
            "numeratorId": str(tid + 10),
            "withStamps": "N",
            "users": ["UA"],
            "isDeleted": "N",
            "sort": "500",
            "entityTypeId": list(providers),
        }
    state.docgen = gen  # type: ignore[attr-defined]  # the emulator's state grows one attribute per module


RESET_HOOKS.append(_reset)


def docgen(state: PortalState) -> DocGen:
    """The state's generator (a state made before this module was imported gets its seed now)."""
    if not hasattr(state, "docgen"):
        _reset(state)
    return state.docgen  # type: ignore[attr-defined, no-any-return]  # set by the reset hook above


def _bound_to(template: dict[str, Any], entity_type_id: int) -> bool:
    """A template serves an entity type when one of its providers is that type ("2" or "2_category_N")."""
    return any(str(p).split("_", 1)[0] == str(entity_type_id) for p in template["entityTypeId"])


def _template_view(template: dict[str, Any], state: PortalState, select: list[str]) -> dict[str, Any]:
    tid = template["id"]
    row = {
        **template,
        "download": f"{state.base_url}/bitrix/services/main/ajax.php?action=crm.documentgenerator.template.download"
        f"&SITE_ID=s1&id={tid}",
        "downloadMachine": f"{state.base_url}/rest/crm.documentgenerator.template.download.json?auth=***&token=***",
    }
    if select and "*" not in select:
        keep = set(select) | {"id"}
        row = {k: v for k, v in row.items() if k in keep}
    return row


@method("crm.documentgenerator.template.list")
def _template_list(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    conditions = _ci(params, "filter") or {}
    if not isinstance(conditions, dict):
        raise ApiError(400, "INVALID_ARG_VALUE", "filter must be an object")
    wanted_type = conditions.get("entityTypeId")
    rest = {k: v for k, v in conditions.items() if k != "entityTypeId"}
    select = [str(s) for s in php_params.items(_ci(params, "select"))]
    with state.lock:
        gen = docgen(state)
        found = [
            t
            for _, t in sorted(gen.templates.items())
            if t["isDeleted"] == "N"
            and (wanted_type in (None, "") or _bound_to(t, _int(wanted_type)))
            and matches(t, rest)
        ]
        start = max(0, _int(_ci(params, "start"), 0))
        page = found[start : start + PAGE]
        envelope: dict[str, Any] = {
            "result": {"templates": {t["id"]: _template_view(t, state, select) for t in page}},
            "total": len(found),
        }
        if start + PAGE < len(found):
            envelope["next"] = start + PAGE
        return envelope


def _entity_title(state: PortalState, entity_type_id: int, entity_id: int) -> str:
    table = {2: state.deals, 4: state.companies, 3: state.contacts}.get(entity_type_id)
    row = table.get(entity_id) if table is not None else None
    if row is None:
        raise ApiError(400, "ERROR_ENTITY_NOT_FOUND", f"Entity {entity_type_id}:{entity_id} not found")
    return str(row.get("TITLE") or " ".join(str(row.get(k) or "") for k in ("LAST_NAME", "NAME")).strip())


def render_pdf(title: str, number: str, entity: str) -> bytes:
    """A small real PDF: the document's title, number and the CRM record it was filled from (Latin-1 core font, so
    the Cyrillic text goes in as a transliteration-free digest line plus the ASCII number)."""
    pdf = FPDF(format="A4")
    pdf.set_creator("Bitrix24 document generator (emulated)")
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(0, 10, f"Document No. {number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=10)
    digest = hashlib.sha256(f"{title}|{entity}".encode()).hexdigest()[:32]
    pdf.cell(0, 8, f"Template data digest: {digest}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _document_view(state: PortalState, doc: dict[str, Any], *, machine: bool, ctx: CallContext) -> dict[str, Any]:
    did = doc["id"]
    ajax = f"{state.base_url}/bitrix/services/main/ajax.php?action=crm.documentgenerator.document"
    row = {
        "changeStampsEnabled": False,
        "changeStampsDisabledReason": "В шаблоне нет печатей и подписей",
        "changeQrCodeEnabled": False,
        "qrCodeEnabled": False,
        "changeQrCodeDisabledReason": "В шаблоне нет QR-кода",
        "products": {"currencyId": "RUB", "totalSum": "0.00", "totalRows": 0},
        "downloadUrl": f"{ajax}.download&SITE_ID=s1&id={did}",
        "publicUrl": None,
        **{k: v for k, v in doc.items() if not k.startswith("_")},
        "imageUrl": f"{ajax}.getImage&SITE_ID=s1&id={did}",
        "pdfUrl": f"{ajax}.getPdf&SITE_ID=s1&id={did}",
    }
    token = doc["_token"]
    auth = f"auth={ctx.access_token}&" if ctx.access_token else ""
    rest = f"{state.base_url}/rest/crm.documentgenerator.document"
    row["downloadUrlMachine"] = f"{rest}.download.json?{auth}token={token}"
    if machine:
        row["imageUrlMachine"] = f"{rest}.getImage.json?{auth}token={token}"
        row["pdfUrlMachine"] = f"{rest}.getPdf.json?{auth}token={token}"
    return row


@method("crm.documentgenerator.document.add")
def _document_add(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    template_id = _int(_ci(params, "templateId"), 0)
    entity_type_id = _int(_ci(params, "entityTypeId"), 0)
    entity_id = _int(_ci(params, "entityId"), 0)
    with state.lock:
        gen = docgen(state)
        template = gen.templates.get(template_id)
        if template is None or template["isDeleted"] == "Y":
            raise ApiError(400, "DOCGEN_TEMPLATE_NOT_FOUND", f"Template {template_id} not found")
        if not _bound_to(template, entity_type_id):
            raise ApiError(400, "DOCGEN_WRONG_PROVIDER", "Template is not bound to this entity type")
        entity = _entity_title(state, entity_type_id, entity_id)
        gen.numbers[template_id] = gen.numbers.get(template_id, 0) + 1
        number = f"2026-{gen.numbers[template_id]:03d}"
        gen.next_id += 1
        did = gen.next_id
        stamp = state._stamp()
        title = f"{template['name']} {number}"
        gen.documents[did] = {
            "id": did,
            "title": title,
            "number": number,
            "createTime": stamp,
            "createdBy": ctx.user_id,
            "updateTime": stamp,
            "updatedBy": None,
            "stampsEnabled": bool(_int(_ci(params, "stampsEnabled"), 0)),
            "isTransformationError": False,
            "values": {"_creationMethod": "rest", "DocumentNumber": number},
            "templateId": str(template_id),
            "pullTag": f"TRANSFORMDOCUMENT{did}",
            "emailDiskFile": None,
            "entityId": str(entity_id),
            "entityTypeId": str(entity_type_id),
            "_token": "docgen|" + secrets.token_urlsafe(18),
        }
        gen.pdfs[did] = render_pdf(title, number, entity)
        gen.adds += 1
        return {"result": {"document": _document_view(state, gen.documents[did], machine=False, ctx=ctx)}}


def _document(state: PortalState, did: int) -> dict[str, Any]:
    doc = docgen(state).documents.get(did)
    if doc is None:
        raise ApiError(400, "DOCGEN_DOCUMENT_NOT_FOUND", f"Document {did} not found")
    return doc


@method("crm.documentgenerator.document.get")
def _document_get(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    with state.lock:
        doc = _document(state, _int(_ci(params, "id"), 0))
        doc["_gets"] = doc.get("_gets", 0) + 1
        ready = doc["_gets"] > docgen(state).pdf_after_gets
        view = _document_view(state, doc, machine=ready, ctx=ctx)
        view["id"] = str(view["id"])
        view["createdBy"] = str(view["createdBy"])
        return {"result": {"document": view}}


@method("crm.documentgenerator.document.list")
def _document_list(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    conditions = _ci(params, "filter") or {}
    if not isinstance(conditions, dict):
        raise ApiError(400, "INVALID_ARG_VALUE", "filter must be an object")
    order = _ci(params, "order") or {"id": "ASC"}
    select = [str(s) for s in php_params.items(_ci(params, "select"))]
    with state.lock:
        rows = []
        for did, doc in docgen(state).documents.items():
            view = _document_view(state, doc, machine=True, ctx=ctx)
            view.update({"id": str(did), "createdBy": str(doc["createdBy"]), "fileId": str(did + 200)})
            view["pdfId"] = str(did + 202)
            rows.append(view)
        found = [r for r in rows if matches(r, conditions)]
        if isinstance(order, dict):
            for name, direction in reversed(list(order.items())):
                found.sort(key=lambda r: _int(r.get(name), 0), reverse=str(direction).upper() == "DESC")
        if select and "*" not in select:
            found = [{k: v for k, v in r.items() if k in set(select) | {"id"}} for r in found]
        start = max(0, _int(_ci(params, "start"), 0))
        envelope: dict[str, Any] = {"result": {"documents": found[start : start + PAGE]}, "total": len(found)}
        if start + PAGE < len(found):
            envelope["next"] = start + PAGE
        return envelope


def _pdf_bytes(state: PortalState, params: dict[str, Any], ctx: CallContext) -> tuple[bytes, str, str]:
    token = str(params.get("token") or "")
    with state.lock:
        gen = docgen(state)
        for did, doc in gen.documents.items():
            if doc["_token"] == token:
                return gen.pdfs[did], "application/pdf", f"{doc['title']}.pdf"
    raise ApiError(404, "DOCGEN_DOCUMENT_NOT_FOUND", "Document not found")


RAW_METHODS["crm.documentgenerator.document.getpdf"] = _pdf_bytes
RAW_METHODS["crm.documentgenerator.document.download"] = _pdf_bytes


# ---- test helpers -------------------------------------------------------------------------------------------


def add_deals_with_contacts(state: PortalState, count: int, *, without_email: set[int] | None = None) -> list[int]:
    """``count`` new deals, each with its own contact (an e-mail each, but for the positions in ``without_email``,
    counted from 0), as a manager's list of deals to send a document for."""
    from . import bitrix24_seed as seed

    without_email = without_email or set()
    ids: list[int] = []
    with state.lock:
        start = max(state.deals, default=0) + 1
        for n in range(count):
            deal_id = start + n
            contact_id = max(state.contacts, default=0) + 1
            emails = [] if n in without_email else [("WORK", f"buyer{deal_id}@client.example")]
            state.contacts[contact_id] = seed._contact(
                contact_id, "Покупатель", f"Сделки{deal_id}", "", "Директор", 2, emails
            )
            state.deals[deal_id] = seed._deal(deal_id, f"Поставка №{deal_id}", 2, [contact_id], 4, "1000.00")
            ids.append(deal_id)
    return ids


def deal_list_html(emulator: Any, user_id: int, deal_id: int = 0) -> str:
    """The deal list (``emulator``: the PortalEmulator serving it; not imported here, it imports this module):
    each row has «Маркетплейс → <app item>» when the app bound ``CRM_DEAL_LIST_MENU``; with
    ``deal_id`` that row's item was clicked, and the app's handler opens in a frame with the documented POST."""
    state = emulator.state
    bound = [p for p in state.placements if p["placement"] == LIST_MENU]
    rows = "".join(
        f"<li>{html.escape(str(r['TITLE']))} "
        + (
            f'<a class="row-menu" data-deal="{d}" href="/crm/deal/list/?user={user_id}&amp;open={d}">'
            f"{html.escape(bound[0]['title'])}</a>"
            if bound
            else ""
        )
        + "</li>"
        for d, r in sorted(state.deals.items())[:PAGE]
    )
    frame = ""
    if bound and deal_id:
        form = state.placement_form(user_id, LIST_MENU, {"ID": str(deal_id), "URI": "/crm/deal/list/"})
        slider = state.placement_form(user_id, "DEFAULT") if state.app_handler else None
        frame = emulator.app_frame_html(bound[0]["handler"], form, slider)
    return (
        '<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Сделки</title></head>'
        f'<body><p><a href="/?user={user_id}">← CRM</a></p><h1>Сделки</h1><ul>{rows}</ul>{frame}</body></html>'
    )


def documents_of(state: PortalState) -> list[dict[str, Any]]:
    """A copy of every generated document (tests assert on numbers and entities)."""
    with state.lock:
        return copy.deepcopy(list(docgen(state).documents.values()))
