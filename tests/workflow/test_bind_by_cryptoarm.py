"""Binding a certificate through CryptoARM GOST: the page gets a link whose one file is a one-time code, the app
(the emulator, over real HTTP, signing with openssl and the gost engine) signs it, and the certificate is bound
to the session user; or the page reads why not (no proof, replay, expiry, cancel). Another user can neither
read nor end someone's binding.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import Any

import httpx
import pytest

from server.cryptoarm import sealing
from tests.agent.conftest import pdf, sign_request
from tests.fakes.cryptoarm_emulator import CryptoArmEmulator, parse_link
from tests.support.openssl_pki import Issued
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People, signing_pki

PATH = "/me/certificates/cryptoarm"


def open_binding(kd: Klikdok, user_id: int) -> tuple[str, str, int]:
    """(the cryptoarm:// link, the transaction id in it, the id the page polls)."""
    resp = kd.api("POST", PATH, user_id)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    _, _, txn = parse_link(body["url"], allow_http=True)
    return body["url"], txn, int(body["transaction_id"])


def status(kd: Klikdok, user_id: int, transaction_id: int) -> dict[str, Any]:
    resp = kd.api("GET", f"{PATH}/{transaction_id}", user_id)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def app(cert: Issued, **options: Any) -> CryptoArmEmulator:
    return CryptoArmEmulator(cert.cert, cert.key, allow_http=True, **options)


def rpc(kd: Klikdok, txn: str, payload: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{kd.url}/cryptoarm/json?id={txn}",
        content=json.dumps(payload),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )


def parameters(kd: Klikdok, txn: str) -> dict[str, Any]:
    resp = rpc(kd, txn, {"jsonrpc": "2.0", "method": "signAndEncrypt.parameters", "id": txn})
    assert resp.status_code == 200 and "result" in resp.json(), resp.text
    return dict(resp.json()["result"]["props"])


def results(kd: Klikdok, txn: str, cms: bytes, cert: Issued | None = None) -> httpx.Response:
    item: dict[str, Any] = {"id": "challenge", "out": base64.b64encode(cms).decode()}
    if cert is not None:
        item["signers"] = [{"x509": base64.b64encode(cert.cert_der).decode()}]
    payload = {
        "jsonrpc": "2.0",
        "method": "signAndEncrypt.outDirectResults",
        "params": {"id": txn, "directResults": [item]},
    }
    return rpc(kd, txn, payload)


def bound(kd: Klikdok, user_id: int) -> list[tuple[Any, ...]]:
    return kd.query("SELECT serial, status FROM signer_certificates WHERE user_id = ? AND revoked_at IS NULL", user_id)


def serial_of(cert: Issued) -> str:
    out = signing_pki().run("x509", "-in", cert.cert, "-noout", "-serial").decode()
    return out.strip().split("=", 1)[1].lower().lstrip("0")


@pytest.mark.parametrize("encoding", ["der", "pem"])
def test_the_app_signs_the_code_and_the_certificate_is_bound_to_the_session_user(
    kd: Klikdok, people: People, encoding: str
) -> None:
    link, txn, tid = open_binding(kd, DIRECTOR)
    assert link == f"cryptoarm://signAndEncrypt/{kd.url}/cryptoarm/json?id={txn}"
    assert status(kd, DIRECTOR, tid) == {"state": "pending", "step": "waiting_app"}

    run = app(people.certs[DIRECTOR], encoding=encoding).follow(link)
    assert run.outcome == "uploaded" and run.upload_status == 204, run.to_json()
    [offered] = run.files
    assert offered["id"] == "challenge" and offered["name"] == "Код подтверждения KlikDok.txt"
    params = next(e for e in run.exchanges if e.request == "signAndEncrypt.parameters").response
    props = params["result"]["props"]
    assert params["result"]["operation"] == ["SIGN"] and props["extra"]["signType"] == 1
    assert props["uploader"] == f"{kd.url}/cryptoarm/json?id={txn}"

    done = status(kd, DIRECTOR, tid)
    assert done["state"] == "done" and done["status"] == "active", done
    assert done["serial"].lstrip("0") == serial_of(people.certs[DIRECTOR])
    assert "Соколов" in done["subject"] and done["message"]
    assert [(s.lower(), st) for s, st in bound(kd, DIRECTOR)] == [(done["serial"], "active")]
    registered = kd.query("SELECT details FROM audit_log WHERE action = 'certificate.registered'")
    assert [json.loads(d)["proof"] for (d,) in registered] == ["cryptoarm"]
    # The certificate appears in the signer's list.
    mine = kd.api("GET", "/me/certificates", DIRECTOR).json()
    assert len(mine) == 1 and "Соколов" in str(mine[0])


def test_the_code_is_offered_as_a_file_but_never_stored_in_clear(kd: Klikdok, people: People) -> None:
    _, txn, tid = open_binding(kd, DIRECTOR)
    props = parameters(kd, txn)
    assert status(kd, DIRECTOR, tid) == {"state": "pending", "step": "in_app"}
    [offered] = props["files"]
    got = httpx.get(f"{offered['url']}?accessToken={props['extra']['token']}", timeout=30)
    assert got.status_code == 200
    code = got.content.decode()
    assert code.startswith(f"klikdok-certificate-registration user={DIRECTOR} nonce=")
    nonce = code.rsplit("nonce=", 1)[1]
    with kd.db() as db:
        dump = "\n".join(db.iterdump())
    assert nonce not in dump and txn not in dump and props["extra"]["token"] not in dump
    # Without the token, or with a made-up one, there is no file.
    assert httpx.get(offered["url"], timeout=30).status_code == 404
    assert httpx.get(f"{offered['url']}?accessToken=x{props['extra']['token']}", timeout=30).status_code == 404
    # Signed outside the app with the same key: it is the signature over this code that counts.
    assert results(kd, txn, signing_pki().sign(people.certs[DIRECTOR], code.encode())).status_code == 204
    assert status(kd, DIRECTOR, tid)["state"] == "done"
    assert kd.query("SELECT sealed FROM cryptoarm_transactions") == [("{}",)]


def test_a_signature_by_another_key_proves_nothing(kd: Klikdok, people: People) -> None:
    """The manager has the director's certificate (certificates are public) but signs with their own key; the
    app reports the director's certificate and the signature carries none."""
    link, _, tid = open_binding(kd, MANAGER)
    liar = app(people.certs[MANAGER], include_certificate=False, reported_cert=people.certs[DIRECTOR].cert)
    run = liar.follow(link)
    assert run.outcome == "uploaded" and run.upload_status == 200, run.to_json()
    assert run.upload_body["error"]["data"]["refused"][0]["code"] == "no_proof"
    refused = status(kd, MANAGER, tid)
    assert refused["state"] == "refused" and refused["code"] == "no_proof"
    assert "ключом этого сертификата" in refused["message"]
    assert bound(kd, MANAGER) == [] and bound(kd, DIRECTOR) == []
    # With no certificate anywhere, the page says what to change in the app.
    link, _, tid = open_binding(kd, MANAGER)
    bare = app(people.certs[MANAGER], include_certificate=False)
    bare._signers = lambda: []  # type: ignore[method-assign]  # an app that reports no signer
    assert bare.follow(link).upload_status == 200
    assert status(kd, MANAGER, tid)["code"] == "no_certificate"
    assert bound(kd, MANAGER) == []


def test_the_certificate_is_taken_from_the_report_when_the_signature_carries_none(kd: Klikdok, people: People) -> None:
    link, _, tid = open_binding(kd, MANAGER)
    run = app(people.certs[MANAGER], include_certificate=False).follow(link)
    assert run.upload_status == 204, run.to_json()
    assert status(kd, MANAGER, tid)["state"] == "done"
    assert len(bound(kd, MANAGER)) == 1


def test_a_transaction_and_its_signature_work_once(kd: Klikdok, people: People) -> None:
    director = people.certs[DIRECTOR]
    link, txn, tid = open_binding(kd, DIRECTOR)
    props = parameters(kd, txn)
    [offered] = props["files"]
    code = httpx.get(f"{offered['url']}?accessToken={props['extra']['token']}", timeout=30).content
    cms = signing_pki().sign(director, code)
    assert results(kd, txn, cms).status_code == 204
    assert status(kd, DIRECTOR, tid)["state"] == "done"
    # The same link again (the app), the same results again, the file again.
    again = app(director).follow(link)
    assert "transaction_used" in again.outcome
    replay = results(kd, txn, cms)
    assert replay.status_code == 200 and replay.json()["error"]["data"]["code"] == "transaction_used"
    assert httpx.get(f"{offered['url']}?accessToken={props['extra']['token']}", timeout=30).status_code == 404
    assert status(kd, DIRECTOR, tid)["state"] == "done"
    # The captured signature replayed into a fresh transaction: its code is another one.
    _, txn2, tid2 = open_binding(kd, DIRECTOR)
    parameters(kd, txn2)
    assert results(kd, txn2, cms).json()["error"]["data"]["refused"][0]["code"] == "no_proof"
    assert status(kd, DIRECTOR, tid2)["code"] == "no_proof"
    assert len(bound(kd, DIRECTOR)) == 1


def expire(kd: Klikdok, transaction_id: int) -> None:
    with sqlite3.connect(kd.server.data_dir / "klikdok.db") as conn:
        conn.execute(
            "UPDATE cryptoarm_transactions SET expires_at = '2000-01-01T00:00:00+00:00' WHERE id = ?", [transaction_id]
        )


def test_an_expired_transaction_is_refused_before_and_after_the_app_opened_it(kd: Klikdok, people: People) -> None:
    director = people.certs[DIRECTOR]
    link, _, tid = open_binding(kd, DIRECTOR)
    expire(kd, tid)
    run = app(director).follow(link)
    assert "transaction_expired" in run.outcome, run.to_json()
    assert status(kd, DIRECTOR, tid)["state"] == "timed_out"
    # Opened in the app, then left until it expired.
    _, txn, tid = open_binding(kd, DIRECTOR)
    props = parameters(kd, txn)
    [offered] = props["files"]
    code = httpx.get(f"{offered['url']}?accessToken={props['extra']['token']}", timeout=30).content
    expire(kd, tid)
    late = results(kd, txn, signing_pki().sign(director, code))
    assert late.json()["error"]["data"]["code"] == "transaction_expired"
    expired = status(kd, DIRECTOR, tid)
    assert expired["state"] == "timed_out" and "истекло" in expired["message"]
    assert bound(kd, DIRECTOR) == []


def test_another_user_can_neither_read_nor_end_a_binding(kd: Klikdok, people: People) -> None:
    link, _, tid = open_binding(kd, DIRECTOR)
    assert kd.api("GET", f"{PATH}/{tid}", MANAGER).status_code == 404
    assert kd.api("DELETE", f"{PATH}/{tid}", MANAGER).status_code == 404
    assert kd.api("GET", f"{PATH}/{tid + 1000}", DIRECTOR).status_code == 404
    assert status(kd, DIRECTOR, tid)["state"] == "pending"
    run = app(people.certs[DIRECTOR]).follow(link)
    assert run.upload_status == 204, run.to_json()
    assert status(kd, DIRECTOR, tid)["state"] == "done"
    assert kd.api("GET", f"{PATH}/{tid}", MANAGER).status_code == 404
    assert bound(kd, MANAGER) == [] and len(bound(kd, DIRECTOR)) == 1
    # The row of a CryptoARM run over the director's documents is not a binding either.
    doc = kd.create(MANAGER, ("deal", 1), {"Договор.pdf": pdf(1)}, signers=[DIRECTOR])
    [job] = sign_request(kd, DIRECTOR, [doc])
    assert kd.api("POST", "/cryptoarm/transactions", DIRECTOR, json={"job_ids": [job]}).status_code == 201
    [(job_txn,)] = kd.query("SELECT id FROM cryptoarm_transactions WHERE kind = 'job'")
    assert kd.api("GET", f"{PATH}/{job_txn}", DIRECTOR).status_code == 404
    assert kd.api("DELETE", f"{PATH}/{job_txn}", DIRECTOR).status_code == 404
    assert kd.query("SELECT state FROM cryptoarm_transactions WHERE id = ?", job_txn) == [("open",)]


def test_cancelled_in_the_app_or_withdrawn_on_the_page(kd: Klikdok, people: People) -> None:
    director = people.certs[DIRECTOR]
    link, _, tid = open_binding(kd, DIRECTOR)
    assert app(director, action="cancel").follow(link).upload_status == 204
    cancelled = status(kd, DIRECTOR, tid)
    assert cancelled["state"] == "refused" and cancelled["code"] == "cancelled_in_app"
    # The page stops waiting: the link is dead from then on.
    link, _, tid = open_binding(kd, DIRECTOR)
    withdrawn = kd.api("DELETE", f"{PATH}/{tid}", DIRECTOR)
    assert withdrawn.status_code == 200 and withdrawn.json()["code"] == "withdrawn"
    assert "transaction_used" in app(director).follow(link).outcome
    assert bound(kd, DIRECTOR) == []
    audit = kd.query("SELECT count(*) FROM audit_log WHERE action = 'cryptoarm.withdrawn'")
    assert audit == [(1,)]


def test_a_sealed_secret_opens_only_with_its_own_key_and_undamaged() -> None:
    sealed = sealing.seal("id", "the-link-id", b"klikdok-certificate-registration user=1 nonce=abc")
    assert b"nonce=abc" not in base64.b64decode(sealed)
    assert sealing.open_sealed("id", "the-link-id", sealed).endswith(b"nonce=abc")
    for purpose, secret in (("id", "another-id"), ("token", "the-link-id")):
        with pytest.raises(sealing.Unsealable):
            sealing.open_sealed(purpose, secret, sealed)
    raw = bytearray(base64.b64decode(sealed))
    raw[0] ^= 1
    with pytest.raises(sealing.Unsealable):
        sealing.open_sealed("id", "the-link-id", base64.b64encode(bytes(raw)).decode())
    with pytest.raises(sealing.Unsealable):
        sealing.open_sealed("id", "the-link-id", "not base64!")
