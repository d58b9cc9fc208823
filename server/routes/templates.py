"""Document generator templates (issue 17): the templates of a card, a document made from one, and bulk sends.

- ``GET /api/v1/templates``: the portal's templates for the session's card (or ``entity_type=deal`` for a bulk
  send, which has no card);
- ``POST /api/v1/templates/{id}/documents``: the portal makes the document, KlikDok creates and sends it with its
  PDF (the session's card only, as an upload);
- ``POST /api/v1/bulk-sends`` and ``GET /api/v1/bulk-sends/{id}``: one document per picked deal, and where the
  job stands (done/total, failures per deal with the reason);
- ``POST /b24/bulk``: the page the deal list's row menu opens (placement ``CRM_DEAL_LIST_MENU``).

The changing routes insist on an ``Idempotency-Key`` (:mod:`.idempotency` runs a request once per key): a second
click must not make a second document in the portal's generator either.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Template

from server import jsonbody
from server.bitrix24 import Bitrix24Error
from server.bitrix24.entities import CODES, DEAL, cards_phrase
from server.db import audit_actions
from server.portal.service import PortalService
from server.portal.sessions import Session, SessionSigner
from server.workflow import docstate
from server.workflow.docstate import DocState
from server.workflow.permissions import PermissionDenied
from server.workflow.templates import BulkStatus, DocumentTemplates

from .errors import ApiProblem, frame_headers
from .portal_pages import client_ip, read_form

LIST_MENU = "CRM_DEAL_LIST_MENU"


class TemplateInfo(msgspec.Struct):
    id: int
    name: str


class FromTemplateBody(msgspec.Struct):
    signers: list[int] = []
    counterparty_email: str = ""
    send: bool = True
    due_date: str = ""
    message: str = ""
    contact_id: int | None = None
    contact_email: str = ""


class FromTemplateCreated(msgspec.Struct):
    id: int
    state: str


class BulkBody(msgspec.Struct):
    template_id: int
    deal_ids: list[int]
    signers: list[int]
    message: str = ""
    due_date: str = ""


class BulkCreated(msgspec.Struct):
    id: int


def _need_key(request: Request[Any, Any, Any]) -> None:
    if not request.headers.get("idempotency-key"):
        raise ApiProblem(400, "idempotency_key_required", "Запрос без Idempotency-Key не принимается.")


class TemplatesApi(Controller):
    path = "/api/v1"
    tags = ["templates"]

    @get("/templates", operation_id="list_templates", summary="The portal's document generator templates")
    async def list_templates(
        self,
        session: Session,
        templates: DocumentTemplates,
        entity_type: str = Parameter(default="", max_length=64, schema_extra={"enum": ["", *sorted(CODES)]}),
    ) -> list[TemplateInfo]:
        kind = entity_type or session.entity_type
        if kind not in CODES:
            raise ApiProblem(400, "bad_request", f"Шаблоны выбираются для карточки {cards_phrase('или')}.")
        return [TemplateInfo(id=t.id, name=t.name) for t in await templates.templates(kind)]

    @post(
        "/templates/{template_id:int}/documents",
        operation_id="create_from_template",
        status_code=201,
        summary="Make the document in the portal's generator and create (send) it in KlikDok",
    )
    async def create_from_template(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        templates: DocumentTemplates,
        template_id: int,
        data: FromTemplateBody,
    ) -> FromTemplateCreated:
        _need_key(request)
        if session.entity_type not in CODES:
            raise PermissionDenied(
                "no_entity", f"Документ создаётся из вкладки «ЭДО» в карточке {cards_phrase('или')}."
            )
        doc_id = await templates.create_from_template(
            session.user_id,
            entity_type=session.entity_type,
            entity_id=session.entity_id,
            template_id=template_id,
            signer_ids=data.signers,
            counterparty_email=data.counterparty_email,
            send=data.send,
            due_date=data.due_date,
            message=data.message,
            contact_id=data.contact_id,
            contact_email=data.contact_email,
        )
        return FromTemplateCreated(id=doc_id, state=DocState.AWAITING_INTERNAL if data.send else DocState.DRAFT)

    @post("/bulk-sends", operation_id="start_bulk_send", status_code=201, summary="One document per picked deal")
    async def start_bulk(
        self, request: Request[Any, Any, Any], session: Session, templates: DocumentTemplates, data: BulkBody
    ) -> BulkCreated:
        _need_key(request)
        job_id = await templates.start_bulk(
            session.user_id,
            template_id=data.template_id,
            deal_ids=data.deal_ids,
            signer_ids=data.signers,
            message=data.message,
            due_date=data.due_date,
        )
        return BulkCreated(id=job_id)

    @get("/bulk-sends/{job_id:int}", operation_id="bulk_send_status", summary="Where a bulk send stands")
    async def bulk_status(self, session: Session, templates: DocumentTemplates, job_id: int) -> BulkStatus:
        return await templates.bulk_status(session.user_id, job_id)


class BulkPage(Controller):
    path = "/b24"
    include_in_schema = False

    @post("/bulk", status_code=200, opt={"portal_page": "placement"})
    async def bulk(self, request: Request[Any, Any, Any], portal: PortalService, signer: SessionSigner) -> Template:
        """The deal list's row menu: the bulk send form with that deal picked. The portal sends one deal (the row
        whose menu was opened: ``PLACEMENT_OPTIONS.ID``, api-reference/widgets/crm/list-menu.md); the form offers
        the list's other deals to add."""
        form = await read_form(request)
        ctx = await portal.check_placement(form, client_ip=client_ip(request))
        first = 0
        try:
            options = jsonbody.loads(str(form.get("PLACEMENT_OPTIONS") or "{}"))
            if isinstance(options, dict):
                first = int(options.get("ID") or 0)
        except (ValueError, TypeError):
            first = 0
        deals: list[dict[str, Any]] = []
        client = await portal.client()
        if client is not None:
            try:
                # With the user's own token: the portal lists the deals this user may read.
                rows = await client.call(
                    "crm.deal.list",
                    {"select": ["ID", "TITLE"], "order": {"ID": "DESC"}, "start": -1},
                    auth=str(form.get("AUTH_ID") or ""),
                )
                deals = [{"id": int(r["ID"]), "title": str(r.get("TITLE") or "")} for r in rows or []]
            except (Bitrix24Error, KeyError, ValueError, TypeError):
                deals = []
        if first and all(d["id"] != first for d in deals):
            deals.insert(0, {"id": first, "title": f"{DEAL.label} №{first}"})
        session = signer.issue(
            member_id=ctx.portal.member_id,
            user_id=ctx.user.id,
            placement=ctx.placement,
            entity_type="",
            entity_id=0,
            admin=False,
            generation=ctx.portal.generation,
        )
        return Template(
            template_name="bulk.html",
            headers=frame_headers(ctx.portal.origin),
            context={
                "user": ctx.user,
                "portal_origin": ctx.portal.origin,
                "app_sid": ctx.app_sid,
                "session_token": session,
                "doc_states": docstate.for_pages(),
                "audit_actions": audit_actions.for_pages(),
                "deals": deals,
                "first_deal": first,
            },
        )


ROUTES: list[Any] = [TemplatesApi, BulkPage]
