"""The local app's life in the portal, over real HTTP: install, tabs, checked placement POSTs, uninstall."""

from __future__ import annotations

import json
import sqlite3

import httpx

from demo.portal_emulator import PortalEmulator
from tests.portal.conftest import install, portal_env, post_as_portal, session_token
from tests.support.server import ServerProcess, clean_env, run_cli


def audit_actions(kd: ServerProcess) -> list[tuple[str, str]]:
    conn = sqlite3.connect(kd.data_dir / "klikdok.db")
    rows = conn.execute("SELECT action, details FROM audit_log ORDER BY id").fetchall()
    conn.close()
    return rows


def test_install_binds_both_tabs_once_prepares_disk_and_finishes(kd: ServerProcess, emulator: PortalEmulator) -> None:
    first = install(kd, emulator)
    assert first.status_code == 200, first.text
    assert "Вкладка «ЭДО» добавлена: карточка сделки" in first.text
    assert "Вкладка «ЭДО» добавлена: карточка компании" in first.text
    assert "installFinish" in first.text
    assert json.dumps("сделок, компаний и контактов") in first.text  # the finishing line names every kind's cards
    assert f"frame-ancestors 'self' http://{emulator.host}:{emulator.port}" in first.headers["content-security-policy"]
    second = install(kd, emulator)  # re-install (new version, admin clicked again): nothing duplicated
    assert second.status_code == 200
    placements = {(p["placement"], p["handler"]) for p in emulator.state.placements}
    assert placements == {
        ("CRM_DEAL_DETAIL_TAB", f"{kd.url}/b24/tab"),
        ("CRM_COMPANY_DETAIL_TAB", f"{kd.url}/b24/tab"),
        ("CRM_CONTACT_DETAIL_TAB", f"{kd.url}/b24/tab"),
        ("CRM_DEAL_LIST_MENU", f"{kd.url}/b24/bulk"),  # issue 17: the deal list's row menu opens the bulk send
    }
    assert len(emulator.state.placements) == 4
    assert any(
        b["event"] == "ONAPPUNINSTALL" and b["handler"] == f"{kd.url}/b24/events" for b in emulator.state.event_bindings
    )
    conn = sqlite3.connect(kd.data_dir / "klikdok.db")
    member, folder = conn.execute("SELECT member_id, disk_root_folder_id FROM portals").fetchone()
    app_token_hash = conn.execute("SELECT application_token_hash FROM portals").fetchone()[0]
    conn.close()
    assert member == emulator.state.config.member_id and folder
    assert emulator.state.config.application_token not in app_token_hash  # stored hashed only
    assert [a for a, _ in audit_actions(kd)].count("portal.installed") == 2


def test_doctor_reports_the_portal_reachable_after_install(kd: ServerProcess, emulator: PortalEmulator) -> None:
    env = clean_env(KLIKDOK_STORAGE_DATA_DIR=str(kd.data_dir), **portal_env(emulator))
    before = run_cli("doctor", env=env)
    assert "WARN  portal" in before.stdout
    install(kd, emulator)
    after = run_cli("doctor", env=env)
    assert "OK    portal" in after.stdout, after.stdout
    emulator.stop()
    down = run_cli("doctor", env=env)
    assert "FAIL  portal" in down.stdout and down.returncode == 1


def test_placement_post_opens_the_tab_for_the_right_deal_with_a_session(
    kd: ServerProcess, emulator: PortalEmulator
) -> None:
    install(kd, emulator)
    deal_id = sorted(emulator.state.deals)[1]
    title = emulator.state.deals[deal_id]["TITLE"]
    form = emulator.state.placement_form(2, "CRM_DEAL_DETAIL_TAB", {"ID": str(deal_id)})
    page = post_as_portal(kd, emulator, "/b24/tab", form)
    assert page.status_code == 200, page.text
    assert f"Сделка «{title}»" in page.text
    assert "Документов по этой сделке пока нет." in page.text
    token = session_token(page.text)
    me = httpx.get(f"{kd.url}/api/v1/session", headers={"X-KlikDok-Session": token}).json()
    assert me["user_id"] == 2 and me["entity_type"] == "deal" and me["entity_id"] == deal_id
    assert httpx.get(f"{kd.url}/api/v1/session", headers={"X-KlikDok-Session": token[:-2] + "xx"}).status_code == 401

    company_id = sorted(emulator.state.companies)[0]
    form = emulator.state.placement_form(3, "CRM_COMPANY_DETAIL_TAB", {"ID": str(company_id)})
    page = post_as_portal(kd, emulator, "/b24/tab", form)
    assert f"Компания «{emulator.state.companies[company_id]['TITLE']}»" in page.text
    assert "Документов по этой компании пока нет." in page.text


def test_forged_placement_posts_get_403_and_an_audit_entry(kd: ServerProcess, emulator: PortalEmulator) -> None:
    install(kd, emulator)
    good = emulator.state.placement_form(2, "CRM_DEAL_DETAIL_TAB", {"ID": "1"})
    cases = {
        "application_token_mismatch": {**good, "APPLICATION_TOKEN": "0" * 32},
        "auth_rejected:": {**good, "AUTH_ID": "f" * 64},
        "unknown_portal": {**good, "member_id": "someone-else"},
        "no_auth_id": {k: v for k, v in good.items() if k != "AUTH_ID"},
    }
    for reason, form in cases.items():
        response = post_as_portal(kd, emulator, "/b24/tab", form)
        assert response.status_code == 403, (reason, response.text)
        assert "Доступ запрещён" in response.text
        assert 'data-session=""' in response.text  # no session handed out
    rejected = [json.loads(d)["reason"] for a, d in audit_actions(kd) if a == "placement.rejected"]
    assert len(rejected) == 4
    assert all(any(r.startswith(reason) for r in rejected) for reason in cases)


def test_uninstall_event_needs_the_application_token_and_keeps_data(
    kd: ServerProcess, emulator: PortalEmulator
) -> None:
    install(kd, emulator)
    auth = {"auth[member_id]": emulator.state.config.member_id, "auth[domain]": "portal.example"}
    forged = httpx.post(
        f"{kd.url}/b24/events", data={"event": "ONAPPUNINSTALL", **auth, "auth[application_token]": "nope"}
    )
    assert forged.status_code == 403
    real = httpx.post(
        f"{kd.url}/b24/events",
        data={"event": "ONAPPUNINSTALL", **auth, "auth[application_token]": emulator.state.config.application_token},
    )
    assert real.status_code == 200 and real.json()["status"] == "ok"
    conn = sqlite3.connect(kd.data_dir / "klikdok.db")
    enabled, access = conn.execute("SELECT enabled, access_token FROM portals").fetchone()
    conn.close()
    assert enabled == 0 and access == ""
    form = emulator.state.placement_form(2, "CRM_DEAL_DETAIL_TAB", {"ID": "1"})
    assert post_as_portal(kd, emulator, "/b24/tab", form).status_code == 403
    assert install(kd, emulator).status_code == 200  # installing again brings it back


def test_install_with_a_token_the_portal_rejects_is_refused(kd: ServerProcess, emulator: PortalEmulator) -> None:
    form = {**emulator.state.placement_form(1, "DEFAULT"), "AUTH_ID": "0" * 64}
    response = post_as_portal(kd, emulator, "/b24/install", form)
    assert response.status_code == 403
    assert emulator.state.placements == []


def test_admin_can_disable_the_portal_from_the_command_line(kd: ServerProcess, emulator: PortalEmulator) -> None:
    env = clean_env(KLIKDOK_STORAGE_DATA_DIR=str(kd.data_dir), **portal_env(emulator))
    assert "Портал не подключён" in run_cli("portal", "status", env=env).stdout
    install(kd, emulator)
    assert "подключён" in run_cli("portal", "status", env=env).stdout
    wrong = run_cli("portal", "disable", "--member-id", "other", env=env)
    assert wrong.returncode == 2 and "другой портал" in wrong.stderr
    done = run_cli("portal", "disable", env=env)
    assert done.returncode == 0, done.stderr
    assert "отключён" in run_cli("portal", "status", env=env).stdout
    form = emulator.state.placement_form(2, "CRM_DEAL_DETAIL_TAB", {"ID": "1"})
    assert post_as_portal(kd, emulator, "/b24/tab", form).status_code == 403
    assert ("portal.disabled",) in {(a,) for a, _ in audit_actions(kd)}
