"""The manager's side of the exchange, for the CRM tab: the link's status, resend (to a new address), remind.

The link itself is never in any answer: the sender cannot open the counterparty's page or sign in their name.
Every call carries the page session; only the document's author may resend or remind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Controller, Response, get, post

from server import text
from server.bitrix24 import Bitrix24Error, CrmService
from server.bitrix24.entities import COMPANY, CONTACT, cards_phrase, kind_of
from server.config import Settings
from server.counterparty import links
from server.counterparty.link_store import LinkRow
from server.db import Database
from server.portal.sessions import Session
from server.workflow import store
from server.workflow.directory import PortalDirectory
from server.workflow.docstate import DocState
from server.workflow.model import DocumentRow
from server.workflow.permissions import Viewer
from server.workflow.queries import DocumentQueries

from ..dependencies import Services
from ..errors import problem

# Where the portal is missing, the manager's tab answers 503 (try again) rather than the documents API's 502.
OPT = {"portal_missing_status": 503}


class LinkStatus(msgspec.Struct, kw_only=True):
    id: int
    recipient_email: str
    recipient_name: str
    created_at: str
    expires_at: str
    revoked_at: str | None
    revoked_reason: str
    mail_status: str
    mail_error: str
    mail_sent_at: str | None
    first_opened_at: str | None
    opened_count: int
    answered_at: str | None
    answer: str


class CounterpartyStatus(msgspec.Struct, kw_only=True):
    document_id: int
    state: str
    counterparty_email: str
    current: LinkStatus | None
    history: list[LinkStatus]
    reminders_left_today: int


class ResendBody(msgspec.Struct, kw_only=True):
    email: str = ""
    name: str = ""


class Recipient(msgspec.Struct, kw_only=True):
    email: str
    name: str
    source: str  # the kind code of the record the address is from: a contact's or the company's
    source_label: str  # what the picker shows after the address: «контакт», «компания»
    contact_id: int = 0  # the CRM contact's id for a contact's address (the create form stores whom it addressed)


async def crm_recipients(crm: CrmService, entity_type: str, entity_id: int, company_id: int | None) -> list[Recipient]:
    """Addresses the CRM knows for a card's counterparty: its contacts' (primary first), then the company's; each
    address once, only those a letter can be sent to. The resend form asks for a document's card, the create
    form for the card its tab is open in."""
    found: list[Recipient] = []
    for c in await crm.record_contacts(kind_of(entity_type), entity_id):
        found += [
            Recipient(
                email=e, name=text.name(c.full_name), source=CONTACT.code, source_label="контакт", contact_id=c.id
            )
            for e in c.emails
        ]
    if company_id:
        company = await crm.company(company_id)
        found += [
            Recipient(email=e, name=text.name(company.title), source=COMPANY.code, source_label=COMPANY.label.lower())
            for e in company.emails
        ]
    return list({r.email.lower(): r for r in found if links.valid_email(r.email)}.values())


def _status(row: LinkRow) -> LinkStatus:
    return LinkStatus(
        id=row.id,
        recipient_email=row.recipient_email,
        recipient_name=row.recipient_name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
        mail_status=row.mail_status,
        mail_error=row.mail_error,
        mail_sent_at=row.mail_sent_at,
        first_opened_at=row.first_opened_at,
        opened_count=row.opened_count,
        answered_at=row.answered_at,
        answer=row.answer,
    )


async def _author_doc(
    viewer: Viewer,
    documents: DocumentQueries,
    document_id: int,
    action: str,
    *,
    author: bool,
) -> DocumentRow:
    doc = await documents.visible_document(viewer, document_id)
    if author:
        viewer.require_author(doc, action)
    return doc


class CounterpartyApi(Controller):
    path = "/api/v1/documents/{document_id:int}/counterparty"
    tags = ["counterparty"]

    @get("/", summary="The counterparty link's status (never the link)", opt=OPT)
    async def status(
        self,
        viewer: Viewer,
        documents: DocumentQueries,
        db: Database,
        settings: Settings,
        document_id: int,
    ) -> Response[Any]:
        doc = await _author_doc(viewer, documents, document_id, "просмотр", author=False)

        def read(d: Any) -> CounterpartyStatus:
            rows = links.links_of_document(d, document_id)
            used = links.manual_reminders_today(d, document_id, datetime.now(UTC))
            live = next((r for r in rows if not r.revoked_at), None)
            return CounterpartyStatus(
                document_id=document_id,
                state=doc.state,
                counterparty_email=doc.counterparty_email,
                current=_status(live) if live else None,
                history=[_status(r) for r in rows],
                reminders_left_today=max(0, settings.limits.manual_reminders_per_day - used),
            )

        return Response(await db.read(read), headers={"Cache-Control": "no-store"})

    @get(
        "/recipients",
        summary="Addresses the CRM knows for the counterparty (the card's contacts, the company)",
        opt=OPT,
    )
    async def recipients(
        self, directory: PortalDirectory, viewer: Viewer, documents: DocumentQueries, document_id: int
    ) -> Response[Any]:
        doc = await _author_doc(viewer, documents, document_id, "выбор получателя", author=False)
        crm = CrmService(await directory.client())
        try:
            found = await crm_recipients(crm, doc.entity_type, doc.entity_id, doc.company_id)
        except Bitrix24Error as exc:
            return problem(502, "crm_unavailable", f"CRM не ответила ({exc.code}).")
        return Response(found, headers={"Cache-Control": "no-store"})

    @post("/resend", summary="A new link (the old one dies), to the same or another address", status_code=200, opt=OPT)
    async def resend(
        self,
        session: Session,
        viewer: Viewer,
        documents: DocumentQueries,
        services: Services,
        document_id: int,
        data: ResendBody,
    ) -> Response[Any]:
        doc = await _author_doc(viewer, documents, document_id, "отправить ссылку заново", author=True)
        email = (data.email or doc.counterparty_email or "").strip()
        name = text.name(data.name) or text.name(doc.counterparty_name)
        link_id = await services.db.write(
            lambda d: links.issue(
                d,
                document_id=document_id,
                recipient_email=email,
                recipient_name=name,
                ttl_days=services.settings.policy.link_ttl_days,
                actor=f"user:{session.user_id}",
                key=services.link_key,
                reason="resent",
            )
        )
        if services.mail is not None:
            services.mail.wake()
        return Response(
            {"link_id": link_id, "recipient_email": text.email_address(email) or email},
            headers={"Cache-Control": "no-store"},
        )

    @post("/remind", summary="A reminder e-mail now (limited per day)", status_code=200, opt=OPT)
    async def remind(
        self,
        session: Session,
        viewer: Viewer,
        documents: DocumentQueries,
        services: Services,
        document_id: int,
    ) -> Response[Any]:
        per_day = services.settings.limits.manual_reminders_per_day
        await _author_doc(viewer, documents, document_id, "напомнить контрагенту", author=True)

        def write(d: Any) -> int:
            link = links.active_link(d, document_id)
            doc = store.document_row(d, document_id)
            if link is None or doc is None or doc.state != DocState.AWAITING_COUNTERPARTY:
                raise links.LinkRefused("no_link", "Напомнить можно, пока документ ждёт подписи контрагента.")
            now = datetime.now(UTC)
            used = links.manual_reminders_today(d, document_id, now)
            if used >= per_day:
                raise links.LinkRefused(
                    "too_many_reminders", f"Сегодня уже отправлено напоминаний: {used}. Попробуйте завтра."
                )
            links.enqueue_reminder(d, link.id, document_id, None, actor=f"user:{session.user_id}", now=now)
            return per_day - used - 1

        left = await services.db.write(write)
        if services.mail is not None:
            services.mail.wake()
        return Response({"reminders_left_today": left}, headers={"Cache-Control": "no-store"})


class CardRecipientsApi(Controller):
    """The same addresses for the card the tab is open in, before any document exists (the create form's
    contact person picker)."""

    path = "/api/v1/counterparty"
    tags = ["counterparty"]

    @get("/recipients", summary="Addresses the CRM knows for the tab's card (its contacts, its company)", opt=OPT)
    async def recipients(self, session: Session, directory: PortalDirectory) -> Response[Any]:
        if not session.entity_type:
            return problem(400, "bad_request", f"Адреса из CRM есть только во вкладке {cards_phrase('или')}.")
        crm = CrmService(await directory.client())
        try:
            kind = kind_of(session.entity_type)
            company_id = await crm.counterparty_company_id(kind, session.entity_id)
            found = await crm_recipients(crm, session.entity_type, session.entity_id, company_id)
        except Bitrix24Error as exc:
            return problem(502, "crm_unavailable", f"CRM не ответила ({exc.code}).")
        return Response(found, headers={"Cache-Control": "no-store"})
