"""Every address a browser can land on answers with a page in Russian; the API answers Russian JSON (issue 15).

The walk takes the app's own route table, so a route added later is walked too: each path with its parameters
filled in, by every method a browser can use on it (GET and HEAD for links, reloads and bookmarks, POST for
forms), plus addresses no route has.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar, get
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from litestar.testing import TestClient

from server.app import HERE, create_app
from server.config import Settings
from server.routes import errors
from tests.support.server import ServerProcess, start_server

BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "ru-RU,ru;q=0.9",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120 Safari/537.36",
}
CYRILLIC = re.compile("[А-Яа-яЁё]{4,}")
# Endpoints whose own answers are for machines (the portal's event hook and robot door, CryptoARM's JSON-RPC,
# monitoring): what they answer to a well-formed call is theirs; Litestar's refusals of a browser there are still pages.
MACHINE = {
    ("POST", "/b24/events"),
    ("POST", "/b24/robot"),
    ("POST", "/cryptoarm/json"),
    ("GET", "/healthz"),
    ("HEAD", "/healthz"),
}
PARAM = re.compile(r"\{(\w+):(\w+)\}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module: nothing here changes its state (bad links are throttled, which stays a page)."""
    srv = start_server(tmp_path_factory.mktemp("errors") / "data")
    yield srv
    srv.stop()


def _fill(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        if kind == "int":
            return "1"
        if kind == "path":
            return "no-such-file.css"
        return secrets.token_urlsafe(32) if name == "token" else "x"

    return PARAM.sub(value, path)


def browser_addresses() -> list[tuple[str, str, str]]:
    """(method, route path, address) for every registered HTTP route and method a browser can send."""
    app = create_app(Settings())
    found: list[tuple[str, str, str]] = []
    for route in app.routes:
        methods = getattr(route, "methods", set())
        if not methods:  # the agent's websocket: no page answers an upgrade
            continue
        for method in ("GET", "HEAD", "POST"):
            found.append((method, route.path, _fill(route.path)))
    return found


def assert_page(response: httpx.Response, what: str) -> None:
    assert response.headers.get("content-type", "").startswith("text/html"), (what, response.headers)
    if response.request.method != "HEAD":
        assert "status_code" not in response.text, what
        assert '<html lang="ru">' in response.text and CYRILLIC.search(response.text), (what, response.text[:300])


def assert_api_error(response: httpx.Response, what: str) -> None:
    assert response.headers.get("content-type", "").startswith("application/json"), (what, response.headers)
    if response.request.method != "HEAD":
        body = response.json()
        assert "status_code" not in body and body["error"], (what, body)
        assert CYRILLIC.search(body["message"]), (what, body)


def test_every_route_answers_a_browser_with_a_russian_page(server: ServerProcess) -> None:
    walked = 0
    with httpx.Client(base_url=server.url, headers=BROWSER, timeout=30, follow_redirects=True) as client:
        for method, route, address in browser_addresses():
            what = f"{method} {address}"
            response = client.request(method, address)
            walked += 1
            if route.startswith("/api/"):
                if response.status_code >= 400:
                    assert_api_error(response, what)
                continue
            if (method, route) in MACHINE or response.status_code < 400:
                if route in ("/", "/c/{token:str}/sign", "/c/{token:str}/reject", "/c/{token:str}/cryptoarm"):
                    assert_page(response, what)  # pages (or a way back to one), never a bare 405
                continue
            assert_page(response, what)
    assert walked > 150


@pytest.mark.parametrize(
    ("method", "address", "status"),
    [
        ("GET", "/b24/app", 405),
        ("GET", "/b24/tab", 405),
        ("GET", "/b24/install", 405),
        ("HEAD", "/b24/app", 405),
        ("GET", "/no/such/page", 404),
        ("GET", "/static/no-such.js", 404),
        ("POST", "/static/klikdok.css", 405),
        ("GET", "/c", 404),
        ("GET", "/c/", 404),
        ("POST", "/c/public.css", 405),
        ("GET", "/cryptoarm/json", 405),
        ("PUT", "/c/" + "A" * 43, 405),
        ("GET", "/c/" + "A" * 43 + "/files/notanumber", 404),
        ("GET", "/c/" + "A" * 43 + "/files/1?inline=perhaps", 400),  # Litestar's ValidationException
    ],
)
def test_the_issues_addresses_are_russian_pages(server: ServerProcess, method: str, address: str, status: int) -> None:
    response = httpx.request(method, f"{server.url}{address}", headers=BROWSER)
    assert response.status_code == status, response.text[:300]
    assert_page(response, f"{method} {address}")


def test_a_body_too_large_is_a_page(server: ServerProcess) -> None:
    """Litestar refuses a body past the app's limit (10 MB) with a 413 of its own: a page too."""
    response = httpx.post(f"{server.url}/b24/app", headers=BROWSER, content=b"x" * (11 * 1024 * 1024))
    assert response.status_code == 413
    assert_page(response, "POST /b24/app (11 MB)")


def test_a_browser_on_an_action_address_is_sent_back_to_the_document(server: ServerProcess) -> None:
    """After a failed upload the browser sits on /c/<token>/sign; opening it again goes back to the document."""
    token = secrets.token_urlsafe(32)
    for action in ("sign", "reject", "cryptoarm"):
        response = httpx.get(f"{server.url}/c/{token}/{action}", headers=BROWSER)
        assert response.status_code == 303 and response.headers["location"] == f"/c/{token}"
    # A page under a link that fails (here: no such link) links back to the document's own page.
    response = httpx.get(f"{server.url}/c/{token}/files/1", headers=BROWSER)
    assert response.status_code == 404
    assert f'href="/c/{token}"' in response.text and "Вернуться к документу" in response.text


def test_the_api_answers_in_its_own_russian_json(server: ServerProcess) -> None:
    for method, address, status in [
        ("GET", "/api/v1/no/such/thing", 404),
        ("POST", "/api/v1/me", 405),
        ("GET", "/api/v1/documents", 401),
        ("GET", "/api/v1/documents/notanumber", 404),
    ]:
        response = httpx.request(method, f"{server.url}{address}", headers=BROWSER)
        assert response.status_code == status, (address, response.text)
        assert_api_error(response, f"{method} {address}")


def test_an_unexpected_failure_is_a_russian_page_and_is_logged_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @get("/c/{token:str}/boom", sync_to_thread=False)
    def boom(token: str) -> str:
        raise RuntimeError("broken")

    @get("/api/v1/boom", sync_to_thread=False)
    def api_boom() -> str:
        raise RuntimeError("broken")

    app = Litestar(
        route_handlers=[boom, api_boom],
        exception_handlers=errors.EXCEPTION_HANDLERS,
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
        logging_config=None,
    )
    token = secrets.token_urlsafe(32)
    with TestClient(app) as client:
        page = client.get(f"/c/{token}/boom", headers=BROWSER)
        assert page.status_code == 500 and "Ошибка сервера" in page.text and f'href="/c/{token}"' in page.text
        api = client.get("/api/v1/boom")
        assert api.status_code == 500 and api.json()["error"] == "internal_error"
    failures = [r for r in caplog.records if r.getMessage() == "request failed"]
    assert len(failures) == 2 and failures[0].exc_info is not None
    assert getattr(failures[0], "path", "") == "/c/<token>/boom" and token not in caplog.text
