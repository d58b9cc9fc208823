"""Certificate onboarding (issue 14): a proven certificate is active at once only when it is the company's and
the registrant's, or renews one they already had approved; anything else waits for the portal admin, who
approves, refuses (with a reason) or revokes it. Only an active certificate makes a signature the user's.

Real GOST certificates (openssl with the gost engine), a real ``klikdok serve`` on the portal emulator. The
emulator's own company («Вектор», IS_MY_COMPANY) has OWN_INN in its requisites; its users are the seed's.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cades.asn1 import load_certificate
from cades.certs import cert_info
from demo.portal_emulator import PortalEmulator
from tests.support.openssl_pki import Issued
from tests.support.pki_fixtures import GostPki
from tests.workflow.conftest import (
    DIRECTOR,
    GROUP_HEAD,
    MANAGER,
    OWN_INN,
    SALES_HEAD,
    SALES_MANAGER,
    Klikdok,
    People,
    installed_klikdok,
    server_env,
    signing_pki,
    wait_for,
)

OTHER_INN = "7707083893"
DEAL = ("deal", 1)
PDF = b"%PDF-1.7\n" + "Договор подряда №5".encode() + b"\n%%EOF\n"


@dataclass(frozen=True)
class Certs:
    volkov: Issued  # user 3 (Волков Игорь Сергеевич), SN + G, the company's ИНН
    volkov_elsewhere: Issued  # his name, another organisation's ИНН
    volkov_misnamed: Issued  # the company's ИНН, another given name
    volkov_renewed: Issued  # another organisation and no patronymic, but the СНИЛС of volkov_elsewhere
    popov_yo: Issued  # user 7 with «Семен» for the portal's «Семён», odd case and spacing
    lebedev: Issued  # user 6, CN only and no patronymic
    kuznetsova_elsewhere: Issued  # user 2 by CN, another organisation's ИНН (the [policy] company_inn test)
    expired: Issued
    not_yet: Issued


@pytest.fixture(scope="module")
def certs(gost_pki: GostPki) -> Certs:
    pki, ca = gost_pki.pki, gost_pki.inter
    now = dt.datetime.now(dt.UTC)

    def person(
        name: str,
        *,
        sn: str = "",
        g: str = "",
        cn: str = "",
        inn: str = OWN_INN,
        snils: str,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> Issued:
        fields = {"C": "RU", "O": "ООО «Вектор»" if inn == OWN_INN else "ООО «Сторонняя»"}
        fields.update({k: v for k, v in (("SN", sn), ("GN", g), ("CN", cn or f"{sn} {g}".strip())) if v})
        fields.update(INNLE=inn, SNILS=snils)
        subject = pki.subject(**fields)
        return pki.issue(ca, f"onb-{name}", subject=subject, not_before=not_before, not_after=not_after)

    return Certs(
        volkov=person("volkov", sn="Волков", g="Игорь Сергеевич", snils="11122233344"),
        volkov_elsewhere=person("volkov-else", sn="Волков", g="Игорь Сергеевич", inn=OTHER_INN, snils="22233344455"),
        volkov_misnamed=person("volkov-misnamed", sn="Волков", g="Иван Сергеевич", snils="33344455566"),
        volkov_renewed=person("volkov-renewed", sn="Волков", g="Игорь", inn=OTHER_INN, snils="22233344455"),
        popov_yo=person("popov-yo", sn="ПОПОВ", g="семен   Николаевич", snils="44455566677"),
        lebedev=person("lebedev", cn="Лебедев Павел", snils="55566677788"),
        kuznetsova_elsewhere=person("kuznetsova", cn="Кузнецова Мария Андреевна", inn=OTHER_INN, snils="66677788899"),
        expired=person(
            "expired",
            sn="Волков",
            g="Игорь Сергеевич",
            snils="77788899900",
            not_before=now - dt.timedelta(days=400),
            not_after=now - dt.timedelta(days=1),
        ),  # fmt: skip
        not_yet=person(
            "not-yet",
            sn="Волков",
            g="Игорь Сергеевич",
            snils="88899900011",
            not_before=now + dt.timedelta(days=3),
            not_after=now + dt.timedelta(days=400),
        ),  # fmt: skip
    )


def register(kd: Klikdok, user_id: int, cert: Issued) -> dict[str, str]:
    resp = kd.try_register_cert(user_id, cert)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def mine(kd: Klikdok, user_id: int) -> list[dict[str, object]]:
    resp = kd.api("GET", "/me/certificates", user_id)
    assert resp.status_code == 200, resp.text
    return list(resp.json())


def cert_id(kd: Klikdok, user_id: int, cert: Issued) -> int:
    serial = cert_info(load_certificate(cert.cert_pem)).serial.lower()
    rows = kd.query("SELECT id FROM signer_certificates WHERE user_id = ? AND serial = ?", user_id, serial)
    assert rows, f"no row for {cert.name}"
    return int(rows[0][0])


def audit_rows(kd: Klikdok, *actions: str) -> list[tuple[str, str, dict[str, object]]]:
    marks = ",".join("?" * len(actions))
    rows = kd.query(f"SELECT actor, action, details FROM audit_log WHERE action IN ({marks}) ORDER BY id", *actions)
    return [(actor, action, json.loads(details)) for actor, action, details in rows]


def told(kd: Klikdok, user_id: int, about: str) -> str:
    """The Bitrix24 notification the user got about ``about`` (waits for the outbox to deliver it)."""
    notes = wait_for(
        lambda: [n for n in kd.emu.state.notifications if n["USER_ID"] == user_id and about in n["MESSAGE"]],
        what=f"a notification about {about}",
    )
    return str(notes[-1]["MESSAGE"])


def sign_document(kd: Klikdok, signer: int, cert: Issued) -> tuple[int, httpx.Response]:
    """A document for ``signer`` and the answer to their signature made with ``cert``."""
    doc_id = kd.create(MANAGER, DEAL, {"Договор подряда.pdf": PDF}, signers=[signer])
    detail = kd.api("GET", f"/documents/{doc_id}", signer).json()
    path = f"/documents/{doc_id}/files/{detail['files'][0]['id']}/signatures"
    return doc_id, kd.api("POST", path, signer, content=signing_pki().sign(cert, PDF))


def test_the_companys_certificate_in_the_users_name_is_active_at_once(
    kd: Klikdok, people: People, certs: Certs
) -> None:
    # The portal's own company's ИНН (its requisites) and the name: SN + G, CN, ё/е, case and spaces folded.
    kd.emu.state.users[SALES_MANAGER]["NAME"] = "Семён"
    answer = register(kd, GROUP_HEAD, certs.volkov)
    assert answer["status"] == "active" and "действует" in answer["message"], answer["message"]
    assert register(kd, SALES_MANAGER, certs.popov_yo)["status"] == "active"
    assert register(kd, 6, certs.lebedev)["status"] == "active"  # no patronymic in the certificate: not compared
    assert register(kd, DIRECTOR, people.certs[DIRECTOR])["status"] == "active"  # CN only
    (row,) = mine(kd, GROUP_HEAD)
    assert row["status"] == "active" and row["status_label"] == "Действует"
    assert row["owner"] == "Волков Игорь Сергеевич" and row["organisation"] == "ООО «Вектор»"
    assert row["inn"] == OWN_INN and row["snils"] == "11122233344" and row["issuer"] == "Test GOST Issuing CA"
    assert row["not_before"] and row["not_after"] and row["serial"] and row["why_pending"] == ""
    assert row["proof_label"] == "подпись кода подтверждения"
    registered = audit_rows(kd, "certificate.registered")
    assert [(a, d["status"]) for a, _, d in registered] == [
        ("user:3", "active"),
        ("user:7", "active"),
        ("user:6", "active"),
        ("user:1", "active"),
    ]
    # An active certificate makes the user's signatures theirs.
    _, signed = sign_document(kd, GROUP_HEAD, certs.volkov)
    assert signed.status_code == 201, signed.text


def test_another_companys_certificate_waits_for_the_admin_who_approves_it(kd: Klikdok, certs: Certs) -> None:
    answer = register(kd, GROUP_HEAD, certs.volkov_elsewhere)
    assert answer["status"] == "pending" and "ждёт одобрения администратора" in answer["message"]
    (row,) = mine(kd, GROUP_HEAD)
    assert row["status"] == "pending" and row["status_label"] == "Ждёт одобрения администратора"
    assert OTHER_INN in str(row["why_pending"]) and OWN_INN in str(row["why_pending"])
    assert "ФИО" not in str(row["why_pending"])  # the name matched
    # Its signature is not the user's yet, and the refusal says why.
    doc_id, before = sign_document(kd, GROUP_HEAD, certs.volkov_elsewhere)
    assert before.status_code == 403, before.text
    assert "ждёт одобрения администратора" in before.json()["message"]
    # The admin sees it first and approves it; the owner is told in Bitrix24.
    listed = kd.api("GET", "/admin/certificates?status=pending", DIRECTOR).json()
    assert [r["id"] for r in listed] == [cert_id(kd, GROUP_HEAD, certs.volkov_elsewhere)]
    assert listed[0]["user_name"] == "Волков Игорь Сергеевич"
    approved = kd.api("POST", f"/admin/certificates/{listed[0]['id']}/approve", DIRECTOR)
    assert approved.status_code == 200 and approved.json()["status"] == "active", approved.text
    assert mine(kd, GROUP_HEAD)[0]["status"] == "active"
    assert "одобрил ваш сертификат" in told(kd, GROUP_HEAD, "сертификат")
    detail = kd.api("GET", f"/documents/{doc_id}", GROUP_HEAD).json()
    path = f"/documents/{doc_id}/files/{detail['files'][0]['id']}/signatures"
    after = kd.api("POST", path, GROUP_HEAD, content=signing_pki().sign(certs.volkov_elsewhere, PDF))
    assert after.status_code == 201, after.text
    assert [(a, d["status"], d["from"]) for a, _, d in audit_rows(kd, "certificate.approved")] == [
        ("user:1", "active", "pending")
    ]
    # Approving it again is not a transition there is.
    again = kd.api("POST", f"/admin/certificates/{listed[0]['id']}/approve", DIRECTOR)
    assert again.status_code == 409 and again.json()["error"] == "bad_transition"


def test_a_name_mismatch_waits_and_a_refusal_with_a_reason_keeps_it_unusable(kd: Klikdok, certs: Certs) -> None:
    answer = register(kd, GROUP_HEAD, certs.volkov_misnamed)
    assert answer["status"] == "pending"
    why = str(mine(kd, GROUP_HEAD)[0]["why_pending"])
    assert "Волков Иван Сергеевич" in why and "Волков Игорь Сергеевич" in why and "ИНН" not in why
    cid = cert_id(kd, GROUP_HEAD, certs.volkov_misnamed)
    refuse = f"/admin/certificates/{cid}/refuse"
    no_reason = kd.api("POST", refuse, DIRECTOR, json={"reason": "   "})
    assert no_reason.status_code == 400 and no_reason.json()["error"] == "reason_required"
    too_long = kd.api("POST", refuse, DIRECTOR, json={"reason": "я" * 501})
    assert too_long.status_code == 400 and too_long.json()["error"] == "reason_too_long"
    refused = kd.api("POST", refuse, DIRECTOR, json={"reason": "Сертификат выписан на другое имя"})
    assert refused.status_code == 200 and refused.json()["status"] == "refused", refused.text
    (row,) = mine(kd, GROUP_HEAD)
    assert row["status"] == "refused" and row["status_label"] == "Отклонён администратором"
    assert row["reason"] == "Сертификат выписан на другое имя" and row["why_pending"] == ""
    # Registering it again does not bring it back, and its signatures stay refused with the reason.
    again = kd.try_register_cert(GROUP_HEAD, certs.volkov_misnamed)
    assert again.status_code == 403 and again.json()["error"] == "certificate_settled", again.text
    _, signed = sign_document(kd, GROUP_HEAD, certs.volkov_misnamed)
    assert signed.status_code == 403
    assert "другое имя" in signed.json()["message"]
    # Revoking a refused one is not a transition there is.
    assert kd.api("POST", f"/admin/certificates/{cid}/revoke", DIRECTOR).status_code == 409
    decided = audit_rows(kd, "certificate.refused")
    assert [(a, d["code"]) for a, _, d in decided] == [("user:1", "admin_refuse"), ("user:3", "certificate_settled")]
    assert decided[0][2]["reason"] == "Сертификат выписан на другое имя"


def test_revoked_certificate_signs_no_more_and_cannot_be_approved_back(kd: Klikdok, certs: Certs) -> None:
    register(kd, GROUP_HEAD, certs.volkov)
    cid = cert_id(kd, GROUP_HEAD, certs.volkov)
    revoked = kd.api("POST", f"/admin/certificates/{cid}/revoke", DIRECTOR, json={"reason": "Уволился"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked", revoked.text
    assert mine(kd, GROUP_HEAD)[0]["status_label"] == "Отозван администратором"
    _, signed = sign_document(kd, GROUP_HEAD, certs.volkov)
    assert signed.status_code == 403 and "отозван" in signed.json()["message"]
    assert kd.api("POST", f"/admin/certificates/{cid}/approve", DIRECTOR).status_code == 409
    assert kd.try_register_cert(GROUP_HEAD, certs.volkov).json()["error"] == "certificate_settled"
    note = told(kd, GROUP_HEAD, "сертификат")
    assert "отозвал" in note and "Уволился" in note
    assert [(a, d["reason"]) for a, _, d in audit_rows(kd, "certificate.revoked")] == [("user:1", "Уволился")]


def test_a_renewal_with_the_same_snils_is_active_at_once(kd: Klikdok, certs: Certs) -> None:
    # The first certificate of another organisation waits and is approved by the admin...
    assert register(kd, GROUP_HEAD, certs.volkov_elsewhere)["status"] == "pending"
    cid = cert_id(kd, GROUP_HEAD, certs.volkov_elsewhere)
    assert kd.api("POST", f"/admin/certificates/{cid}/approve", DIRECTOR).status_code == 200
    # ...so its renewal (same СНИЛС) is active at once although neither its organisation nor its name would be.
    assert register(kd, GROUP_HEAD, certs.volkov_renewed)["status"] == "active"
    assert [r["status"] for r in mine(kd, GROUP_HEAD)] == ["active", "active"]


def test_a_refused_certificate_is_renewed_by_nothing(kd: Klikdok, certs: Certs) -> None:
    register(kd, GROUP_HEAD, certs.volkov_elsewhere)
    cid = cert_id(kd, GROUP_HEAD, certs.volkov_elsewhere)
    assert kd.api("POST", f"/admin/certificates/{cid}/refuse", DIRECTOR, json={"reason": "Чужая фирма"}).is_success
    assert register(kd, GROUP_HEAD, certs.volkov_renewed)["status"] == "pending"


def test_expired_and_not_yet_valid_certificates_are_refused(kd: Klikdok, certs: Certs) -> None:
    for cert, words in ((certs.expired, "истёк"), (certs.not_yet, "начнёт действовать")):
        resp = kd.try_register_cert(GROUP_HEAD, cert)
        assert resp.status_code == 403 and resp.json()["error"] == "expired", resp.text
        assert words in resp.json()["message"]
    assert mine(kd, GROUP_HEAD) == []
    codes = [(a, d["code"]) for a, _, d in audit_rows(kd, "certificate.refused")]
    assert codes == [("user:3", "expired"), ("user:3", "expired")]


def test_taken_no_proof_and_replay_are_refused_and_audited(kd: Klikdok, people: People, certs: Certs) -> None:
    # Pending for one user: nobody else can take it, even with its key in hand.
    assert register(kd, GROUP_HEAD, certs.volkov_misnamed)["status"] == "pending"
    taken = kd.try_register_cert(MANAGER, certs.volkov_misnamed)
    assert taken.status_code == 403 and taken.json()["error"] == "certificate_taken"
    # Active for one user: the same.
    register(kd, DIRECTOR, people.certs[DIRECTOR])
    assert kd.try_register_cert(MANAGER, people.certs[DIRECTOR]).json()["error"] == "certificate_taken"
    # Signed with another key.
    forged = kd.try_register_cert(MANAGER, certs.volkov, key_of=people.certs[MANAGER])
    assert forged.status_code == 403 and forged.json()["error"] == "no_proof"
    # A challenge used twice.
    challenge = kd.certificate_challenge(MANAGER)
    signature = signing_pki().sign(people.certs[MANAGER], challenge.encode())
    first = kd.try_register_cert(MANAGER, people.certs[MANAGER], challenge=challenge, signature=signature)
    assert first.status_code == 201 and first.json()["status"] == "active"
    replay = kd.try_register_cert(MANAGER, people.certs[MANAGER], challenge=challenge, signature=signature)
    assert replay.status_code == 403 and replay.json()["error"] == "bad_challenge"
    steps = [(a, act, d.get("code") or d.get("status")) for a, act, d in audit_rows(
        kd, "certificate.registered", "certificate.refused"
    )]  # fmt: skip
    assert steps == [
        ("user:3", "certificate.registered", "pending"),
        ("user:4", "certificate.refused", "certificate_taken"),
        ("user:1", "certificate.registered", "active"),
        ("user:4", "certificate.refused", "certificate_taken"),
        ("user:4", "certificate.refused", "no_proof"),
        ("user:4", "certificate.registered", "active"),
        ("user:4", "certificate.refused", "bad_challenge"),
    ]


def test_only_the_portal_admin_decides(kd: Klikdok, certs: Certs) -> None:
    register(kd, GROUP_HEAD, certs.volkov_misnamed)
    cid = cert_id(kd, GROUP_HEAD, certs.volkov_misnamed)
    for method, path in (
        ("GET", "/admin/certificates"),
        ("POST", f"/admin/certificates/{cid}/approve"),
        ("POST", f"/admin/certificates/{cid}/refuse"),
        ("POST", f"/admin/certificates/{cid}/revoke"),
    ):
        resp = kd.api(method, path, MANAGER, json={"reason": "Своё решение"} if method == "POST" else None)
        assert resp.status_code == 403, (path, resp.text)
        assert resp.json()["error"] == "not_admin" and "администратор" in resp.json()["message"]
    assert mine(kd, GROUP_HEAD)[0]["status"] == "pending"
    denied = kd.query("SELECT actor, details FROM audit_log WHERE action = 'access.denied'")
    assert [(a, json.loads(d)["code"]) for a, d in denied] == [("user:4", "not_admin")] * 4
    assert audit_rows(kd, "certificate.approved", "certificate.revoked") == []


def test_a_portal_that_does_not_answer_leaves_the_certificate_pending(kd: Klikdok, certs: Certs) -> None:
    kd.session(GROUP_HEAD)
    for method in ("user.get", "crm.company.list", "crm.requisite.list"):
        kd.emu.state.inject(method, status=403, code="ACCESS_DENIED", description="Access denied", times=10)
    answer = register(kd, GROUP_HEAD, certs.volkov)
    kd.emu.state.faults.clear()
    assert answer["status"] == "pending"
    assert "Портал Битрикс24 не ответил" in str(mine(kd, GROUP_HEAD)[0]["why_pending"])
    # Registering it again once the portal answers settles it.
    assert register(kd, GROUP_HEAD, certs.volkov)["status"] == "active"
    assert mine(kd, GROUP_HEAD)[0]["why_pending"] == ""


@pytest.fixture
def kd_company_inn(tmp_path: Path, emulator: PortalEmulator, people: People) -> Iterator[Klikdok]:
    env = server_env(people.pki, KLIKDOK_POLICY_COMPANY_INN=f'["{OTHER_INN}"]')
    with installed_klikdok(tmp_path / "data", emulator, env) as k:
        yield k


def test_company_inn_from_the_policy_counts_as_the_companys(kd_company_inn: Klikdok, certs: Certs) -> None:
    kd = kd_company_inn
    assert register(kd, SALES_HEAD, certs.kuznetsova_elsewhere)["status"] == "active"
    # The portal's own company still counts too.
    assert register(kd, GROUP_HEAD, certs.volkov)["status"] == "active"


def test_without_the_portals_requisites_the_companys_inn_is_unknown(kd: Klikdok, certs: Certs) -> None:
    kd.emu.state.requisites.clear()
    assert register(kd, GROUP_HEAD, certs.volkov)["status"] == "pending"
    assert "company_inn" in str(mine(kd, GROUP_HEAD)[0]["why_pending"])
