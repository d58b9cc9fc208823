"""The counterparty is invited inside the transaction that records the company's last signature (the workflow's
``internal_signed`` listener), and the link dies inside the withdrawal's transaction. Real SQLite file, real
GOST signatures by openssl, the real ``accept_signature``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.counterparty import links
from server.counterparty.invitations import Invitations, revoke_on_withdraw
from server.db import Database
from server.workflow import states
from server.workflow.files import digests
from server.workflow.listeners import TransitionListeners
from server.workflow.signatures import FixedValidation, SignatureDeps, SignerClaim, accept_signature, validation_context
from tests.workflow.conftest import DIRECTOR, MANAGER, People
from tests.workflow.test_accept_signature import certificate_key, settings_for

DATA = "Договор поставки №5".encode()


def make_document(d: Any, email: str) -> int:
    d256, d512 = digests(DATA)
    doc_id = states.create_draft(
        d,
        title="Поставка",
        entity_type="deal",
        entity_id=1,
        company_id=2,
        author_id=MANAGER,
        author_name="Морозова",
        department_id=4,
        files=[
            {
                "name": "p.pdf",
                "size": len(DATA),
                "content_type": "application/pdf",
                "streebog256": d256,
                "streebog512": d512,
            }
        ],
        signers=[(DIRECTOR, "Соколов")],
        counterparty={"name": "ООО «Альфа»", "inn": "7712345678", "email": email},
        disk_folder_id=None,
    )
    states.send(d, doc_id, actor_id=MANAGER, counterparty_days=14)
    return doc_id


def deps_with(people: People, db: Database, listeners: TransitionListeners) -> SignatureDeps:
    settings = settings_for(people.pki)
    db.write_sync(
        lambda d: d.execute(
            "INSERT OR IGNORE INTO signer_certificates (user_id, issuer, serial, subject, der, registered_by,"
            " registered_at) SELECT ?, ?, ?, '', x'00', ?, ''",
            [DIRECTOR, *certificate_key(people, DIRECTOR), DIRECTOR],
        )
    )
    return SignatureDeps(
        db=db, settings=settings, validation=FixedValidation(validation_context(settings)), listeners=listeners
    )


def listeners_with_invitations(wakes: list[str]) -> TransitionListeners:
    listeners = TransitionListeners(states.TRANSITIONS)
    listeners.on("internal_signed", Invitations(link_key=b"k" * 32, ttl_days=30))
    listeners.on("withdraw", revoke_on_withdraw)
    listeners.on_commit(lambda: wakes.append("mail"))
    return listeners


def kinds(db: Database, document_id: int) -> list[str]:
    return [
        k
        for (k,) in db.read_sync(
            lambda d: d.execute(
                "SELECT kind FROM outbox WHERE json_extract(payload, '$.document_id') = ? ORDER BY id", [document_id]
            ).fetchall()
        )
    ]


async def test_the_last_internal_signature_issues_the_link_in_its_transaction(db: Database, people: People) -> None:
    wakes: list[str] = []
    deps = deps_with(people, db, listeners_with_invitations(wakes))
    doc_id = await db.write(lambda d: make_document(d, "cp@alfa.example"))
    assert await db.read(lambda d: links.active_link(d, doc_id)) is None
    accepted = await accept_signature(
        deps,
        document_id=doc_id,
        file_id=1,
        cms=people.sign(DIRECTOR, DATA),
        claim=SignerClaim("internal", user_id=DIRECTOR),
        source="upload",
    )
    assert accepted.document_state == "awaiting_counterparty"
    link = await db.read(lambda d: links.active_link(d, doc_id))
    assert link is not None and link.recipient_email == "cp@alfa.example" and link.created_by == "system"
    assert kinds(db, doc_id).count(links.MAIL_INVITATION) == 1
    assert wakes == ["mail"]  # the mail worker hears about the commit at once, not at its next poll
    # The link, its audit row and the signature are one transaction: the audit rows are adjacent.
    actions = [
        a
        for (a,) in db.read_sync(
            lambda d: d.execute(
                "SELECT action FROM audit_log WHERE object_id = ? ORDER BY id", [str(doc_id)]
            ).fetchall()
        )
    ]
    assert actions[-4:] == [
        "signature.accepted",
        "step.signed",
        "document.internal_completed",
        "counterparty.link_issued",
    ]
    # Withdrawing kills the link in the withdrawal's own transaction.
    await db.write(
        lambda d: states.withdraw(d, doc_id, actor_id=MANAGER, reason="передумали", listeners=deps.listeners)
    )
    revoked = await db.read(lambda d: links.link_by_id(d, link.id))
    assert revoked is not None and revoked.revoked_reason == "withdrawn"


async def test_no_address_tells_the_author_once_and_issues_nothing(db: Database, people: People) -> None:
    deps = deps_with(people, db, listeners_with_invitations([]))
    doc_id = await db.write(lambda d: make_document(d, "не адрес"))
    await accept_signature(
        deps,
        document_id=doc_id,
        file_id=1,
        cms=people.sign(DIRECTOR, DATA),
        claim=SignerClaim("internal", user_id=DIRECTOR),
        source="upload",
    )
    assert await db.read(lambda d: links.active_link(d, doc_id)) is None
    assert links.MAIL_INVITATION not in kinds(db, doc_id)
    notes = db.read_sync(lambda d: d.execute("SELECT payload FROM outbox WHERE kind = 'b24.notify'").fetchall())
    to_author = [json.loads(p) for (p,) in notes if json.loads(p)["user_id"] == MANAGER]
    assert len([n for n in to_author if "нет адреса электронной почты" in n["message"]]) == 1


async def test_a_failing_listener_rolls_the_signature_back(db: Database, people: People) -> None:
    """The invitation is part of the transition: if it cannot be written, neither is the signature."""
    listeners = listeners_with_invitations([])

    def broken(d: Any, doc: dict[str, Any]) -> None:
        raise RuntimeError("disk full")

    listeners.on("internal_signed", broken)
    deps = deps_with(people, db, listeners)
    doc_id = await db.write(lambda d: make_document(d, "cp@alfa.example"))
    with pytest.raises(RuntimeError):
        await accept_signature(
            deps,
            document_id=doc_id,
            file_id=1,
            cms=people.sign(DIRECTOR, DATA),
            claim=SignerClaim("internal", user_id=DIRECTOR),
            source="upload",
        )
    state = db.read_sync(lambda d: d.execute("SELECT state FROM documents WHERE id = ?", [doc_id]).fetchone()[0])
    assert state == "awaiting_internal"
    assert db.read_sync(lambda d: d.execute("SELECT count(*) FROM signatures").fetchone()[0]) == 0
    assert db.read_sync(lambda d: d.execute("SELECT count(*) FROM counterparty_links").fetchone()[0]) == 0
    assert links.MAIL_INVITATION not in kinds(db, doc_id)


def test_misspelt_transitions_are_refused_at_registration() -> None:
    with pytest.raises(ValueError):
        TransitionListeners(states.TRANSITIONS).on("internal_completed", lambda d, doc: None)
