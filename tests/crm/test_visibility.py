"""Who sees a CRM card's documents: the roles as before, plus anyone the portal lets read the card (read-only).

Deal 1 of the seed: responsible Морозова (MANAGER, 4), observed by Лебедев (ACCOUNTANT, 6); Попов (SALES_MANAGER, 7)
has nothing to do with it. The director writes the document and the chief accountant signs it, so neither the
responsible person nor the observer has a role on it: what they see, they see through the CRM.
"""

from __future__ import annotations

import time

from demo.emulator_visibility import SMART_TYPE_ID
from server.config import CrmSettings, Settings
from tests.crm.visibility_fixtures import READ_CHECK_SECONDS, crm_kd_fixture  # noqa: F401 - the crm_kd fixture, used by name
from tests.workflow.conftest import (
    ACCOUNTANT,
    CHIEF_ACCOUNTANT,
    DIRECTOR,
    MANAGER,
    SALES_MANAGER,
    Klikdok,
)

PDF = b"%PDF-1.4 crm visibility\n"
DEAL = ("deal", 1)


def _file_id(kd: Klikdok, doc: int) -> int:
    return int(kd.query("SELECT id FROM document_files WHERE document_id = ?", doc)[0][0])


def test_responsible_and_observer_see_read_only_and_a_stranger_does_not(crm_kd: Klikdok) -> None:
    kd = crm_kd
    doc = kd.create(DIRECTOR, DEAL, {"Договор.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Договор по сделке")
    draft = kd.create(DIRECTOR, DEAL, {"Черновик.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Черновик", send=False)
    file_id = _file_id(kd, doc)
    for user in (MANAGER, ACCOUNTANT):
        detail = kd.api("GET", f"/documents/{doc}", user)
        assert detail.status_code == 200, (user, detail.text)
        assert detail.json()["can"] == ["download"], user  # read-only: nothing to sign, withdraw or remind
        content = kd.api("GET", f"/documents/{doc}/files/{file_id}/content", user)
        assert content.status_code == 200 and content.content == PDF
        assert kd.api("GET", f"/documents/{doc}/report", user).status_code == 200
        listed = kd.api("GET", "/documents", user, DEAL).json()
        assert [d["id"] for d in listed["items"]] == [doc], user  # the card's tab; the draft stays the author's
        # Acting stays with the roles.
        for path, body in (
            (f"/documents/{doc}/withdraw", {"reason": "не нужен"}),
            (f"/documents/{doc}/remind", None),
            (f"/documents/{doc}/reject", {"reason": "не согласен"}),
        ):
            refused = kd.api(
                "POST", path, user, json=body, headers={"Idempotency-Key": f"key-{user}-{path.replace('/', '-')}"}
            )
            assert refused.status_code == 403, (user, path, refused.text)
        assert kd.api("GET", f"/documents/{draft}", user).status_code == 403
    stranger = kd.api("GET", f"/documents/{doc}", SALES_MANAGER)
    assert stranger.status_code == 403 and stranger.json()["error"] == "not_visible"
    assert "карточку в CRM" in stranger.json()["message"]
    assert kd.api("GET", f"/documents/{doc}/files/{file_id}/content", SALES_MANAGER).status_code == 403
    assert kd.api("GET", "/documents", SALES_MANAGER, DEAL).json()["items"] == []
    # The portal was asked with each user's own token: its CRM refused the stranger, not KlikDok's guess.
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_internal",)]


def test_the_answer_is_kept_briefly_and_a_revoked_right_stops_counting(crm_kd: Klikdok) -> None:
    kd = crm_kd
    doc = kd.create(DIRECTOR, DEAL, {"Договор.pdf": PDF}, signers=[CHIEF_ACCOUNTANT])
    assert kd.api("GET", f"/documents/{doc}", MANAGER).status_code == 200
    calls = len(kd.emu.state.calls)
    assert kd.api("GET", f"/documents/{doc}", MANAGER).status_code == 200
    assert "crm.deal.get" not in kd.emu.state.calls[calls:]  # kept: no second question to the portal
    with kd.emu.state.lock:
        kd.emu.state.deals[1]["ASSIGNED_BY_ID"] = str(SALES_MANAGER)  # the deal is handed over
    assert kd.api("GET", f"/documents/{doc}", MANAGER).status_code == 200  # still within the kept answer
    time.sleep(READ_CHECK_SECONDS + 0.5)
    assert kd.api("GET", f"/documents/{doc}", MANAGER).status_code == 403
    assert kd.api("GET", f"/documents/{doc}", SALES_MANAGER).status_code == 200
    assert "crm.deal.get" in kd.emu.state.calls[calls:]


def test_company_card_rolls_up_company_deal_and_contact_documents(crm_kd: Klikdok) -> None:
    kd = crm_kd
    on_company = kd.create(DIRECTOR, ("company", 2), {"a.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Рамочный")
    on_deal = kd.create(DIRECTOR, ("deal", 1), {"b.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Спецификация")
    on_contact = kd.create(DIRECTOR, ("contact", 1), {"c.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Доверенность")
    elsewhere = kd.create(DIRECTOR, ("deal", 2), {"d.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Чужая сделка")
    company = ("company", 2)
    page = kd.api("GET", "/documents", DIRECTOR, company).json()
    assert {d["id"] for d in page["items"]} == {on_company, on_deal, on_contact}
    assert elsewhere not in {d["id"] for d in page["items"]}
    cards = [(c["entity_type"], c["entity_id"], c["title"]) for c in page["cards"]]
    assert cards == [
        ("company", 2, "Компания"),
        ("deal", 1, "Сделка «Поставка серверного оборудования»"),
        ("contact", 1, "Контакт Орлов Дмитрий Сергеевич"),
        ("contact", 2, "Контакт Белова Анна Игоревна"),
    ]
    by_id = {d["id"]: (d["entity_type"], d["entity_id"]) for d in page["items"]}
    assert by_id == {on_company: ("company", 2), on_deal: ("deal", 1), on_contact: ("contact", 1)}
    # Filters: one kind of card, a state group; and pages.
    deals = kd.api("GET", "/documents", DIRECTOR, company, params={"kind": "deal"}).json()
    assert [d["id"] for d in deals["items"]] == [on_deal]
    assert kd.api("GET", "/documents", DIRECTOR, company, params={"group": "final"}).json()["total"] == 0
    assert kd.api("GET", "/documents", DIRECTOR, company, params={"group": "open"}).json()["total"] == 3
    first = kd.api("GET", "/documents", DIRECTOR, company, params={"limit": 2}).json()
    rest = kd.api("GET", "/documents", DIRECTOR, company, params={"limit": 2, "offset": 2}).json()
    assert first["total"] == 3 and len(first["items"]) == 2 and len(rest["items"]) == 1
    assert {d["id"] for d in first["items"] + rest["items"]} == {on_company, on_deal, on_contact}
    # The deal's responsible person may read the deal but not the company (assigned to the head of sales) nor its
    # contacts (assigned to herself: Морозова is responsible for the seed's contacts, so she reads them too).
    mine = kd.api("GET", "/documents", MANAGER, company).json()
    assert {d["id"] for d in mine["items"]} == {on_deal, on_contact}
    readable = {(c["entity_type"], c["entity_id"]): (c["readable"], c["title"]) for c in mine["cards"]}
    assert readable[("company", 2)] == (False, "Компания №2")
    assert readable[("deal", 1)] == (True, "Сделка «Поставка серверного оборудования»")
    # A stranger learns neither the documents nor the names of the company's deals and contacts.
    stranger = kd.api("GET", "/documents", SALES_MANAGER, company).json()
    assert stranger["items"] == []
    assert [c["title"] for c in stranger["cards"]] == ["Компания №2", "Сделка №1", "Контакт №1", "Контакт №2"]


def test_reinstalling_binds_each_tab_once_and_the_config_refuses_a_system_type(crm_kd: Klikdok) -> None:
    kd = crm_kd
    again = kd._post_page("/b24/install", kd.emu.state.placement_form(1, "DEFAULT"))  # a new version: install again
    assert again.status_code == 200
    assert "Вкладка «ЭДО» добавлена: карточка элемента смарт-процесса" in again.text
    bound = sorted(p["placement"] for p in kd.emu.state.placements)
    assert bound == sorted(
        [
            "CRM_DEAL_DETAIL_TAB",
            "CRM_COMPANY_DETAIL_TAB",
            "CRM_CONTACT_DETAIL_TAB",
            f"CRM_DYNAMIC_{SMART_TYPE_ID}_DETAIL_TAB",
            "CRM_DEAL_LIST_MENU",  # the bulk send's row menu
        ]
    )
    # A smart process the portal does not have is named on the install page, and nothing is bound for it.
    with kd.emu.state.lock:
        kd.emu.state.smart_types.clear()
    third = kd._post_page("/b24/install", kd.emu.state.placement_form(1, "DEFAULT"))
    assert third.status_code == 200
    assert f"Смарт-процессы {SMART_TYPE_ID} из настроек ([crm] smart_processes) не найдены" in third.text
    assert len(kd.emu.state.placements) == len(bound)
    problem = Settings(crm=CrmSettings(smart_processes=[SMART_TYPE_ID, 3])).check()
    assert problem is not None and problem.startswith("crm.smart_processes")
    assert Settings(crm=CrmSettings(smart_processes=[SMART_TYPE_ID])).check() is None


def test_mine_lists_what_the_user_wrote_or_signs_not_what_the_crm_shows(crm_kd: Klikdok) -> None:
    """«Мои документы» (the app page, view=mine) is the user's own work: the author's and the signers' documents;
    a card the user merely may read does not put its documents there."""
    kd = crm_kd
    doc = kd.create(DIRECTOR, DEAL, {"Договор.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Договор по сделке")
    assert kd.api("GET", f"/documents/{doc}", MANAGER).status_code == 200  # readable through the CRM
    mine = {
        u: [d["id"] for d in kd.api("GET", "/documents", u, params={"view": "mine"}).json()["items"]]
        for u in (
            DIRECTOR,
            CHIEF_ACCOUNTANT,
            MANAGER,
        )
    }
    assert mine == {DIRECTOR: [doc], CHIEF_ACCOUNTANT: [doc], MANAGER: []}
    waiting = kd.api("GET", "/documents", CHIEF_ACCOUNTANT, params={"view": "mine", "role": "waiting"}).json()
    assert [d["id"] for d in waiting["items"]] == [doc]


def test_no_user_token_reaches_the_log(crm_kd: Klikdok) -> None:
    kd = crm_kd
    doc = kd.create(DIRECTOR, DEAL, {"Договор.pdf": PDF}, signers=[CHIEF_ACCOUNTANT])
    for user in (MANAGER, SALES_MANAGER):
        kd.api("GET", f"/documents/{doc}", user)
    tokens = list(kd.emu.state.access_tokens)
    assert len(tokens) >= 3
    logs = kd.server.logs()
    assert logs and not [t for t in tokens if t in logs]
