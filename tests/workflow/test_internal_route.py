"""The whole internal route over real HTTP against the portal emulator, and the refusals that change nothing."""

from __future__ import annotations

import json

from tests.workflow.conftest import (
    CHIEF_ACCOUNTANT,
    DIRECTOR,
    MANAGER,
    SALES_HEAD,
    Klikdok,
    People,
    wait_for,
)

DEAL = ("deal", 1)
PDF = b"%PDF-1.7\n" + "Договор поставки №17 от 14.05.2026".encode() + b"\n%%EOF\n"


def state_of(kd: Klikdok, doc_id: int) -> str:
    return kd.query("SELECT state FROM documents WHERE id = ?", doc_id)[0][0]


def snapshot(kd: Klikdok, doc_id: int) -> tuple[object, ...]:
    """Everything a refused signature must leave untouched."""
    return (
        kd.query("SELECT state, current_step, updated_at, warnings FROM documents WHERE id = ?", doc_id),
        kd.query("SELECT id, state FROM route_steps WHERE document_id = ? ORDER BY id", doc_id),
        kd.query("SELECT count(*) FROM signatures"),
        kd.query("SELECT kind, payload FROM outbox ORDER BY id"),
    )


def test_create_send_sign_and_reach_the_counterparty(kd: Klikdok, people: People) -> None:
    emu = kd.emu.state
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    kd.register_cert(CHIEF_ACCOUNTANT, people.certs[CHIEF_ACCOUNTANT])

    doc_id = kd.create(MANAGER, DEAL, {"Договор №17.pdf": PDF}, signers=[DIRECTOR])
    assert state_of(kd, doc_id) == "awaiting_internal"
    # The signer is notified through the outbox, after commit.
    note = wait_for(lambda: [n for n in emu.notifications if n["USER_ID"] == DIRECTOR], what="signer notification")
    assert "«Договор поставки» ждёт вашей подписи" in note[0]["MESSAGE"]
    # Its link opens the signer's queue in the application (issue 15), not the deal card.
    assert "[URL=/marketplace/app/7/?view=queue]На подпись[/URL]" in note[0]["MESSAGE"]
    # The original goes to the deal's folder on Disk through the outbox, after the commit.
    wait_for(lambda: "Договор №17.pdf" in {f["NAME"] for f in emu.files.values()}, what="the file on Disk")
    detail = kd.api("GET", f"/documents/{doc_id}", DIRECTOR).json()
    file = detail["files"][0]
    assert file["size"] == len(PDF)
    assert detail["document"]["current_signer_id"] == DIRECTOR
    assert "sign" in detail["can"] and "send" not in detail["can"]
    # The signer downloads exactly the bytes that are signed.
    got = kd.api("GET", f"/documents/{doc_id}/files/{file['id']}/content", DIRECTOR)
    assert got.status_code == 200 and got.content == PDF

    path = f"/documents/{doc_id}/files/{file['id']}/signatures"
    before = snapshot(kd, doc_id)
    # 1. A genuine signature by the right person, but of another document.
    wrong_doc = kd.api("POST", path, DIRECTOR, content=people.sign(DIRECTOR, PDF + b"tampered"))
    assert wrong_doc.status_code == 422 and wrong_doc.json()["error"] == "wrong_document", wrong_doc.text
    assert "не для этого документа" in wrong_doc.json()["message"]
    # 2. The director presents a signature made with the chief accountant's certificate.
    wrong_person = kd.api("POST", path, DIRECTOR, content=people.sign(CHIEF_ACCOUNTANT, PDF))
    assert wrong_person.status_code == 403 and wrong_person.json()["error"] == "wrong_signer", wrong_person.text
    assert "другого сотрудника" in wrong_person.json()["message"]
    # 3. The head of sales (who sees the document: it is from her department) signs with her own registered
    #    certificate, but she is not on the current step.
    kd.register_cert(SALES_HEAD, people.certs[SALES_HEAD])
    not_on_step = kd.api("POST", path, SALES_HEAD, content=people.sign(SALES_HEAD, PDF))
    assert not_on_step.status_code == 403 and not_on_step.json()["error"] == "not_current_signer", not_on_step.text
    # 4. Garbage is not a signature.
    garbage = kd.api("POST", path, DIRECTOR, content=b"-----BEGIN PKCS7-----\nnot really\n-----END PKCS7-----\n")
    assert garbage.status_code == 422 and garbage.json()["error"] == "malformed"
    assert snapshot(kd, doc_id) == before
    refused = kd.query("SELECT actor, details FROM audit_log WHERE action = 'signature.refused' ORDER BY id")
    assert [json.loads(d)["code"] for _, d in refused] == [
        "wrong_document",
        "wrong_signer",
        "not_current_signer",
        "malformed",
    ]
    assert refused[2][0] == f"user:{SALES_HEAD}"

    # The real signature.
    cms = people.sign(DIRECTOR, PDF)
    ok = kd.api("POST", path, DIRECTOR, content=cms)
    assert ok.status_code == 201, ok.text
    assert ok.json()["document_state"] == "awaiting_counterparty" and ok.json()["step_completed"] is True
    assert state_of(kd, doc_id) == "awaiting_counterparty"
    stored = kd.query("SELECT cms, status, signer_user_id, verification FROM signatures WHERE document_id = ?", doc_id)
    assert stored[0][0] == cms and stored[0][1] == "valid" and stored[0][2] == DIRECTOR
    assert json.loads(stored[0][3])["signatures"][0]["signer"]["snils"] == "12345678901"
    # Stored on the emulated Disk next to the document, and the deal's timeline says so.
    sig_file = wait_for(
        lambda: [f for f in emu.files.values() if f["NAME"] == "Договор №17.pdf.sig"], what="the .sig on Disk"
    )[0]
    original = next(f for f in emu.files.values() if f["NAME"] == "Договор №17.pdf")
    assert sig_file["PARENT_ID"] == original["PARENT_ID"]
    assert emu.file_bytes[int(sig_file["ID"])] == cms
    comments = wait_for(
        lambda: [c for c in emu.timeline_comments if "подписан компанией" in c["COMMENT"]], what="timeline comment"
    )
    assert comments[0]["ENTITY_TYPE"] == "deal" and comments[0]["ENTITY_ID"] == 1
    wait_for(
        lambda: [
            n for n in emu.notifications if n["USER_ID"] == MANAGER and "ждёт подписи контрагента" in n["MESSAGE"]
        ],
        what="author notification",
    )
    # A second signature for the same step is refused: the step is closed.
    again = kd.api("POST", path, DIRECTOR, content=cms)
    assert again.status_code == 403 and again.json()["error"] == "not_current_signer"
    # The audit chain holds.
    from tests.support.server import clean_env, run_cli

    check = run_cli("audit", "verify", env=clean_env(KLIKDOK_STORAGE_DATA_DIR=str(kd.server.data_dir)))
    assert check.returncode == 0, check.stdout + check.stderr


def test_two_signers_in_order_and_a_package_of_two_files(kd: Klikdok, people: People) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    kd.register_cert(CHIEF_ACCOUNTANT, people.certs[CHIEF_ACCOUNTANT])
    files = {"Договор.pdf": PDF, "Спецификация.xml": "<spec>Сервер ×2</spec>".encode()}
    doc_id = kd.create(MANAGER, DEAL, files, signers=[CHIEF_ACCOUNTANT, DIRECTOR])
    detail = kd.api("GET", f"/documents/{doc_id}", MANAGER).json()
    ids = {f["name"]: f["id"] for f in detail["files"]}
    # The director is second: not yet.
    early = kd.api(
        "POST",
        f"/documents/{doc_id}/files/{ids['Договор.pdf']}/signatures",
        DIRECTOR,
        content=people.sign(DIRECTOR, PDF),
    )
    assert early.status_code == 403 and early.json()["error"] == "not_current_signer"
    # The accountant signs the first file: the step stays open until every file is signed.
    first = kd.api(
        "POST",
        f"/documents/{doc_id}/files/{ids['Договор.pdf']}/signatures",
        CHIEF_ACCOUNTANT,
        content=people.sign(CHIEF_ACCOUNTANT, PDF),
    )
    assert first.status_code == 201 and first.json()["step_completed"] is False
    second = kd.api(
        "POST",
        f"/documents/{doc_id}/files/{ids['Спецификация.xml']}/signatures",
        CHIEF_ACCOUNTANT,
        files={"signature": ("spec.sig", people.sign(CHIEF_ACCOUNTANT, files["Спецификация.xml"]))},
    )
    assert second.status_code == 201, second.text
    assert second.json()["step_completed"] is True and second.json()["document_state"] == "awaiting_internal"
    wait_for(lambda: [n for n in kd.emu.state.notifications if n["USER_ID"] == DIRECTOR], what="next signer notified")
    for name, data in files.items():
        r = kd.api(
            "POST", f"/documents/{doc_id}/files/{ids[name]}/signatures", DIRECTOR, content=people.sign(DIRECTOR, data)
        )
        assert r.status_code == 201, r.text
    assert state_of(kd, doc_id) == "awaiting_counterparty"
    # Two signatures per file on Disk: <name>.sig and <name>.2.sig.
    wait_for(
        lambda: (
            {"Договор.pdf.sig", "Договор.pdf.2.sig", "Спецификация.xml.sig", "Спецификация.xml.2.sig"}
            <= {f["NAME"] for f in kd.emu.state.files.values()}
        ),
        what="four .sig files on Disk",
    )
    # The package: files, signatures, the report in two formats, and (signed, issue 16) a copy with the marks per
    # file and the protocol PDF. This «PDF» is only a header and a line, so it gets a signing sheet, as the XML does.
    import io
    import zipfile

    pkg = kd.api("GET", f"/documents/{doc_id}/package", MANAGER)
    assert pkg.status_code == 200 and pkg.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(pkg.content))
    names = set(z.namelist())
    # Each signature is named after its file and its signer's surname (the first word of the certificate's CN).
    assert {
        "Договор.pdf",
        "Спецификация.xml",
        "Договор.pdf.Новикова.sig",
        "Договор.pdf.Соколов.sig",
        "Спецификация.xml.Новикова.sig",
        "Спецификация.xml.Соколов.sig",
        "отчёт-о-проверке.html",
        "отчёт-о-проверке.json",
        "Договор.pdf (лист подписания).pdf",
        "Спецификация.xml (лист подписания).pdf",
        "Протокол проверки ЭП — Договор поставки.pdf",
    } == names
    assert z.read("Договор.pdf") == PDF
    report = json.loads(z.read("отчёт-о-проверке.json"))
    assert [s["verification"]["status"] for s in report["signatures"]] == ["valid"] * 4
    page = z.read("отчёт-о-проверке.html").decode()
    # One protocol for the document, its signatures numbered across its files (not «№ 1» for each .sig).
    assert page.count("<h2>Протокол проверки электронной подписи</h2>") == 1
    assert [s["number"] for s in report["signatures"]] == [1, 2, 3, 4]
    assert [s["file"] for s in report["signatures"]] == ["Договор.pdf"] * 2 + ["Спецификация.xml"] * 2
    for n in range(1, 5):
        assert page.count(f"<h2>Подпись № {n}: ") == 1
    history = [h["action"] for h in kd.api("GET", f"/documents/{doc_id}", MANAGER).json()["history"]]
    assert history[:2] == ["document.created", "document.sent"]
    assert history.count("signature.accepted") == 4 and "document.internal_completed" in history


def test_reject_with_reason_withdraw_and_remind(kd: Klikdok, people: People) -> None:
    doc_id = kd.create(MANAGER, DEAL, {"a.pdf": PDF}, signers=[DIRECTOR])
    no_reason = kd.api("POST", f"/documents/{doc_id}/reject", DIRECTOR, json={"reason": "  "})
    assert no_reason.status_code == 400 and no_reason.json()["error"] == "reason_required"
    remind = kd.api("POST", f"/documents/{doc_id}/remind", MANAGER)
    assert remind.status_code == 200
    wait_for(lambda: [n for n in kd.emu.state.notifications if n["MESSAGE"].startswith("Напоминание")], what="reminder")
    rejected = kd.api("POST", f"/documents/{doc_id}/reject", DIRECTOR, json={"reason": "Неверная сумма"})
    assert rejected.status_code == 200, rejected.text
    assert kd.query("SELECT state, reason FROM documents WHERE id = ?", doc_id) == [
        ("rejected_internal", "Неверная сумма")
    ]
    wait_for(
        lambda: [n for n in kd.emu.state.notifications if n["USER_ID"] == MANAGER and "Неверная сумма" in n["MESSAGE"]],
        what="author told the reason",
    )
    # Final states allow nothing more.
    late = kd.api("POST", f"/documents/{doc_id}/withdraw", MANAGER, json={"reason": "x"})
    assert late.status_code == 409 and late.json()["error"] == "wrong_state"

    other = kd.create(MANAGER, DEAL, {"b.pdf": PDF}, signers=[DIRECTOR])
    assert kd.api("POST", f"/documents/{other}/withdraw", MANAGER, json={"reason": "Передумали"}).status_code == 200
    assert state_of(kd, other) == "withdrawn"
    sig = kd.api(
        "POST",
        f"/documents/{other}/files/{kd.api('GET', f'/documents/{other}', DIRECTOR).json()['files'][0]['id']}"
        "/signatures",
        DIRECTOR,
        content=people.sign(DIRECTOR, PDF),
    )
    assert sig.status_code == 409 and sig.json()["error"] == "not_awaiting_signature"


def test_draft_route_then_send_and_delete(kd: Klikdok) -> None:
    doc_id = kd.create(MANAGER, DEAL, {"draft.pdf": PDF}, signers=[], send=False)
    assert state_of(kd, doc_id) == "draft"
    empty = kd.api("POST", f"/documents/{doc_id}/send", MANAGER)
    assert empty.status_code == 400 and empty.json()["error"] == "no_signers"
    unknown = kd.api("PUT", f"/documents/{doc_id}/route", MANAGER, json={"signers": [999]})
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_signer"
    assert kd.api("PUT", f"/documents/{doc_id}/route", MANAGER, json={"signers": [DIRECTOR]}).status_code == 200
    assert kd.api("POST", f"/documents/{doc_id}/send", MANAGER).status_code == 200
    assert state_of(kd, doc_id) == "awaiting_internal"
    # Drafts can be deleted, sent documents cannot.
    assert kd.api("DELETE", f"/documents/{doc_id}", MANAGER).status_code == 409
    draft = kd.create(MANAGER, DEAL, {"x.pdf": PDF}, signers=[DIRECTOR], send=False)
    assert kd.api("DELETE", f"/documents/{draft}", MANAGER).status_code == 200
    listed = kd.api("GET", "/documents", MANAGER, DEAL).json()
    assert [d["id"] for d in listed["items"]] == [doc_id] and listed["total"] == 1
