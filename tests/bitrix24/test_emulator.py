"""The emulator as a product: standalone process, the documented request forms, the CRM card page."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import time

import httpx

from demo.portal_emulator import PortalEmulator
from server.bitrix24 import DEAL_TAB, ApplicationService, Bitrix24Client
from tests.support.server import REPO, clean_env, free_port


def test_standalone_run_prints_working_credentials() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo.portal_emulator", "--port", str(port)],
        cwd=REPO,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 20
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("}"):
                break
        info = json.loads("".join(lines))
        assert info["portal"] == f"http://127.0.0.1:{port}"
        token = info["install_tokens"]["access_token"]
        me = httpx.post(info["rest"] + "user.current.json", json={"auth": token}).json()
        assert me["result"]["ID"] == "1"
        hook = httpx.get(info["webhook_url"] + "crm.deal.get", params={"id": 3}).json()
        assert hook["result"]["TITLE"] == "Разработка корпоративного сайта"
        refreshed = httpx.get(
            f"{info['portal']}/oauth/token/",
            params={
                "grant_type": "refresh_token",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
                "refresh_token": info["install_tokens"]["refresh_token"],
            },
        ).json()
        assert refreshed["access_token"] != token
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_request_forms(portal: PortalEmulator) -> None:
    """JSON, PHP form brackets and query strings all reach the method the same way."""
    token = portal.state.issue_tokens(1)["access_token"]
    rest = portal.state.rest_url
    form = httpx.post(
        rest + "crm.deal.list", data={"auth": token, "filter[>ID]": "2", "select[]": "ID", "order[ID]": "DESC"}
    ).json()
    assert [d["ID"] for d in form["result"]] == ["4", "3"] and form["total"] == 2 and "time" in form
    query = httpx.get(
        rest + "crm.deal.list.json", params={"auth": token, "filter[COMPANY_ID]": "3", "select[0]": "TITLE"}
    ).json()
    assert query["result"] == [{"TITLE": "Договор на техническое обслуживание"}]
    batch = httpx.post(
        rest + "batch",
        data={
            "auth": token,
            "halt": "0",
            "cmd[a]": "crm.deal.get?id=2",
            "cmd[b]": "crm.company.get?id=$result[a][COMPANY_ID]",
        },
    ).json()
    assert batch["result"]["result"]["b"]["TITLE"] == "АО «Технопарк Восток»"
    assert batch["result"]["result_error"] == []  # PHP's empty array, as the real portal sends it
    expired = httpx.post(rest + "user.current", json={})
    assert expired.status_code == 401 and expired.json()["error"] == "NO_AUTH_FOUND"


def test_upload_in_one_request_with_base64(portal: PortalEmulator) -> None:
    token = portal.state.issue_tokens(1)["access_token"]
    root = portal.state.storage["ROOT_OBJECT_ID"]
    answer = httpx.post(
        portal.state.rest_url + "disk.folder.uploadFile",
        json={
            "auth": token,
            "id": int(root),
            "data": {"NAME": "t.txt"},
            "fileContent": ["t.txt", "0J/RgNC40LLQtdGC"],
        },
    ).json()["result"]
    assert answer["NAME"] == "t.txt" and answer["SIZE"] == "12"
    assert httpx.get(answer["DOWNLOAD_URL"]).content == "Привет".encode()


async def test_crm_card_embeds_the_bound_tab(portal: PortalEmulator, client: Bitrix24Client) -> None:
    handler = "https://klikdok.example/b24/placement"
    await ApplicationService(client).bind(DEAL_TAB, handler, "ЭДО")
    page = httpx.get(f"{portal.base_url}/crm/deal/details/2/", params={"user": 4}).text
    assert "Договор на техническое обслуживание" in page
    action = html.unescape(re.search(r'<form id="placement-form"[^>]*action="([^"]+)"', page).group(1))
    assert action.startswith(handler + "?DOMAIN=")
    fields = {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }
    assert fields["PLACEMENT"] == DEAL_TAB
    assert json.loads(fields["PLACEMENT_OPTIONS"])["ID"] == "2"
    assert fields["APPLICATION_TOKEN"] == portal.state.config.application_token
    # The AUTH_ID in the form belongs to the user who opened the card.
    me = await client.call("user.current", auth=fields["AUTH_ID"])
    assert me["ID"] == "4"


def test_install_page_posts_admin_tokens_to_the_install_handler(portal: PortalEmulator) -> None:
    page = httpx.get(
        f"{portal.base_url}/marketplace/local/install/", params={"handler": "https://klikdok.example/b24/install"}
    ).text
    action = html.unescape(re.search(r'<form id="placement-form"[^>]*action="([^"]+)"', page).group(1))
    assert action.startswith("https://klikdok.example/b24/install?DOMAIN=")
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    assert fields["PLACEMENT"] == "DEFAULT" and fields["member_id"] == portal.state.config.member_id
    assert portal.state.authenticate(fields["AUTH_ID"]) == 1
    assert fields["REFRESH_ID"] in portal.state.refresh_tokens
