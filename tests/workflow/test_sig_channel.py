"""Binding a certificate with a `.sig` of the challenge (the page's «Файлом .sig» channel, proof "sig").

A .sig made by CryptoPro, КриптоАРМ or cryptcp normally carries the signer's certificate, so the person need not
find the .cer file too; when it does not, the certificate is asked for and the challenge is not spent.
"""

from __future__ import annotations

import base64
import json

import httpx

from tests.workflow.conftest import CHIEF_ACCOUNTANT, DIRECTOR, MANAGER, Klikdok, People, signing_pki


def post_sig(kd: Klikdok, user_id: int, challenge: str, sig: bytes, certificate: bytes | None = None) -> httpx.Response:
    body = {"challenge": challenge, "signature": base64.b64encode(sig).decode(), "proof": "sig"}
    if certificate is not None:
        body["certificate"] = certificate.decode()
    return kd.api("POST", "/me/certificates", user_id, json=body)


def bound(kd: Klikdok, user_id: int) -> list[str]:
    return [r[0] for r in kd.query("SELECT subject FROM signer_certificates WHERE user_id = ?", user_id)]


def test_a_sig_that_carries_its_certificate_binds_it_alone(kd: Klikdok, people: People) -> None:
    director = people.certs[DIRECTOR]
    challenge = kd.certificate_challenge(DIRECTOR)
    resp = post_sig(kd, DIRECTOR, challenge, signing_pki().sign(director, challenge.encode()))
    assert resp.status_code == 201, resp.text
    assert resp.json()["status"] == "active" and "Соколов" in resp.json()["subject"]
    assert len(bound(kd, DIRECTOR)) == 1
    [(details,)] = kd.query("SELECT details FROM audit_log WHERE action = 'certificate.registered'")
    assert json.loads(details)["proof"] == "sig"
    # The same .sig again: the challenge was spent.
    replay = post_sig(kd, DIRECTOR, challenge, signing_pki().sign(director, challenge.encode()))
    assert replay.status_code == 403 and replay.json()["error"] == "bad_challenge", replay.text
    assert "уже использован" in replay.json()["message"]


def test_a_sig_without_the_certificate_asks_for_the_cer_file_and_keeps_the_challenge(
    kd: Klikdok, people: People
) -> None:
    accountant = people.certs[CHIEF_ACCOUNTANT]
    challenge = kd.certificate_challenge(CHIEF_ACCOUNTANT)
    bare = signing_pki().sign(accountant, challenge.encode(), nocerts=True)
    asked = post_sig(kd, CHIEF_ACCOUNTANT, challenge, bare)
    assert asked.status_code == 400 and asked.json()["error"] == "certificate_required", asked.text
    assert ".cer" in asked.json()["message"]
    assert bound(kd, CHIEF_ACCOUNTANT) == []
    # With the certificate given beside it, the same challenge and .sig bind it.
    given = post_sig(kd, CHIEF_ACCOUNTANT, challenge, bare, certificate=accountant.cert_pem)
    assert given.status_code == 201, given.text
    assert len(bound(kd, CHIEF_ACCOUNTANT)) == 1


def test_a_sig_over_other_bytes_is_refused(kd: Klikdok, people: People) -> None:
    manager = people.certs[MANAGER]
    challenge = kd.certificate_challenge(MANAGER)
    other = post_sig(kd, MANAGER, challenge, signing_pki().sign(manager, b"%PDF-1.4 another file"))
    assert other.status_code == 403 and other.json()["error"] == "no_proof", other.text
    # Another person's .sig of this very challenge proves nothing for the manager's certificate either.
    challenge = kd.certificate_challenge(MANAGER)
    theirs = post_sig(
        kd, MANAGER, challenge, signing_pki().sign(people.certs[DIRECTOR], challenge.encode()), manager.cert_pem
    )
    assert theirs.status_code == 403 and theirs.json()["error"] == "no_proof", theirs.text
    assert bound(kd, MANAGER) == []
