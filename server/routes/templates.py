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

import time
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Template

from server import jsonbody
from server.bitrix24 import Bitrix24Error
from server.bitrix24.entities import CODES, cards_phrase
from server.db import audit_actions
from server.portal.service import PortalService
from server.portal.sessions import Session, SessionSigner
from server.workflow import docstate
from server.workflow.docstate import DocState
from server.workflow.permissions import PermissionDenied
from server.workflow.templates import MAX_BULK, BulkStatus, DocumentTemplates

from .errors import ApiProblem, frame_headers
from .portal_pages import client_ip, read_form

LIST_MENU = "CRM_DEAL_LIST_MENU"
GRANT = "bulk-deals"


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
    grant: str = ""  # the bulk page's sealed list of the deals the user may read (``check_grant``)


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
        self,
        request: Request[Any, Any, Any],
        session: Session,
        templates: DocumentTemplates,
        signer: SessionSigner,
        data: BulkBody,
    ) -> BulkCreated:
        _need_key(request)
        check_grant(signer, session.user_id, data.grant, data.deal_ids)
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


async def _readable_deals(portal: PortalService, auth_id: str) -> list[dict[str, Any]]:
    """The newest deals (up to :data:`MAX_BULK`) the portal lists with the user's own token: those the user may read
    in the CRM, and so the only ones a bulk send of theirs may make documents for."""
    client = await portal.client()
    if client is None or not auth_id:
        return []
    deals: list[dict[str, Any]] = []
    start = 0
    try:
        while len(deals) < MAX_BULK:
            envelope = await client.call_raw(
                "crm.deal.list",
                {"select": ["ID", "TITLE"], "order": {"ID": "DESC"}, "start": start},
                auth=auth_id,
            )
            deals += [{"id": int(r["ID"]), "title": str(r.get("TITLE") or "")} for r in envelope.get("result") or []]
            nxt = int(envelope.get("next") or 0)
            if nxt <= start:
                break
            start = nxt
    except (Bitrix24Error, KeyError, ValueError, TypeError):
        return deals
    return deals[:MAX_BULK]


def check_grant(signer: SessionSigner, user_id: int, grant: str, deal_ids: list[int]) -> None:
    """The deals of a bulk send must be among those the bulk page listed for this user with their own token."""
    text, _, mac = grant.rpartition(".")
    parts = text.split("|")
    refused = PermissionDenied(
        "bulk_not_allowed", "Откройте отправку по шаблону из списка сделок портала: список сделок устарел или чужой."
    )
    if len(parts) != 3 or not signer.sealed(GRANT, text, mac):
        raise refused
    try:
        owner, expires = int(parts[0]), int(parts[1])
        allowed = {int(x) for x in parts[2].split(",") if x}
    except ValueError:
        raise refused from None
    if owner != user_id or expires < time.time():
        raise refused
    outside = [d for d in deal_ids if d not in allowed]
    if outside:
        raise PermissionDenied("deal_not_allowed", f"Сделка №{outside[0]} вам недоступна в CRM: документ не создан.")


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
        deals = await _readable_deals(portal, str(form.get("AUTH_ID") or ""))
        session = signer.issue(
            member_id=ctx.portal.member_id,
            user_id=ctx.user.id,
            placement=ctx.placement,
            entity_type="",
            entity_id=0,
            admin=False,
            generation=ctx.portal.generation,
        )
        expires = int(time.time()) + signer.ttl
        text = f"{ctx.user.id}|{expires}|{','.join(str(d['id']) for d in deals)}"
        grant = f"{text}.{signer.seal(GRANT, text)}"
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
                "grant": grant,
            },
        )


ROUTES: list[Any] = [TemplatesApi, BulkPage]
