"""The manager's side of the exchange, for the CRM tab: the link's status, resend (to a new address), remind.

The link itself is never in any answer: the sender cannot open the counterparty's page or sign in their name.
Every call carries the page session; only the document's author may resend or remind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post

from server import text
from server.bitrix24 import Bitrix24Error, CrmService
from server.bitrix24.entities import COMPANY, kind_of
from server.portal.sessions import Session
from server.web.b24 import current_session
from server.workflow.docstate import DocState
from server.workflow.permissions import PermissionDenied
from server.workflow.service import PortalMissing, Workflow
from server.workflow.states import TransitionRefused

from . import links


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
    source: str  # "contact", or the company kind's code
    source_label: str  # what the picker shows after the address: «контакт», «компания»


def _problem(status: int, code: str, message: str) -> Response[dict[str, Any]]:
    return Response({"error": code, "message": message}, status_code=status, headers={"Cache-Control": "no-store"})


def _status(row: dict[str, Any]) -> LinkStatus:
    return LinkStatus(**{k: row[k] for k in LinkStatus.__struct_fields__})


def _wf(request: Request) -> Workflow:
    return request.app.state.services.workflow  # type: ignore[no-any-return]


async def _author_doc(request: Request, session: Session, document_id: int, action: str,
                      *, author: bool) -> dict[str, Any]:
    wf = _wf(request)
    viewer = await wf.viewer(session.user_id)
    doc = await wf.visible_document(viewer, document_id)
    if author:
        viewer.require_author(doc, action)
    return doc


class CounterpartyApi(Controller):
    path = "/api/v1/documents/{document_id:int}/counterparty"
    tags = ["counterparty"]

    async def _guard(self, call: Any) -> Any:
        try:
            return await call()
        except PermissionDenied as exc:
            return _problem(403, exc.code, exc.message)
        except (TransitionRefused, links.LinkRefused) as exc:
            return _problem(exc.status, exc.code, exc.message)
        except PortalMissing as exc:
            return _problem(503, "portal_unavailable", str(exc))

    @get("/", summary="The counterparty link's status (never the link)")
    async def status(self, request: Request, document_id: int) -> Response[Any]:
        session = current_session(request)

        async def call() -> Response[Any]:
            doc = await _author_doc(request, session, document_id, "просмотр", author=False)
            settings = request.app.state.services.settings

            def read(d: Any) -> CounterpartyStatus:
                rows = [dict(zip([c[0] for c in cur.description], r, strict=True))
                        for cur in [d.execute("SELECT * FROM counterparty_links WHERE document_id = ? ORDER BY id DESC",
                                              [document_id])] for r in cur.fetchall()]
                used = links.manual_reminders_today(d, document_id, datetime.now(UTC))
                live = next((r for r in rows if not r["revoked_at"]), None)
                return CounterpartyStatus(
                    document_id=document_id, state=doc["state"], counterparty_email=doc["counterparty_email"],
                    current=_status(live) if live else None, history=[_status(r) for r in rows],
                    reminders_left_today=max(0, settings.limits.manual_reminders_per_day - used))

            return Response(await _wf(request).db.read(read), headers={"Cache-Control": "no-store"})

        return await self._guard(call)  # type: ignore[no-any-return]

    @get("/recipients", summary="Addresses the CRM knows for the counterparty (the card's contacts, the company)")
    async def recipients(self, request: Request, document_id: int) -> Response[Any]:
        session = current_session(request)

        async def call() -> Response[Any]:
            doc = await _author_doc(request, session, document_id, "выбор получателя", author=False)
            crm = CrmService(await _wf(request).client())
            found: list[Recipient] = []
            try:
                contacts = await crm.record_contacts(kind_of(doc["entity_type"]), doc["entity_id"])
                for c in contacts:
                    found += [Recipient(email=e, name=text.name(c.full_name), source="contact", source_label="контакт")
                              for e in c.emails]
                if doc["company_id"]:
                    company = await crm.company(doc["company_id"])
                    found += [Recipient(email=e, name=text.name(company.title), source=COMPANY.code,
                                        source_label=COMPANY.label.lower()) for e in company.emails]
            except Bitrix24Error as exc:
                return _problem(502, "crm_unavailable", f"CRM не ответила ({exc.code}).")
            unique = list({r.email.lower(): r for r in found if links.valid_email(r.email)}.values())
            return Response(unique, headers={"Cache-Control": "no-store"})

        return await self._guard(call)  # type: ignore[no-any-return]

    @post("/resend", summary="A new link (the old one dies), to the same or another address", status_code=200)
    async def resend(self, request: Request, document_id: int, data: ResendBody) -> Response[Any]:
        session = current_session(request)
        services = request.app.state.services

        async def call() -> Response[Any]:
            doc = await _author_doc(request, session, document_id, "отправить ссылку заново", author=True)
            email = (data.email or doc["counterparty_email"] or "").strip()
            name = text.name(data.name) or text.name(doc["counterparty_name"])
            link_id = await services.db.write(lambda d: links.issue(
                d, document_id=document_id, recipient_email=email, recipient_name=name,
                ttl_days=services.settings.policy.link_ttl_days, actor=f"user:{session.user_id}",
                key=services.link_key, reason="resent"))
            if services.mail is not None:
                services.mail.wake()
            return Response({"link_id": link_id, "recipient_email": text.email_address(email) or email},
                            headers={"Cache-Control": "no-store"})

        return await self._guard(call)  # type: ignore[no-any-return]

    @post("/remind", summary="A reminder e-mail now (limited per day)", status_code=200)
    async def remind(self, request: Request, document_id: int) -> Response[Any]:
        session = current_session(request)
        services = request.app.state.services
        per_day = services.settings.limits.manual_reminders_per_day

        async def call() -> Response[Any]:
            await _author_doc(request, session, document_id, "напомнить контрагенту", author=True)

            def write(d: Any) -> int:
                link = links.active_link(d, document_id)
                doc_state = d.execute("SELECT state FROM documents WHERE id = ?", [document_id]).fetchone()[0]
                if link is None or doc_state != DocState.AWAITING_COUNTERPARTY:
                    raise links.LinkRefused("no_link", "Напомнить можно, пока документ ждёт подписи контрагента.")
                now = datetime.now(UTC)
                used = links.manual_reminders_today(d, document_id, now)
                if used >= per_day:
                    raise links.LinkRefused("too_many_reminders", f"Сегодня уже отправлено напоминаний: {used}. "
                                            "Попробуйте завтра.", 429)
                links.enqueue_reminder(d, link["id"], document_id, None, actor=f"user:{session.user_id}", now=now)
                return per_day - used - 1

            left = await services.db.write(write)
            if services.mail is not None:
                services.mail.wake()
            return Response({"reminders_left_today": left}, headers={"Cache-Control": "no-store"})

        return await self._guard(call)  # type: ignore[no-any-return]
