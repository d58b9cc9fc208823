"""Error mapping, PHP query encoding, and secrets kept out of reprs and logs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from demo.portal_emulator import PortalEmulator
from server.bitrix24 import (
    AccessDenied,
    AlreadyExists,
    Bitrix24Client,
    DiskService,
    ExpiredToken,
    InvalidArgument,
    InvalidToken,
    MemoryTokenStore,
    MethodNotFound,
    NotFound,
    OAuthError,
    OperationTimeLimit,
    PortalSettings,
    RateLimited,
    ServerError,
    UserDirectory,
    WrongAuthType,
    phpquery,
)
from server.bitrix24.errors import PortalDeleted, error_from
from server.bitrix24.masking import redact

from .conftest import webhook_settings


@pytest.mark.parametrize(
    ("payload", "status", "expected"),
    [
        ({"error": "expired_token", "error_description": "The access token provided has expired."}, 401, ExpiredToken),
        ({"error": "invalid_token"}, 401, InvalidToken),
        ({"error": "NO_AUTH_FOUND"}, 401, InvalidToken),
        ({"error": "invalid_grant"}, 400, OAuthError),
        ({"error": "WRONG_AUTH_TYPE", "error_description": "Application context required"}, 403, WrongAuthType),
        ({"error": "insufficient_scope"}, 403, AccessDenied),
        ({"error": 0, "error_description": "Access denied."}, 400, AccessDenied),
        ({"error": "QUERY_LIMIT_EXCEEDED"}, 503, RateLimited),
        ({"error": "OPERATION_TIME_LIMIT"}, 429, OperationTimeLimit),
        ({"error": "INTERNAL_SERVER_ERROR"}, 500, ServerError),
        ({"error": "PORTAL_DELETED"}, 500, PortalDeleted),
        ({}, 502, ServerError),  # a proxy's HTML error page decodes to nothing
        ({"error": "ERROR_METHOD_NOT_FOUND"}, 404, MethodNotFound),
        ({"error": "", "error_description": "Not found"}, 400, NotFound),
        ({"error": "", "error_description": "ID is not defined or invalid."}, 400, InvalidArgument),
        ({"error": "DISK_OBJ_22000", "error_description": "Папка с таким именем уже есть"}, 400, AlreadyExists),
        ({"error": "SOMETHING_NEW"}, 400, InvalidArgument),
    ],
)
def test_error_mapping(payload: dict[str, Any], status: int, expected: type) -> None:
    err = error_from("crm.deal.get", payload, status)
    assert type(err) is expected
    assert err.method == "crm.deal.get" and err.status == status
    assert "crm.deal.get" in str(err)


async def test_errors_over_http_carry_method_and_code(portal: PortalEmulator, client: Bitrix24Client) -> None:
    with pytest.raises(MethodNotFound) as missing:
        await client.call("crm.nothing.here")
    assert (missing.value.method, missing.value.code, missing.value.status) == (
        "crm.nothing.here",
        "ERROR_METHOD_NOT_FOUND",
        404,
    )
    with pytest.raises(InvalidArgument) as bad:
        await client.call("crm.deal.get", {"id": 0})
    assert bad.value.description == "ID is not defined or invalid."
    with pytest.raises(InvalidToken) as forged:
        await client.call("user.current", auth="0" * 64)
    assert forged.value.code == "invalid_token" and forged.value.status == 401


def test_php_encoding_matches_http_build_query() -> None:
    encoded = phpquery.encode(
        {
            "id": 5,
            "filter": {">ID": 10, "@STAGE_ID": ["NEW", "WON"]},
            "select": ["ID", "TITLE"],
            "flag": True,
            "skip": None,
        }
    )
    assert encoded == (
        "id=5&filter%5B%3EID%5D=10&filter%5B%40STAGE_ID%5D%5B0%5D=NEW"
        "&filter%5B%40STAGE_ID%5D%5B1%5D=WON&select%5B0%5D=ID&select%5B1%5D=TITLE&flag=1"
    )


def test_php_decoding_of_portal_forms() -> None:
    form = phpquery.decode(
        "auth%5Baccess_token%5D=abc&auth%5Bmember_id%5D=m1&event=ONAPPINSTALL"
        "&data%5BFIELDS%5D%5BID%5D=759&select%5B%5D=ID&select%5B%5D=TITLE&PLACEMENT=DEFAULT"
    )
    assert form == {
        "auth": {"access_token": "abc", "member_id": "m1"},
        "event": "ONAPPINSTALL",
        "data": {"FIELDS": {"ID": "759"}},
        "select": ["ID", "TITLE"],
        "PLACEMENT": "DEFAULT",
    }


def test_php_decoding_refuses_keys_nested_deeper_than_php_accepts() -> None:
    """Issue 11: `a[a][a]...` 5,000 levels deep overflowed the stack; now it is a MalformedQuery (a clean 400)."""
    with pytest.raises(phpquery.MalformedQuery):
        phpquery.decode("a" + "[a]" * 5000 + "=1")
    deepest = phpquery.decode("a" + "[a]" * phpquery.MAX_DEPTH + "=1")
    for _ in range(phpquery.MAX_DEPTH):
        deepest = deepest["a"]
    assert deepest == {"a": "1"}


_keys = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcxyz>!%@=", min_size=1, max_size=8).filter(
    lambda k: not k.isdigit()
)
_leaf = st.text(max_size=12)
_tree = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4), st.dictionaries(_keys, inner, min_size=1, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(_keys, _tree, min_size=1, max_size=5))
def test_php_round_trip(params: dict[str, Any]) -> None:
    assert phpquery.decode(phpquery.encode(params)) == params


async def test_tokens_never_reach_the_logs(
    portal: PortalEmulator,
    client: Bitrix24Client,
    token_store: MemoryTokenStore,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    # Another test in the same worker may have run logs.configure(), which turns httpx down to WARNING for
    # production; this test wants httpx's request lines so that it proves the URLs in them are masked.
    caplog.set_level(logging.DEBUG, logger="httpx")
    first = await token_store.load()
    assert first is not None
    disk = DiskService(client)
    folder = await disk.entity_folder("deal", 1)
    portal.state.expire_access_tokens()  # forces a refresh (GET with the secret in the query)
    uploaded = await disk.upload(folder, "a.pdf", b"%PDF")
    await disk.download(uploaded.id, tmp_path / "a.pdf")  # DOWNLOAD_URL carries the access token
    with pytest.raises(InvalidToken):
        await client.call("user.current", auth="forged-token-value")
    async with Bitrix24Client(webhook_settings(portal)) as hook:
        await UserDirectory(hook).current()
    latest = await token_store.load()
    assert latest is not None and latest.access_token != first.access_token
    secrets = [
        first.access_token,
        first.refresh_token,
        latest.access_token,
        latest.refresh_token,
        portal.state.config.client_secret,
        portal.state.config.webhook_code,
        "forged-token-value",
    ]
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request" in text  # httpx did log its request lines (with the URLs), so the check is real
    assert "oauth/token" in text
    for secret in secrets:
        assert secret not in text


def test_reprs_mask_secrets(portal: PortalEmulator) -> None:
    from server.bitrix24 import OAuthTokens

    answer = portal.state.issue_tokens(1)
    tokens = OAuthTokens.from_oauth_response(answer)
    settings = PortalSettings(mode="webhook", webhook_url=portal.state.webhook_url, client_secret="s3cr3t-value")
    for text in (
        repr(tokens),
        str(tokens),
        repr(settings),
        repr(MemoryTokenStore(tokens)),
        repr(Bitrix24Client(settings)),
    ):
        assert answer["access_token"] not in text
        assert answer["refresh_token"] not in text
        assert answer["application_token"] not in text
        assert "s3cr3t-value" not in text
        assert portal.state.config.webhook_code not in text
    assert redact("https://p.example/rest/download.json?auth=abcdef123456&token=disk%7Cxyz").count("secret#") == 2


def test_settings_bridge_from_the_server_config() -> None:
    """The server config's `[portal]` section converts field for field; a client refuses mode "none"."""
    from server.config import PortalSettings as ConfigPortal

    section = ConfigPortal(
        mode="webhook",
        webhook_url="https://portal.example/rest/1/abc123def/",
        burst=20,
        timeout_seconds=5.0,
        disk_storage_id=7,
    )
    settings = PortalSettings.from_config(section)
    assert (settings.mode, settings.burst, settings.timeout_seconds, settings.disk_storage_id) == (
        "webhook",
        20,
        5.0,
        7,
    )
    assert DiskService(Bitrix24Client(settings)).storage_id == "7"
    with pytest.raises(ValueError):
        Bitrix24Client(PortalSettings())
    with pytest.raises(ValueError):
        Bitrix24Client(PortalSettings(mode="webhook"))
