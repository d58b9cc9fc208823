"""Who sees and does what, for every role across two departments (Sales North under Sales, and Accounting).

Document A: author the manager (dept 4 «Север», under dept 2 «Продажи»), signer the chief accountant.
Document B: author the chief accountant (dept 3 «Бухгалтерия», which she heads), signer the head of sales.
The director heads the root department; the accountant is the configured auditor; the sales manager (dept 2,
not a head) has nothing to do with either. The group head is the responsible person of deal 2 in the CRM, so the
portal lets him read that card and he sees B (read-only) on the card's tab and by its link, not in his own lists.
"""

from __future__ import annotations

import json

import pytest

from tests.workflow.conftest import (
    ACCOUNTANT,
    AUDITOR,
    CHIEF_ACCOUNTANT,
    DIRECTOR,
    GROUP_HEAD,
    MANAGER,
    SALES_HEAD,
    SALES_MANAGER,
    Klikdok,
    People,
)

PDF = b"%PDF-1.4 permissions test\n"
EVERYONE = [DIRECTOR, SALES_HEAD, GROUP_HEAD, MANAGER, CHIEF_ACCOUNTANT, ACCOUNTANT, SALES_MANAGER]
# user -> (sees A, sees B)
VISIBLE = {
    DIRECTOR: (True, True),  # heads the root: the whole tree
    SALES_HEAD: (True, True),  # A by department subtree (4 is under 2), B as its signer
    GROUP_HEAD: (True, True),  # heads dept 4; B: responsible for its deal 2 in the CRM (detail, not lists)
    MANAGER: (True, False),  # author of A
    CHIEF_ACCOUNTANT: (True, True),  # signer of A, author of B
    ACCOUNTANT: (True, True),  # auditor
    SALES_MANAGER: (False, False),  # unrelated
}


@pytest.fixture
def two_documents(kd: Klikdok) -> tuple[int, int]:
    a = kd.create(MANAGER, ("deal", 1), {"A.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Документ A")
    b = kd.create(CHIEF_ACCOUNTANT, ("deal", 2), {"B.pdf": PDF}, signers=[SALES_HEAD], title="Документ B")
    return a, b


def denied_count(kd: Klikdok, user_id: int) -> int:
    return kd.query("SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND actor = ?", f"user:{user_id}")[
        0
    ][0]


def test_visibility_of_details_lists_and_downloads(kd: Klikdok, two_documents: tuple[int, int]) -> None:
    a, b = two_documents
    for user, (sees_a, sees_b) in VISIBLE.items():
        for doc, expected in ((a, sees_a), (b, sees_b)):
            before = denied_count(kd, user)
            detail = kd.api("GET", f"/documents/{doc}", user)
            file_id = kd.query("SELECT id FROM document_files WHERE document_id = ?", doc)[0][0]
            download = kd.api("GET", f"/documents/{doc}/files/{file_id}/content", user)
            package = kd.api("GET", f"/documents/{doc}/package", user)
            if expected:
                assert detail.status_code == 200, (user, doc, detail.text)
                assert download.status_code == 200 and download.content == PDF, (user, doc)
                assert package.status_code == 200, (user, doc)
            else:
                for resp in (detail, download, package):
                    assert resp.status_code == 403, (user, doc, resp.text)
                    assert resp.json()["error"] == "not_visible"
                    assert "нет доступа" in resp.json()["message"]
                assert denied_count(kd, user) == before + 3, user
        listed = kd.api("GET", "/documents", user, params={"view": "all"}).json()
        by_roles = {d for d, ok in ((a, sees_a), (b, sees_b)) if ok} - ({b} if user == GROUP_HEAD else set())
        assert {d["id"] for d in listed["items"]} == by_roles, user
        # The CRM tab list of deal 1 shows only what the user may see.
        tab = kd.api("GET", "/documents", user, ("deal", 1)).json()
        assert [d["id"] for d in tab["items"]] == ([a] if sees_a else []), user


def test_queue_and_department_views(kd: Klikdok, two_documents: tuple[int, int]) -> None:
    a, b = two_documents
    queue = {
        u: [d["id"] for d in kd.api("GET", "/documents", u, params={"view": "queue"}).json()["items"]] for u in EVERYONE
    }
    assert queue == {
        DIRECTOR: [],
        SALES_HEAD: [b],
        GROUP_HEAD: [],
        MANAGER: [],
        CHIEF_ACCOUNTANT: [a],
        ACCOUNTANT: [],
        SALES_MANAGER: [],
    }
    mine = kd.api("GET", "/documents", MANAGER, params={"view": "mine"}).json()
    assert [d["id"] for d in mine["items"]] == [a]
    board = {}
    for user in EVERYONE:
        resp = kd.api("GET", "/documents", user, params={"view": "department"})
        board[user] = resp.status_code if resp.status_code != 200 else {d["id"] for d in resp.json()["items"]}
    assert board == {
        DIRECTOR: {a, b},
        SALES_HEAD: {a},
        GROUP_HEAD: {a},
        MANAGER: 403,
        CHIEF_ACCOUNTANT: {b},
        ACCOUNTANT: {a, b},
        SALES_MANAGER: 403,
    }
    me = kd.api("GET", "/me", SALES_HEAD).json()
    assert me["department_head"] is True and me["managed_departments"] == [2, 4] and me["auditor"] is False
    assert kd.api("GET", "/me", AUDITOR).json()["auditor"] is True


def test_only_the_author_manages_and_only_the_current_signer_signs(
    kd: Klikdok, people: People, two_documents: tuple[int, int]
) -> None:
    a, _ = two_documents
    for user in EVERYONE:
        if user == MANAGER:
            continue
        before = denied_count(kd, user)
        for method, path, body in (
            ("POST", f"/documents/{a}/remind", None),
            ("POST", f"/documents/{a}/withdraw", {"reason": "нет"}),
            ("PUT", f"/documents/{a}/route", {"signers": [user]}),
        ):
            resp = kd.api(method, path, user, json=body)
            assert resp.status_code == 403, (user, path, resp.text)
            assert resp.json()["error"] == ("not_visible" if user == SALES_MANAGER else "not_author"), (user, path)
        if user == AUDITOR:
            assert "только просматривать" in resp.json()["message"]
        assert denied_count(kd, user) == before + 3
        if user == CHIEF_ACCOUNTANT:
            continue
        reject = kd.api("POST", f"/documents/{a}/reject", user, json={"reason": "не моё"})
        assert reject.status_code == 403, (user, reject.text)
        request = kd.api("POST", "/documents/sign-request", user, json={"document_ids": [a]})
        assert request.status_code == 403, (user, request.text)
    # A list for a kind of card the server does not know is refused, with the API's own error shape.
    unknown = kd.api("GET", "/documents?view=entity&entity_type=lead&entity_id=1", MANAGER)
    assert unknown.status_code == 400 and unknown.json()["error"] == "bad_request", unknown.text
    assert "сделки, компании или контакта" in unknown.json()["message"]
    # Creating needs the CRM tab of the same card.
    other_card = kd.api(
        "POST",
        "/documents",
        MANAGER,
        ("deal", 1),
        data={"entity_id": "2", "signers": "1"},
        files=[("files", ("x.pdf", PDF, "application/pdf"))],
    )
    assert other_card.status_code == 403 and other_card.json()["error"] == "other_entity"
    from_app_page = kd.api(
        "POST",
        "/documents",
        MANAGER,
        data={"entity_type": "deal", "entity_id": "1"},
        files=[("files", ("x.pdf", PDF, "application/pdf"))],
    )
    assert from_app_page.status_code == 403 and from_app_page.json()["error"] == "no_entity"
    denied = kd.query(
        "SELECT details FROM audit_log WHERE action = 'access.denied' AND actor = ? ORDER BY id DESC LIMIT 2",
        f"user:{MANAGER}",
    )
    assert [json.loads(d)["code"] for (d,) in denied] == ["no_entity", "other_entity"]
    # The signer opens a job and the author may remind; the audit log is for auditors only.
    jobs = kd.api("POST", "/documents/sign-request", CHIEF_ACCOUNTANT, json={"document_ids": [a]})
    assert (
        jobs.status_code == 200 and jobs.json()[0]["document_id"] == a and jobs.json()[0]["files"][0]["name"] == "A.pdf"
    )
    again = kd.api("POST", "/documents/sign-request", CHIEF_ACCOUNTANT, json={"document_ids": [a]})
    assert again.json()[0]["id"] == jobs.json()[0]["id"]  # one open job per step
    assert kd.api("POST", f"/documents/{a}/remind", MANAGER).status_code == 200
    assert kd.api("GET", "/audit", MANAGER).status_code == 403
    # The log answers a page of rows with their total (issue 15: paging past 200 rows).
    log = kd.api("GET", "/audit", AUDITOR, params={"action": "access.denied"})
    assert log.status_code == 200 and len(log.json()["items"]) >= 10 and log.json()["total"] >= 10
    assert all(row["action"] == "access.denied" for row in log.json()["items"])
    assert {json.dumps(r["details"], ensure_ascii=False) for r in log.json()["items"]}


def test_policy_allowed_snils_lets_an_unregistered_signer_sign(tmp_path, emulator, people: People) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    """Without a registered certificate only the [policy] lists can vouch for a signer."""
    from tests.support.server import start_server
    from tests.workflow.conftest import Klikdok as K
    from tests.workflow.conftest import server_env

    srv = start_server(
        tmp_path / "data", env=server_env(people.pki, KLIKDOK_POLICY_ALLOWED_SIGNER_SNILS='["12345678901"]')
    )
    try:
        kd = K(srv, emulator)
        kd.install()
        doc = kd.create(MANAGER, ("deal", 1), {"p.pdf": PDF}, signers=[CHIEF_ACCOUNTANT])
        fid = kd.query("SELECT id FROM document_files WHERE document_id = ?", doc)[0][0]
        # The chief accountant has no registered certificate and her СНИЛС is not allowed.
        own = kd.api(
            "POST",
            f"/documents/{doc}/files/{fid}/signatures",
            CHIEF_ACCOUNTANT,
            content=people.sign(CHIEF_ACCOUNTANT, PDF),
        )
        assert own.status_code == 403 and own.json()["error"] == "wrong_signer"
        assert "не зарегистрирован сертификат" in own.json()["message"]
        # The director's certificate carries the allowed СНИЛС.
        allowed = kd.api(
            "POST", f"/documents/{doc}/files/{fid}/signatures", CHIEF_ACCOUNTANT, content=people.sign(DIRECTOR, PDF)
        )
        assert allowed.status_code == 201, allowed.text
    finally:
        srv.stop()


def test_members_of_the_auditor_group_see_everything_read_only(tmp_path, emulator, people: People) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    """[policy] auditor_group_id: the portal's workgroup (sonet_group.user.get) decides who audits, not a list."""
    from tests.support.server import start_server
    from tests.workflow.conftest import Klikdok as K
    from tests.workflow.conftest import server_env

    emulator.state.add_group_member(1, SALES_MANAGER)  # seed group 1 «Внутренний аудит»: the director, the accountant
    srv = start_server(
        tmp_path / "data",
        env=server_env(people.pki, KLIKDOK_POLICY_AUDITOR_USER_IDS="[]", KLIKDOK_POLICY_AUDITOR_GROUP_ID="1"),
    )
    try:
        kd = K(srv, emulator)
        kd.install()
        a = kd.create(MANAGER, ("deal", 1), {"A.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Документ A")
        b = kd.create(CHIEF_ACCOUNTANT, ("deal", 2), {"B.pdf": PDF}, signers=[SALES_HEAD], title="Документ B")
        assert kd.api("GET", "/me", SALES_MANAGER).json()["auditor"] is True
        assert kd.api("GET", "/me", GROUP_HEAD).json()["auditor"] is False  # not in the group
        listed = kd.api("GET", "/documents", SALES_MANAGER, params={"view": "all"}).json()
        assert {d["id"] for d in listed["items"]} == {a, b}
        for doc in (a, b):
            assert kd.api("GET", f"/documents/{doc}", SALES_MANAGER).status_code == 200
            assert kd.api("GET", f"/documents/{doc}/package", SALES_MANAGER).status_code == 200
            withdraw = kd.api("POST", f"/documents/{doc}/withdraw", SALES_MANAGER, json={"reason": "нет"})
            assert withdraw.status_code == 403 and withdraw.json()["error"] == "not_author"
            assert "только просматривать" in withdraw.json()["message"]
            assert (
                kd.api("POST", "/documents/sign-request", SALES_MANAGER, json={"document_ids": [doc]}).status_code
                == 403
            )
        assert kd.api("GET", "/audit", SALES_MANAGER).status_code == 200
        assert kd.api("GET", "/audit", GROUP_HEAD).status_code == 403
        assert kd.query("SELECT state FROM documents WHERE id IN (?, ?)", a, b) == [("awaiting_internal",)] * 2
        assert "sonet_group.user.get" in emulator.state.calls
    finally:
        srv.stop()


def test_a_draft_is_seen_only_by_its_author_until_it_is_sent(kd: Klikdok) -> None:
    """A signer named on a draft (and anyone else: heads, auditors) cannot open it before the author sends it."""
    draft = kd.create(
        MANAGER, ("deal", 1), {"D.pdf": PDF}, signers=[CHIEF_ACCOUNTANT, SALES_HEAD], title="Черновик", send=False
    )
    file_id = kd.query("SELECT id FROM document_files WHERE document_id = ?", draft)[0][0]
    others = [u for u in EVERYONE if u != MANAGER]
    for user in others:
        before = denied_count(kd, user)
        for path in (
            f"/documents/{draft}",
            f"/documents/{draft}/files/{file_id}/content",
            f"/documents/{draft}/package",
            f"/documents/{draft}/report",
            f"/documents/{draft}/counterparty/",
        ):
            resp = kd.api("GET", path, user)
            assert resp.status_code == 403, (user, path, resp.text)
            assert resp.json()["error"] == "not_visible", (user, path)
            assert "черновик виден только" in resp.json()["message"], (user, path)
        assert denied_count(kd, user) >= before + 4, user
        for view in ("all", "queue"):
            listed = kd.api("GET", "/documents", user, params={"view": view}).json()
            assert draft not in {d["id"] for d in listed["items"]}, (user, view)
        assert draft not in {d["id"] for d in kd.api("GET", "/documents", user, ("deal", 1)).json()["items"]}, user
    assert kd.api("GET", f"/documents/{draft}", MANAGER).status_code == 200
    assert draft in {d["id"] for d in kd.api("GET", "/documents", MANAGER, params={"view": "mine"}).json()["items"]}
    # Once sent, the route and the usual roles see it.
    assert kd.api("POST", f"/documents/{draft}/send", MANAGER).status_code == 200
    for user in (CHIEF_ACCOUNTANT, SALES_HEAD, AUDITOR, DIRECTOR):
        assert kd.api("GET", f"/documents/{draft}", user).status_code == 200, user
    assert kd.api("GET", f"/documents/{draft}", SALES_MANAGER).status_code == 403
