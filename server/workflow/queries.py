"""Who may see a document, and the lists and the detail view built from what they may see.

It changes when the visibility rule or what a list or the detail view shows changes (a new list, a new filter,
a new field on the detail page). Every other service that acts on a document for a portal user asks
:meth:`DocumentQueries.visible_document` first, so the rule lives in one place; nothing here writes.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from cades.result import VerificationResult
from cades.verdicts import document_headline
from server.bitrix24.entities import cards_phrase, kind_of
from server.db import Database

from . import approval, poa_policy, poa_store, previews, signature_store, store, version_store
from .digest_commands import digest_commands
from .docstate import FINAL_STATES, OPEN_STATES, DocState
from .model import (
    CardRef,
    DocumentDetail,
    DocumentFile,
    DocumentPage,
    DocumentRow,
    PaperLink,
    PaperLinks,
    SignatureInfo,
    SignatureVerdict,
)
from .permissions import Viewer
from .states import TransitionRefused

if TYPE_CHECKING:
    from .card_access import CardAccess

# «Мои документы»: which of the list's conditions each ``role`` stands for.
MINE_ROLES = {"": "involved", "created": "author_id", "waiting": "awaiting", "signed": "signed_by"}


# The roll-up's filter by state group.
STATE_GROUPS: dict[str, frozenset[DocState]] = {"open": OPEN_STATES, "final": FINAL_STATES}


class DocumentQueries:
    def __init__(self, db: Database, cards: CardAccess | None = None) -> None:
        self.db = db
        # The portal's word on who may read a CRM card (None in tests that run without a portal: roles only).
        self.cards = cards

    async def visible_document(self, viewer: Viewer, document_id: int) -> DocumentRow:
        """The document row if ``viewer`` may see it; else 404 (``TransitionRefused``) or 403 (audited by the API).

        The one visibility rule for everything that shows a document, including other packages' endpoints.
        """

        def read(d: Any) -> tuple[DocumentRow | None, bool, bool]:
            return (
                store.document_row(d, document_id),
                store.is_route_member(d, document_id, viewer.user_id),
                approval.is_participant(d, document_id, viewer.user_id),
            )

        doc, member, participant = await self.db.read(read)
        if doc is None or doc.state == DocState.DELETED:
            raise TransitionRefused("not_found", "Документ не найден.")
        viewer = await self.with_card_rights(viewer, doc, member, participant)
        viewer.require_view(doc, member, participant)
        return doc

    async def with_card_rights(
        self, viewer: Viewer, doc: DocumentRow, member: bool, participant: bool = False
    ) -> Viewer:
        """The viewer plus the document's card when the roles alone do not show it and the portal says the user
        may read the card (asked only then: most views cost no portal call)."""
        if self.cards is None or viewer.can_view(doc, member, participant) or doc.state.info.author_only:
            return viewer
        if await self.cards.may_read(viewer.user_id, doc.entity_type, doc.entity_id):
            return viewer.with_cards(frozenset({(doc.entity_type, doc.entity_id)}))
        return viewer

    async def list(
        self,
        viewer: Viewer,
        *,
        view: str,
        entity: tuple[str, int] | None = None,
        states_: Sequence[str] = (),
        query: str = "",
        overdue: bool = False,
        role: str = "",
        group: str = "",
        kind: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> DocumentPage:
        """view: "entity" (a CRM card), "mine" (mine by ``role``: "created" by me, "waiting" for my signature or
        approval, "signed" by me, or "" any of these and those I stand on the route of, approve or observe),
        "queue" (waiting for my signature), "approvals" (waiting for my approval), "department" (a head's subtree),
        "all" (everything visible; auditors see every document).

        view="entity" on a company card rolls up the documents of the company, its deals and its contacts
        (``kind`` keeps one kind of card); every card's documents show to whoever may read that card on the portal.
        ``group``: "open" or "final" states only."""
        limit = max(1, min(200, limit))
        if group:
            if group not in STATE_GROUPS:
                raise TransitionRefused("bad_request", f"Неизвестная группа состояний: {group}.")
            wanted = {s.value for s in STATE_GROUPS[group]}
            states_ = [s for s in states_ if s in wanted] if states_ else sorted(wanted)
            if not states_:
                return DocumentPage(items=[], total=0, limit=limit, offset=max(0, offset))
        cards: builtins.list[CardRef] = []
        kwargs: dict[str, Any] = {
            "states": states_,
            "query": query,
            "overdue": overdue,
            "limit": limit,
            "offset": max(0, offset),
        }
        if view == "entity":
            if entity is None:
                raise TransitionRefused("bad_request", f"Не указана карточка {cards_phrase('или')}.")
            cards = await self._cards_of(entity)
            if kind:
                cards = [c for c in cards if c.entity_type == kind]
            readable = (
                await self.cards.readable(viewer.user_id, [(c.entity_type, c.entity_id) for c in cards])
                if self.cards is not None
                else frozenset()
            )
            viewer = viewer.with_cards(readable)
            # A card the viewer may not read keeps only its kind and number: the CRM's names are the CRM's to show.
            cards = [
                msgspec.structs.replace(c, readable=True)
                if (c.entity_type, c.entity_id) in viewer.readable_cards
                else msgspec.structs.replace(c, readable=False, title=f"{c.kind_label} №{c.entity_id}")
                for c in cards
            ]
            kwargs["entities"] = [(c.entity_type, c.entity_id) for c in cards]
        elif view == "mine":
            key = MINE_ROLES.get(role)
            if key is None:
                raise TransitionRefused("bad_request", f"Неизвестный отбор: {role}.")
            kwargs[key] = viewer.user_id
        elif view == "queue":
            kwargs["signer_id"] = viewer.user_id
        elif view == "approvals":  # «На согласование»: waiting for my approval (issue 17)
            kwargs["approver_id"] = viewer.user_id
        elif view == "department":
            viewer.require_departments()
            kwargs["departments"] = None if viewer.auditor and not viewer.is_head else viewer.managed_departments
        elif view != "all":
            raise TransitionRefused("bad_request", f"Неизвестный список: {view}.")
        kwargs["scope"] = viewer.scope()
        page = await self.db.read(lambda d: store.list_documents(d, **kwargs))
        page.cards = cards
        return page

    async def _cards_of(self, entity: tuple[str, int]) -> builtins.list[CardRef]:
        """The card itself, or for a company its roll-up (company, deals, contacts) when the portal is there."""
        if self.cards is not None and kind_of(entity[0]).company_field is None:  # the card is a company
            return [
                CardRef(entity_type=c.kind, entity_id=c.id, title=c.title, kind_label=kind_of(c.kind).label)
                for c in await self.cards.rollup(entity[1])
            ]
        return [CardRef(entity_type=entity[0], entity_id=entity[1], title="", kind_label=kind_of(entity[0]).label)]

    async def detail(self, viewer: Viewer, document_id: int) -> DocumentDetail:
        doc = await self.visible_document(viewer, document_id)

        def read(d: Any) -> DocumentDetail:
            summary = store.summary(d, document_id)
            assert summary is not None
            current = store.current_step(d, document_id)
            route = store.route(d, document_id)
            names = {f"user:{doc.author_id}": doc.author_name, "system": "KlikDok"}
            names.update({f"user:{s.user_id}": s.display_name for s in route if s.user_id})
            approval_info = approval.info(d, doc)
            if approval_info is not None:  # approvers act in the history too
                names.update({f"user:{s.user_id}": s.display_name for s in approval_info.steps})
            history = [
                msgspec.structs.replace(
                    h, actor_name=names.get(h.actor, "Контрагент" if h.actor.startswith("counterparty:") else "")
                )
                for h in store.history(d, document_id)
            ]
            files = store.files(d, document_id)
            file_names = {f.id: f.name for f in files}
            signatures = store.signatures(d, document_id)
            versions = version_store.links(d, document_id)
            can = viewer.actions(
                doc,
                current.user_id if current else None,
                current_approver=approval.current_approver(d, document_id, viewer.user_id),
            )
            if versions is not None and versions.next_id is not None:
                can = [a for a in can if a != "new_version"]  # the next one is made from the newest version
            return DocumentDetail(
                document=summary,
                reason=doc.reason,
                counterparty_name=doc.counterparty_name,
                counterparty_inn=doc.counterparty_inn,
                counterparty_ogrn=doc.counterparty_ogrn,
                counterparty_email=doc.counterparty_email,
                files=[
                    msgspec.structs.replace(
                        f, digest_commands=digest_commands(f.name), preview=previews.kind_of(f.content_type)
                    )
                    for f in files
                ],
                route=route,
                signatures=_with_poa(
                    _with_verdicts(signatures, signature_store.verdicts(d, document_id), file_names),
                    poa_store.verdicts(d, document_id),
                ),
                history=history,
                can=can,
                message=doc.message,
                contact_id=doc.contact_id,
                contact_name=doc.contact_name,
                paper=paper_links(document_id, files, {s.file_id for s in signatures}),
                versions=versions,
                approval=approval_info,
            )

        return await self.db.read(read)


def paper_links(document_id: int, files: Sequence[DocumentFile], signed: set[int]) -> PaperLinks | None:
    """The stamped copy of each signed file and the protocol (server.workflow.paper_copies), once there is a
    signature: the routes in server/routes/api/documents.py."""
    if not signed:
        return None
    base = f"/documents/{document_id}"
    return PaperLinks(
        stamped=[
            PaperLink(file_id=f.id, file_name=f.name, url=f"{base}/files/{f.id}/stamped.pdf")
            for f in files
            if f.id in signed
        ],
        protocol=f"{base}/protocol.pdf",
    )


def verdict_of(verification_json: str) -> SignatureVerdict:
    """The headline of a stored (so accepted) signature, in the words every report uses."""
    return _verdict(msgspec.json.decode(verification_json, type=VerificationResult))


def _verdict(result: VerificationResult) -> SignatureVerdict:
    head = document_headline(result, accepted=True)
    return SignatureVerdict(
        tone=head.tone,
        short=head.short,
        title=head.title,
        text=head.text,
        sub_indication=head.sub_indication,
        accepted_without_revocation=head.accepted_without_revocation,
    )


def _with_poa(signatures: list[SignatureInfo], poas: dict[int, poa_store.SignaturePoa]) -> list[SignatureInfo]:
    """Each signature with the МЧД verdict stored with it (issue 18), where one was."""
    return [msgspec.structs.replace(s, poa=poa_policy.shown(poas.get(s.id))) if s.id in poas else s for s in signatures]


def _with_verdicts(
    signatures: list[SignatureInfo], stored: list[signature_store.StoredVerdict], file_names: dict[int, str]
) -> list[SignatureInfo]:
    """Each signature with its verdict, the name of the file it signs and its certificate's validity."""
    by_id = {v.id: v.verification for v in stored}
    out = []
    for s in signatures:
        s = msgspec.structs.replace(s, file_name=file_names.get(s.file_id, ""))
        if s.id in by_id:
            result = msgspec.json.decode(by_id[s.id], type=VerificationResult)
            first = result.signatures[0] if result.signatures else None
            cert = first.certificate if first else None
            s = msgspec.structs.replace(
                s,
                verdict=_verdict(result),
                certificate_not_before=cert.not_before.isoformat() if cert and cert.not_before else None,
                certificate_not_after=cert.not_after.isoformat() if cert and cert.not_after else None,
            )
        out.append(s)
    return out
