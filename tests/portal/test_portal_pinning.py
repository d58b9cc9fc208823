"""Issue 11: the portal is named by the admin, install tokens are proven, sessions die with the install.

The attacker here knows the real portal's member_id (it is in every placement POST an employee's browser
sends) and runs a portal of their own: a second emulator on another port, which happily confirms its own
tokens. Every test drives the real server over HTTP.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.portal_emulator import PortalEmulator
from demo.portal_state import EmulatorConfig
from tests.portal.conftest import install, oauth_env, portal_env, post_as_portal, session_token
from tests.support.server import ServerProcess, clean_env, run_cli, start_server

PORTAL_ROW = (
    "SELECT member_id, domain, client_endpoint, server_endpoint, access_token, refresh_token,"
    " application_token_hash, enabled, installed_by FROM portals"
)


@pytest.fixture
def attacker(emulator: PortalEmulator) -> Iterator[PortalEmulator]:
    """A portal of the attacker's own that claims the real portal's member_id."""
    emu = PortalEmulator(EmulatorConfig(member_id=emulator.state.config.member_id)).start()
    try:
        yield emu
    finally:
        emu.stop()


def rows(kd: ServerProcess, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{kd.data_dir / 'klikdok.db'}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def audit(kd: ServerProcess, action: str) -> list[dict[str, Any]]:
    return [json.loads(d) for (d,) in rows(kd, f"SELECT details FROM audit_log WHERE action = '{action}' ORDER BY id")]


def takeover_form(real: PortalEmulator, fake: PortalEmulator) -> dict[str, str]:
    """The fake portal's DOMAIN, AUTH_ID, SERVER_ENDPOINT and application token, with the real member_id."""
    return {**fake.state.placement_form(1, "DEFAULT"), "member_id": real.state.config.member_id}


def tab(kd: ServerProcess, emu: PortalEmulator, user_id: int = 2, deal_id: int = 1, **override: str) -> httpx.Response:
    form = {**emu.state.placement_form(user_id, "CRM_DEAL_DETAIL_TAB", {"ID": str(deal_id)}), **override}
    return post_as_portal(kd, emu, "/b24/tab", form)


def me(kd: ServerProcess, token: str) -> httpx.Response:
    return httpx.get(f"{kd.url}/api/v1/session", headers={"X-KlikDok-Session": token}, timeout=30)


def test_install_from_another_portal_is_refused_and_changes_nothing(
    kd: ServerProcess, emulator: PortalEmulator, attacker: PortalEmulator
) -> None:
    assert install(kd, emulator).status_code == 200
    before = rows(kd, PORTAL_ROW)
    page = post_as_portal(kd, attacker, "/b24/install", takeover_form(emulator, attacker))
    assert page.status_code == 403, page.text
    assert "Установка отклонена" in page.text
    event = httpx.post(
        f"{kd.url}/b24/events",
        timeout=30,
        data={
            "event": "ONAPPINSTALL",
            "data[VERSION]": "1",
            "data[LANGUAGE_ID]": "ru",
            **{f"auth[{k}]": str(v) for k, v in attacker.state.issue_tokens(1).items()},
            "auth[member_id]": emulator.state.config.member_id,
        },
    )
    assert event.status_code == 403, event.text
    assert rows(kd, PORTAL_ROW) == before
    refused = audit(kd, "portal.install_rejected")
    assert [r["reason"] for r in refused] == ["wrong_portal", "wrong_portal"]
    assert all(r["address"] == attacker.base_url for r in refused)
    assert attacker.state.calls == [] and attacker.state.placements == []  # not even asked to confirm

    # The attacker cannot open the app with the fake portal's tokens; the real portal still can,
    # and the REST calls behind the tab (the deal's title) still go to the real portal.
    assert post_as_portal(kd, attacker, "/b24/app", takeover_form(emulator, attacker)).status_code == 403
    emulator.state.calls.clear()
    page = tab(kd, emulator)
    assert page.status_code == 200 and "Сделка «" in page.text
    assert "crm.deal.get" in emulator.state.calls and attacker.state.calls == []


def test_a_fresh_server_refuses_an_install_from_another_portal(
    kd: ServerProcess, emulator: PortalEmulator, attacker: PortalEmulator
) -> None:
    page = post_as_portal(kd, attacker, "/b24/install", attacker.state.placement_form(1, "DEFAULT"))
    assert page.status_code == 403, page.text
    assert rows(kd, "SELECT member_id FROM portals") == []
    assert [r["reason"] for r in audit(kd, "portal.install_rejected")] == ["wrong_portal"]
    assert post_as_portal(kd, attacker, "/b24/app", attacker.state.placement_form(1, "DEFAULT")).status_code == 403


def test_an_install_with_the_right_domain_but_a_token_of_another_portal_is_refused(
    kd: ServerProcess, emulator: PortalEmulator, attacker: PortalEmulator
) -> None:
    """DOMAIN says the real portal, AUTH_ID comes from the attacker's: the configured portal refuses it."""
    form = {**attacker.state.placement_form(1, "DEFAULT"), "member_id": emulator.state.config.member_id}
    page = post_as_portal(kd, emulator, "/b24/install", form)
    assert page.status_code == 403, page.text
    assert rows(kd, "SELECT member_id FROM portals") == []
    assert attacker.state.calls == []


def test_without_a_configured_portal_url_an_install_is_refused_with_a_hint(
    tmp_path: Path, emulator: PortalEmulator
) -> None:
    srv = start_server(tmp_path / "data")
    try:
        page = install(srv, emulator)
        assert page.status_code == 403, page.text
        assert "[portal] url" in page.text
        assert rows(srv, "SELECT member_id FROM portals") == []
        assert [r["reason"] for r in audit(srv, "portal.install_rejected")] == ["portal_url_not_configured"]
    finally:
        srv.stop()
    env = clean_env(KLIKDOK_STORAGE_DATA_DIR=str(srv.data_dir))
    doctor = run_cli("doctor", env=env)
    assert "WARN  portal_url" in doctor.stdout and "[portal] url" in doctor.stdout, doctor.stdout
    named = run_cli("doctor", env={**env, "KLIKDOK_PORTAL_URL": emulator.base_url})
    assert "OK    portal_url" in named.stdout and emulator.base_url in named.stdout, named.stdout


def test_only_a_portal_admin_can_install(kd: ServerProcess, emulator: PortalEmulator) -> None:
    page = install(kd, emulator, user_id=4)  # an ordinary manager who got the app's tokens in a placement
    assert page.status_code == 403, page.text
    assert "администратор" in page.text
    assert rows(kd, "SELECT member_id FROM portals") == []


def test_oauth_install_tokens_are_proven_by_a_refresh_with_our_credentials(
    tmp_path: Path, emulator: PortalEmulator
) -> None:
    srv = start_server(tmp_path / "data", env=oauth_env(emulator))
    try:
        other_app = emulator.state.placement_form(1, "DEFAULT", client_id="local.0000000000ffff.99999999")
        page = post_as_portal(srv, emulator, "/b24/install", other_app)
        assert page.status_code == 403, page.text
        assert rows(srv, "SELECT member_id FROM portals") == []
        assert [r["reason"] for r in audit(srv, "portal.install_rejected")] == ["oauth_refresh_refused:invalid_grant"]

        form = emulator.state.placement_form(1, "DEFAULT")
        assert post_as_portal(srv, emulator, "/b24/install", form).status_code == 200
        # The browser's pair was traded at the configured OAuth server: only the server holds a live one now.
        assert form["REFRESH_ID"] not in emulator.state.refresh_tokens
        (refresh,) = rows(srv, "SELECT refresh_token FROM portals")[0]
        assert refresh in emulator.state.refresh_tokens and emulator.state.refresh_count == 1
    finally:
        srv.stop()


def test_stored_tokens_are_refreshed_at_the_configured_oauth_server_never_the_requests(
    tmp_path: Path, emulator: PortalEmulator, attacker: PortalEmulator
) -> None:
    srv = start_server(tmp_path / "data", env=oauth_env(emulator))
    try:
        form = {**emulator.state.placement_form(1, "DEFAULT"), "SERVER_ENDPOINT": f"{attacker.base_url}/rest/"}
        assert post_as_portal(srv, emulator, "/b24/install", form).status_code == 200
        emulator.state.expire_access_tokens()
        page = tab(srv, emulator)  # reading the deal's title needs a refresh first
        assert page.status_code == 200 and "Сделка «" in page.text
        assert emulator.state.refresh_count == 2  # the install's proof, then this one
        assert attacker.state.calls == [] and attacker.state.refresh_count == 0
        assert rows(srv, "SELECT server_endpoint FROM portals") == [(f"{emulator.base_url}/rest/",)]
    finally:
        srv.stop()


def test_once_the_application_token_is_known_every_post_and_event_must_carry_it(
    kd: ServerProcess, emulator: PortalEmulator
) -> None:
    assert install(kd, emulator).status_code == 200
    without = {
        k: v
        for k, v in emulator.state.placement_form(2, "CRM_DEAL_DETAIL_TAB", {"ID": "1"}).items()
        if k != "APPLICATION_TOKEN"
    }
    assert post_as_portal(kd, emulator, "/b24/tab", without).status_code == 403
    app_page = {k: v for k, v in emulator.state.placement_form(2, "DEFAULT").items() if k != "APPLICATION_TOKEN"}
    assert post_as_portal(kd, emulator, "/b24/app", app_page).status_code == 403
    reinstall = {k: v for k, v in emulator.state.placement_form(1, "DEFAULT").items() if k != "APPLICATION_TOKEN"}
    assert post_as_portal(kd, emulator, "/b24/install", reinstall).status_code == 403
    member = {"auth[member_id]": emulator.state.config.member_id, "auth[domain]": f"127.0.0.1:{emulator.port}"}
    for event in ("ONCRMDEALUPDATE", "ONAPPUNINSTALL"):
        answer = httpx.post(f"{kd.url}/b24/events", data={"event": event, **member}, timeout=30)
        assert answer.status_code == 403, (event, answer.text)
        assert answer.json() == {"status": "error", "error": "invalid_application_token"}
    ok = httpx.post(
        f"{kd.url}/b24/events",
        timeout=30,
        data={"event": "ONCRMDEALUPDATE", **member, "auth[application_token]": emulator.state.config.application_token},
    )
    assert ok.status_code == 200
    reasons = [r["reason"] for r in audit(kd, "placement.rejected")]
    assert reasons == ["no_application_token", "no_application_token"]
    assert [r["reason"] for r in audit(kd, "portal.install_rejected")] == ["application_token_mismatch"]
    assert rows(kd, "SELECT enabled FROM portals") == [(1,)]


def test_sessions_issued_before_an_uninstall_or_reinstall_are_refused(
    kd: ServerProcess, emulator: PortalEmulator
) -> None:
    assert install(kd, emulator).status_code == 200
    first = session_token(tab(kd, emulator).text)
    assert me(kd, first).status_code == 200
    assert install(kd, emulator).status_code == 200  # re-install
    refused = me(kd, first)
    assert refused.status_code == 401 and "заново" in refused.json()["detail"]
    second = session_token(tab(kd, emulator).text)
    assert me(kd, second).status_code == 200

    uninstall = httpx.post(
        f"{kd.url}/b24/events",
        timeout=30,
        data={
            "event": "ONAPPUNINSTALL",
            "auth[member_id]": emulator.state.config.member_id,
            "auth[application_token]": emulator.state.config.application_token,
        },
    )
    assert uninstall.status_code == 200
    assert me(kd, second).status_code == 401

    assert install(kd, emulator).status_code == 200
    third = session_token(tab(kd, emulator).text)
    assert me(kd, third).status_code == 200
    # The admin's `klikdok portal disable` runs in another process; the server notices at once.
    done = run_cli(
        "portal", "disable", env=clean_env(KLIKDOK_STORAGE_DATA_DIR=str(kd.data_dir), **portal_env(emulator))
    )
    assert done.returncode == 0, done.stderr
    assert me(kd, third).status_code == 401
    assert me(kd, first).status_code == 401 and me(kd, second).status_code == 401
    generations = rows(kd, "SELECT generation FROM portals")
    assert generations == [(5,)]  # install, re-install, uninstall, install, disable


def test_a_non_ascii_session_mac_is_a_clean_401(kd: ServerProcess, emulator: PortalEmulator) -> None:
    assert install(kd, emulator).status_code == 200
    token = session_token(tab(kd, emulator).text)
    body = token.partition(".")[0]
    for mac in ("é" * 43, "\u00ff\u00fe", "a\u00e9b"):
        answer = httpx.get(
            f"{kd.url}/api/v1/session", timeout=30, headers={"X-KlikDok-Session": f"{body}.{mac}".encode("latin-1")}
        )
        assert answer.status_code == 401, (mac, answer.text)
    assert "Traceback" not in kd.logs()


def test_deeply_nested_form_keys_are_a_clean_400(kd: ServerProcess, emulator: PortalEmulator) -> None:
    key = "a" + "[a]" * 5000
    for path in ("/b24/events", "/b24/install", "/b24/tab", "/b24/app"):
        answer = httpx.post(
            f"{kd.url}{path}",
            content=f"{key}=1&event=ONAPPUNINSTALL",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=30,
        )
        assert answer.status_code == 400, (path, answer.status_code, answer.text[:200])
    assert "RecursionError" not in kd.logs()
