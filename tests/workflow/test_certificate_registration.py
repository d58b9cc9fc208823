"""Registering a certificate needs its key: a signature over a one-time server challenge.

The attack: certificates are public (every signature carries one), so an employee registered the director's
certificate as their own first, and the director was then refused ("already registered to someone else").
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

from tests.workflow.conftest import CHIEF_ACCOUNTANT, DIRECTOR, MANAGER, Klikdok, People, signing_pki


def refusals(kd: Klikdok, user_id: int) -> list[str]:
    rows = kd.query(
        "SELECT details FROM audit_log WHERE action = 'certificate.refused' AND actor = ? ORDER BY id",
        f"user:{user_id}",
    )
    return [json.loads(d)["code"] for (d,) in rows]


def registered(kd: Klikdok, user_id: int) -> list[str]:
    return [
        r[0]
        for r in kd.query("SELECT serial FROM signer_certificates WHERE user_id = ? AND revoked_at IS NULL", user_id)
    ]


def test_a_stolen_public_certificate_cannot_be_registered_without_its_key(kd: Klikdok, people: People) -> None:
    stolen = people.certs[DIRECTOR]
    # The old way, the certificate alone: refused, with what is needed instead.
    bare = kd.api("POST", "/me/certificates", MANAGER, content=stolen.cert_pem)
    assert bare.status_code == 400, bare.text
    assert bare.json()["error"] == "proof_required" and "подпись" in bare.json()["message"]
    # The challenge signed with the thief's own key, presented with the director's certificate.
    forged = kd.try_register_cert(MANAGER, stolen, key_of=people.certs[MANAGER])
    assert forged.status_code == 403, forged.text
    assert forged.json()["error"] == "no_proof" and "ключом этого сертификата" in forged.json()["message"]
    # A valid signature by the director over something else (one of his documents) proves nothing either.
    other = kd.try_register_cert(MANAGER, stolen, signature=signing_pki().sign(stolen, b"%PDF-1.4 a contract"))
    assert other.status_code == 403 and other.json()["error"] == "no_proof"
    assert registered(kd, MANAGER) == []
    assert refusals(kd, MANAGER) == ["no_proof", "no_proof"]
    denied = kd.query("SELECT details FROM audit_log WHERE action = 'access.denied' AND actor = ?", f"user:{MANAGER}")
    assert [json.loads(d)["code"] for (d,) in denied] == ["no_proof", "no_proof"]
    # The owner registers it: nobody got there first.
    assert kd.try_register_cert(DIRECTOR, stolen).status_code == 201
    assert len(registered(kd, DIRECTOR)) == 1
    row = kd.query("SELECT details FROM audit_log WHERE action = 'certificate.registered'")
    assert json.loads(row[0][0])["proof"] == "challenge"


def test_a_challenge_is_single_use_bound_to_its_user_expiring_and_stored_hashed(kd: Klikdok, people: People) -> None:
    director = people.certs[DIRECTOR]
    challenge = kd.certificate_challenge(DIRECTOR)
    assert challenge.startswith("klikdok-certificate-registration user=1 ")
    # Stored only as a hash.
    rows = kd.query("SELECT user_id, challenge_hash, used_at FROM certificate_challenges")
    assert rows == [(DIRECTOR, hashlib.sha256(challenge.encode()).hexdigest(), None)]
    nonce = challenge.rsplit("nonce=", 1)[1]
    with kd.db() as db:
        dump = "\n".join(db.iterdump())
    assert nonce not in dump

    # Another user cannot use it (with their own certificate and key), and their attempt does not spend it.
    accountant = people.certs[CHIEF_ACCOUNTANT]
    theirs = kd.try_register_cert(CHIEF_ACCOUNTANT, accountant, challenge=challenge)
    assert theirs.status_code == 403 and theirs.json()["error"] == "bad_challenge"
    assert "не выдавался вам" in theirs.json()["message"]
    assert registered(kd, CHIEF_ACCOUNTANT) == []

    signature = signing_pki().sign(director, challenge.encode())
    first = kd.try_register_cert(DIRECTOR, director, challenge=challenge, signature=signature)
    assert first.status_code == 201, first.text
    # Replayed: the same challenge and signature again.
    replay = kd.try_register_cert(DIRECTOR, director, challenge=challenge, signature=signature)
    assert replay.status_code == 403 and replay.json()["error"] == "bad_challenge"
    assert "уже использован" in replay.json()["message"]
    # A failed attempt spends the challenge too: one try per challenge.
    fresh = kd.certificate_challenge(DIRECTOR)
    wrong_key = kd.try_register_cert(DIRECTOR, director, challenge=fresh, key_of=accountant)
    assert wrong_key.status_code == 403 and wrong_key.json()["error"] == "no_proof"
    assert kd.try_register_cert(DIRECTOR, director, challenge=fresh).json()["error"] == "bad_challenge"

    # Expired: the clock of the stored row is moved back (the server's own SQLite file).
    late = kd.certificate_challenge(CHIEF_ACCOUNTANT)
    conn = sqlite3.connect(kd.server.data_dir / "klikdok.db")
    try:
        with conn:
            conn.execute(
                "UPDATE certificate_challenges SET expires_at = '2000-01-01T00:00:00+00:00' WHERE challenge_hash = ?",
                [hashlib.sha256(late.encode()).hexdigest()],
            )
    finally:
        conn.close()
    expired = kd.try_register_cert(CHIEF_ACCOUNTANT, accountant, challenge=late)
    assert expired.status_code == 403 and "просрочен" in expired.json()["message"]
    assert registered(kd, CHIEF_ACCOUNTANT) == []
    assert refusals(kd, CHIEF_ACCOUNTANT) == ["bad_challenge", "bad_challenge"]
    assert refusals(kd, DIRECTOR) == ["bad_challenge", "no_proof", "bad_challenge"]
    # And the right way still works for her.
    assert kd.try_register_cert(CHIEF_ACCOUNTANT, accountant).status_code == 201


def test_asking_for_challenges_again_and_again_keeps_only_the_newest(kd: Klikdok, people: People) -> None:
    asked = [kd.certificate_challenge(MANAGER) for _ in range(25)]
    assert kd.query("SELECT count(*) FROM certificate_challenges WHERE user_id = ?", MANAGER) == [(20,)]
    oldest = kd.try_register_cert(MANAGER, people.certs[MANAGER], challenge=asked[0])
    assert oldest.status_code == 403 and oldest.json()["error"] == "bad_challenge"
    assert kd.try_register_cert(MANAGER, people.certs[MANAGER], challenge=asked[-1]).status_code == 201
