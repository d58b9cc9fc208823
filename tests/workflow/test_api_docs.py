"""The API description: off by default; when an admin turns it on, JSON only, and only for portal admins.

Swagger/ReDoc pages load their scripts from a CDN an on-prem box often cannot reach, and a public schema
tells an outsider every route; so no HTML documentation pages at all, and the JSON needs an admin's page
session (the app page opened by a portal administrator).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from demo.portal_emulator import PortalEmulator
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People, installed_klikdok, server_env

DOC_PATHS = [
    "/schema",
    "/schema/",
    "/schema/openapi.json",
    "/schema/swagger",
    "/schema/redoc",
    "/schema/elements",
    "/schema/rapidoc",
    "/schema/openapi.yaml",
]


# A script that is not one of the server's own files (/static/): a documentation UI, or anything from a CDN.
# (Since issue 15 a miss is KlikDok's Russian error page, which loads its own /static/b24frame.js.)
FOREIGN_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=\"/static/[\w.-]+\.js\")", re.IGNORECASE)


def no_documentation_page(text: str) -> bool:
    return not FOREIGN_SCRIPT.search(text) and "cdn" not in text.lower() and "swagger" not in text.lower()


def session_of(kd: Klikdok, user_id: int) -> dict[str, str]:
    return {"X-KlikDok-Session": kd.session(user_id)}


def test_docs_are_off_by_default(kd: Klikdok) -> None:
    for path in DOC_PATHS:
        for headers in ({}, session_of(kd, DIRECTOR)):
            answer = httpx.get(f"{kd.url}{path}", headers=headers, timeout=30)
            assert answer.status_code == 404, (path, answer.status_code, answer.text[:200])
            assert no_documentation_page(answer.text), (path, answer.text[:300])


@pytest.fixture
def kd_docs(tmp_path: Path, emulator: PortalEmulator, people: People) -> Iterator[Klikdok]:
    with installed_klikdok(tmp_path / "data", emulator, server_env(people.pki, KLIKDOK_SERVER_API_DOCS="true")) as k:
        yield k


def test_enabled_docs_are_json_for_admins_only(kd_docs: Klikdok) -> None:
    kd = kd_docs
    url = f"{kd.url}/schema/openapi.json"
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, headers={"X-KlikDok-Session": "forged.mac"}, timeout=30).status_code == 401
    employee = httpx.get(url, headers=session_of(kd, MANAGER), timeout=30)  # signed in, not an admin
    assert employee.status_code == 403, employee.text
    admin = httpx.get(url, headers=session_of(kd, DIRECTOR), timeout=30)  # the portal's administrator
    assert admin.status_code == 200, admin.text
    schema = admin.json()
    assert schema["info"]["title"] == "KlikDok API"
    assert "/api/v1/documents/{document_id}/files/{file_id}/signatures" in schema["paths"]
    # No HTML documentation pages (they would load Swagger/ReDoc from a CDN), not even for the admin.
    for path in DOC_PATHS:
        answer = httpx.get(f"{kd.url}{path}", headers=session_of(kd, DIRECTOR), timeout=30)
        assert no_documentation_page(answer.text), path
        assert answer.status_code == 404 or answer.headers["content-type"].startswith(
            "application/vnd.oai.openapi+json"
        ), (path, answer.status_code)
    # The app page tells an admin's session apart; a placement tab never grants it.
    assert httpx.get(f"{kd.url}/api/v1/session", headers=session_of(kd, DIRECTOR)).json()["admin"] is True
    assert httpx.get(f"{kd.url}/api/v1/session", headers=session_of(kd, MANAGER)).json()["admin"] is False
    tab = {"X-KlikDok-Session": kd.session(DIRECTOR, ("deal", 1))}
    assert httpx.get(url, headers=tab, timeout=30).status_code == 403
