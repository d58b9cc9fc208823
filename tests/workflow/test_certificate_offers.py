"""A signature by a certificate bound to nobody offers to bind it, the proof being that very signature.

The signer who has not bound a certificate yet signs a document: instead of only «не зарегистрирован», the refusal
carries `bind_offer`; accepting it binds the certificate (proof "signature") and accepts the refused signature, so
the signer does not sign twice. The offer is one-time, the signer's own, an hour long, and never made for a
certificate that is someone else's.
"""

from __future__ import annotations

import json
import sqlite3

from tests.workflow.conftest import CHIEF_ACCOUNTANT, DIRECTOR, MANAGER, SALES_HEAD, Klikdok, People

DEAL = ("deal", 1)
PDF = b"%PDF-1.7\n" + "Договор поставки №21".encode() + b"\n%%EOF\n"


def upload(kd: Klikdok, user_id: int, doc: int, cms: bytes):  # type: ignore[no-untyped-def]  # an httpx.Response
    fid = kd.query("SELECT id FROM document_files WHERE document_id = ?", doc)[0][0]
    return kd.api("POST", f"/documents/{doc}/files/{fid}/signatures", user_id, content=cms)


def accept(kd: Klikdok, user_id: int, token: str):  # type: ignore[no-untyped-def]  # an httpx.Response
    return kd.api("POST", f"/me/certificates/offers/{token}/accept", user_id)


def bound(kd: Klikdok, user_id: int) -> int:
    return int(kd.query("SELECT count(*) FROM signer_certificates WHERE user_id = ?", user_id)[0][0])


def test_the_refusal_offers_binding_and_accepting_it_signs_without_signing_again(kd: Klikdok, people: People) -> None:
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": PDF}, signers=[DIRECTOR])
    refused = upload(kd, DIRECTOR, doc, people.sign(DIRECTOR, PDF))
    assert refused.status_code == 403 and refused.json()["error"] == "wrong_signer", refused.text
    offer = refused.json()["bind_offer"]
    assert "Соколов Андрей Викторович" in offer["certificate"] and "СНИЛС 12345678901" in offer["certificate"]
    assert offer["token"] and offer["expires_at"]
    assert kd.query("SELECT count(*) FROM signatures") == [(0,)]
    # Only the token's hash is stored.
    with kd.db() as db:
        assert offer["token"] not in "\n".join(db.iterdump())

    # Another user cannot take it (and their try does not burn it).
    theirs = accept(kd, CHIEF_ACCOUNTANT, offer["token"])
    assert theirs.status_code == 404 and theirs.json()["error"] == "offer_unknown", theirs.text
    assert bound(kd, CHIEF_ACCOUNTANT) == 0

    done = accept(kd, DIRECTOR, offer["token"])
    assert done.status_code == 200, done.text
    answer = done.json()
    assert answer["certificate"]["status"] == "active"
    assert (
        answer["signature"]["document_state"] == "awaiting_counterparty"
        and answer["signature"]["step_completed"] is True
    )
    assert "Подпись под документом принята" in answer["message"]
    assert bound(kd, DIRECTOR) == 1
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_counterparty",)]
    assert kd.query("SELECT signer_user_id, source FROM signatures") == [(DIRECTOR, "upload")]
    [(details,)] = kd.query("SELECT details FROM audit_log WHERE action = 'certificate.registered'")
    assert json.loads(details)["proof"] == "signature"

    # One-time.
    again = accept(kd, DIRECTOR, offer["token"])
    assert again.status_code == 409 and again.json()["error"] == "offer_used", again.text
    # A made-up token.
    assert accept(kd, DIRECTOR, "x" * 43).json()["error"] == "offer_unknown"


def test_an_expired_offer_is_refused(kd: Klikdok, people: People) -> None:
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": PDF}, signers=[SALES_HEAD])
    offer = upload(kd, SALES_HEAD, doc, people.sign(SALES_HEAD, PDF)).json()["bind_offer"]
    conn = sqlite3.connect(kd.server.data_dir / "klikdok.db")
    try:
        with conn:
            conn.execute("UPDATE certificate_offers SET expires_at = '2000-01-01T00:00:00+00:00'")
    finally:
        conn.close()
    late = accept(kd, SALES_HEAD, offer["token"])
    assert late.status_code == 410 and late.json()["error"] == "offer_expired", late.text
    assert "истекло" in late.json()["message"]
    assert bound(kd, SALES_HEAD) == 0 and kd.query("SELECT count(*) FROM signatures") == [(0,)]


def test_no_offer_for_a_certificate_that_is_someone_elses(kd: Klikdok, people: People) -> None:
    kd.register_cert(CHIEF_ACCOUNTANT, people.certs[CHIEF_ACCOUNTANT])
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": PDF}, signers=[DIRECTOR])
    foreign = upload(kd, DIRECTOR, doc, people.sign(CHIEF_ACCOUNTANT, PDF))
    assert foreign.status_code == 403 and foreign.json()["error"] == "wrong_signer", foreign.text
    assert "bind_offer" not in foreign.json()
    assert kd.query("SELECT count(*) FROM certificate_offers") == [(0,)]
