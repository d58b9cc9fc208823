"""A Bitrix24 portal on loopback, for tests and for the `make run` demo.

Serves, over real HTTP:
- `/rest/<method>[.json]` with OAuth (`auth` parameter) and `/rest/<user_id>/<code>/<method>` (inbound webhook),
  bodies as JSON, form-urlencoded with PHP bracket keys, or multipart; GET query strings too;
- `batch` (≤ 50 commands, `$result[...]` references, `halt`, per-command errors);
- `/oauth/token/` (refresh_token grant, rotating the pair; a refresh token is traded only with the client_id and
  client_secret of the application it was minted for), token expiry;
- Disk `upload.json` / `download.json` URLs that round-trip bytes;
- the portal's leaky-bucket limit (503 QUERY_LIMIT_EXCEEDED);
- `/` and `/crm/<deal|company|contact>/details/<id>/?user=<id>` (and `/crm/type/<entityTypeId>/details/<id>/`
  for a smart process's item): a minimal CRM card that embeds the app's bound tab in
  an iframe through the same hidden-form POST the real portal uses;
- `/marketplace/local/install/?handler=<install url>`: the admin opening the app's install page (PLACEMENT=DEFAULT);
- `/marketplace/app/?user=<id>`: a user opening the local application from the portal's menu: its main page
  (`state.app_handler`, the app's registered handler) in a frame, POSTed the user's tokens with
  PLACEMENT=DEFAULT, the same way the CRM card fills its tab; `/marketplace/app/<app id or client_id>/?k=v`
  (a link into the app, e.g. from a notification) passes its query as PLACEMENT_OPTIONS (`{"k": "v"}`), as the
  box's app.layout component does for the main page; another app's id is "not found";
- the parent side of the BX24 frame protocol (resizeWindow, setInstallFinish, getInitData) around every frame.

Test knobs on `state`: `inject` (scripted errors), `stall` (the portal acts, then holds its answer so a test can
kill the caller in between; "disk.upload" stalls the answer of a Disk upload URL), `add_group_member`,
`app_handler`.

Run standalone: `python -m demo.portal_emulator --port 8090`. In tests use the `portal` fixture
(tests/bitrix24/conftest.py), which runs one server per session and resets its state per test.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import re
import secrets
import socket
import threading
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgspec
import uvicorn
from litestar import Litestar, Request, Response, get, post, route
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery

from . import (
    emulator_crmstatus,
    emulator_robots,  # noqa: F401 - its REST methods register themselves (issue 17)
    emulator_templates,
    emulator_userfieldconfig,  # noqa: F401 - smart processes' user fields and crm.item.update (issue 17)
    emulator_visibility,  # noqa: F401 - registers its methods and seed (issue 17)
    php_params,
)
from .portal_state import APP_ID, RAW_METHODS, ApiError, CallContext, EmulatorConfig, PortalState

# Modules that register further REST methods on the portal state's table when imported (issue 17).
METHOD_MODULES = (emulator_crmstatus,)

BATCH_LIMIT = 50
_WEBHOOK = re.compile(r"^(\d+)/([^/]+)/(.+)$")
_RESULT_REF = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]*\])*)")


def _json(payload: Any, status: int = 200) -> Response[bytes]:
    return Response(content=msgspec.json.encode(payload), status_code=status, media_type="application/json")


def _error(err: ApiError) -> Response[bytes]:
    return _json(err.payload(), err.status)


async def _params(request: Request[Any, Any, Any]) -> tuple[dict[str, Any], dict[str, UploadFile]]:
    """$_REQUEST as PHP builds it: query string, then the body (JSON, urlencoded or multipart) on top."""
    params = php_params.parse(request.scope.get("query_string", b""))
    files: dict[str, UploadFile] = {}
    if request.method == "POST":
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json":
            body = await request.body()
            if body:
                try:
                    decoded = msgspec.json.decode(body)
                except msgspec.DecodeError:
                    raise ApiError(400, "INVALID_REQUEST", "Invalid JSON body") from None
                if isinstance(decoded, dict):
                    params = php_params.overlay(params, decoded)
        elif ctype == "multipart/form-data":
            form = await request.form()
            pairs: list[tuple[str, str]] = []
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files[key] = value
                else:
                    pairs.append((key, str(value)))
            params = php_params.overlay(params, php_params.build(pairs))
        else:
            params = php_params.overlay(params, php_params.parse(await request.body()))
    return params, files


def _resolve_refs(value: Any, results: dict[str, Any]) -> Any:
    """Batch `$result[cmd][FIELD]` references, substituted in parameter values like the portal does."""
    if isinstance(value, dict):
        return {k: _resolve_refs(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, results) for v in value]
    if not isinstance(value, str) or "$result[" not in value:
        return value

    def lookup(match: re.Match[str]) -> str:
        node: Any = results.get(match.group(1))
        for part in re.findall(r"\[([^\]]*)\]", match.group(2)):
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = None
        return "" if node is None else str(node)

    return _RESULT_REF.sub(lookup, value)


class PortalEmulator:
    """The HTTP side of the emulated portal. `start()` runs uvicorn on a background thread."""

    def __init__(self, config: EmulatorConfig | None = None, extra_handlers: list[Any] | None = None) -> None:
        """``extra_handlers``: more Litestar route handlers to serve beside the portal (the demo's inbox pages)."""
        self.state = PortalState(config)
        self.app = self._build_app(extra_handlers or [])
        self.mail_page = ""  # the demo's inbox page, linked from the portal's start page when set
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.host = "127.0.0.1"

    # ---- lifecycle ---------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> PortalEmulator:
        # IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on accepted sockets whose
        # protocol says TCP. Without it every answer on a kept-alive connection waited for the client's delayed
        # ACK, 44 ms a REST call (an install's 29 calls took 1.3 s instead of 0.1 s).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.host, self.port = host, sock.getsockname()[1]
        self.state.base_url = self.base_url
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            log_level="warning",
            timeout_keep_alive=30,
            limit_concurrency=1000,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="portal-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("portal emulator failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> PortalEmulator:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- REST --------------------------------------------------------------------------------------------

    def _context(self, params: dict[str, Any], webhook: tuple[str, str] | None) -> CallContext:
        if webhook is not None:
            user_id, code = webhook
            if int(user_id) != self.state.config.webhook_user_id or code != self.state.config.webhook_code:
                raise ApiError(401, "INVALID_CREDENTIALS", "Invalid request credentials")
            return CallContext(user_id=int(user_id), kind="webhook")
        token = params.pop("auth", None)
        user_id = self.state.authenticate(token)
        return CallContext(user_id=user_id, kind="oauth", access_token=str(token))

    def _batch(self, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        commands = params.get("cmd") or {}
        if isinstance(commands, list):
            commands = {str(i): c for i, c in enumerate(commands)}
        if not isinstance(commands, dict):
            raise ApiError(400, "INVALID_ARG_VALUE", "cmd must be an object")
        if len(commands) > BATCH_LIMIT:
            raise ApiError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
        halt = str(params.get("halt", "0")).lower() in {"1", "true", "y"}
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        times: dict[str, Any] = {}
        for key, command in commands.items():
            started = time.time()
            name, _, query = str(command).partition("?")
            name = name.strip().lower().removesuffix(".json")
            try:
                if name == "batch":
                    raise ApiError(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
                sub = _resolve_refs(php_params.parse(query), results)
                envelope = self.state.call(name, sub, ctx)
            except ApiError as err:
                errors[key] = err.payload()
                if halt:
                    break
                continue
            results[key] = envelope.get("result")
            if "total" in envelope:
                totals[key] = envelope["total"]
            if "next" in envelope:
                nexts[key] = envelope["next"]
            times[key] = self.state.time_block(started)
        # PHP's json_encode turns empty arrays into `[]`, not `{}`: keep that quirk.
        return {
            "result": {
                "result": results or [],
                "result_error": errors or [],
                "result_total": totals or [],
                "result_next": nexts or [],
                "result_time": times or [],
            }
        }

    async def handle_rest(self, request: Request[Any, Any, Any], path: str) -> Response[Any]:
        path = path.lstrip("/")
        webhook: tuple[str, str] | None = None
        match = _WEBHOOK.match(path)
        if match:
            webhook = (match.group(1), match.group(2))
            path = match.group(3)
        name = path.strip("/").lower().removesuffix(".json")
        started = time.time()
        try:
            params, files = await _params(request)
            if name == "upload":
                response = self._upload(params, files)
                # The file is stored; a stall on "disk.upload" holds the answer back (a caller killed meanwhile).
                stall = self.state.take_stall(["disk.upload"]) if response.status_code == 200 else None
                if stall is not None:
                    await self._hold(stall)
                return response
            if name == "download":
                return self._download(params)
            if not self.state.admit():
                raise ApiError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
            fault = self.state.take_fault(name)
            if fault is not None:
                raise fault
            ctx = self._context(params, webhook)
            raw = RAW_METHODS.get(name)
            if raw is not None:  # a machine URL that answers a file (the document generator's PDF)
                data, media_type, filename = raw(self.state, params, ctx)
                return Response(
                    content=data,
                    media_type=media_type,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(filename)}"},
                )
            methods = [name, *self._command_names(params)] if name == "batch" else [name]
            envelope = self._batch(params, ctx) if name == "batch" else self.state.call(name, params, ctx)
        except ApiError as err:
            return _error(err)
        stall = self.state.take_stall(methods)
        if stall is not None:
            await self._hold(stall)
        envelope["time"] = self.state.time_block(started)
        return _json(envelope)

    @staticmethod
    def _command_names(params: dict[str, Any]) -> list[str]:
        commands = params.get("cmd") or {}
        values = commands.values() if isinstance(commands, dict) else commands if isinstance(commands, list) else []
        return [str(c).partition("?")[0].strip().lower().removesuffix(".json") for c in values]

    @staticmethod
    async def _hold(stall: Any) -> None:
        """Keep the answer back (the work is already done) until released or the stall's time is up."""
        deadline = time.monotonic() + stall.seconds
        while not stall.release.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def _check_url_auth(self, params: dict[str, Any]) -> None:
        """Upload and download URLs embed the caller's token; an expired one fails like any call."""
        if params.get("auth"):
            self.state.authenticate(params["auth"])

    def _upload(self, params: dict[str, Any], files: dict[str, UploadFile]) -> Response[Any]:
        started = time.time()
        try:
            self._check_url_auth(params)
            ticket = self.state.take_upload_ticket(str(params.get("token") or ""))
            upload = files.get("file")
            if upload is None:
                raise ApiError(400, "ERROR_ARGUMENT", "No file in field 'file'")
            data = upload.file.read()
            name = ticket["name"] or upload.filename or "file"
            fid = self.state.store_file(ticket["folder_id"], str(name), data, ticket["user_id"], ticket["unique"])
            ctx = CallContext(
                user_id=ticket["user_id"],
                kind="oauth" if params.get("auth") else "webhook",
                access_token=str(params.get("auth") or ""),
            )
            with self.state.lock:
                row = self.state.file_view(fid, ctx)
        except ApiError as err:
            return _error(err)
        return _json({"result": row, "time": self.state.time_block(started)})

    def _download(self, params: dict[str, Any]) -> Response[Any]:
        try:
            self._check_url_auth(params)
            with self.state.lock:
                fid = self.state.download_tokens.get(str(params.get("token") or ""))
                if fid is None or fid not in self.state.files:
                    raise ApiError(404, "ERROR_NOT_FOUND", "File not found")
                data = self.state.file_bytes[fid]
                name = self.state.files[fid]["NAME"]
        except ApiError as err:
            return _error(err)
        return Response(
            content=data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(name)}"},
        )

    async def handle_oauth(self, request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            params, _ = await _params(request)
            return _json(self.state.refresh(params))
        except ApiError as err:
            return _error(err)

    # ---- portal pages (CRM card with the app's tab) ------------------------------------------------------

    def crm_card_html(self, kind: str, entity_id: int, user_id: int) -> str:
        """A CRM card page. If the app bound a tab for this card, the tab is an iframe filled by a hidden form
        POST (AUTH_ID, REFRESH_ID, PLACEMENT_OPTIONS...), exactly how the portal's app layout does it."""
        placement, row, uri = self._card(kind, entity_id)
        if row is None:
            return "<h1>Не найдено</h1>"
        if kind == "contact":
            title = html.escape(" ".join(str(row.get(f) or "") for f in ("LAST_NAME", "NAME", "SECOND_NAME")).strip())
        else:
            title = html.escape(str(row.get("TITLE") or row.get("title")))
        bindings = [p for p in self.state.placements if p["placement"] == placement]
        if bindings:
            form = self.state.placement_form(user_id, placement, {"ID": str(entity_id), "URI": uri})
            # The app's own page for BX24.openApplication (a slider), when the app's handler is registered.
            slider = self.state.placement_form(user_id, "DEFAULT") if self.state.app_handler else None
            tabs = f"<h2>{html.escape(bindings[0]['title'])}</h2>" + self.app_frame_html(
                bindings[0]["handler"], form, slider
            )
        else:
            tabs = "<p>Приложение не встроено в карточку (placement.bind не вызывался).</p>"
        return (
            f'<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>{title}</title></head>'
            f'<body><p><a href="/?user={user_id}">← CRM</a></p><h1>{title}</h1>{tabs}</body></html>'
        )

    def _card(self, kind: str, entity_id: int) -> tuple[str, dict[str, Any] | None, str]:
        """(placement, record, card address) of a deal, company or contact card, or of a smart-process item's
        (kind "type/<entityTypeId>", the portal's /crm/type/<entityTypeId>/details/<id>/)."""
        uri = f"/crm/{kind}/details/{entity_id}/"
        if kind.startswith("type/"):
            type_id = int(kind[5:])
            return f"CRM_DYNAMIC_{type_id}_DETAIL_TAB", self.state.items.get((type_id, entity_id)), uri
        table = {"deal": self.state.deals, "company": self.state.companies, "contact": self.state.contacts}[kind]
        return f"CRM_{kind.upper()}_DETAIL_TAB", table.get(entity_id), uri

    def app_frame_html(self, handler: str, form: dict[str, str], slider: dict[str, str] | None = None) -> str:
        """An iframe filled by an auto-submitted hidden form, the way the portal's app layout opens an app,
        plus the parent side of the frame protocol: the app posts "command:params:callbackId:APP_SID" to
        the portal's origin and gets "callbackId:json" back (resizeWindow, setInstallFinish, getInitData).

        With ``slider`` (the fields of a PLACEMENT=DEFAULT post): openApplication opens the app's handler in a
        side slider, its params (but the bx24_* ones) as PLACEMENT_OPTIONS, and answers only when the slider is
        closed (its «×» or closeApplication from the slider's app), as the portal does."""
        app_sid = secrets.token_hex(16)
        query = urlencode({"DOMAIN": f"{self.host}:{self.port}", "PROTOCOL": "0", "LANG": "ru", "APP_SID": app_sid})
        sep = "&" if "?" in handler else "?"
        action = handler + sep + query
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in form.items()
        )
        app_origin = "{0.scheme}://{0.netloc}".format(urlsplit(handler))
        script = _FRAME_SCRIPT.replace("__APP_ORIGIN__", json.dumps(app_origin)).replace(
            "__APP_SID__", json.dumps(app_sid)
        )
        slider_html = ""
        if slider is not None and self.state.app_handler:
            app = self.state.app_handler
            slider_action = app + ("&" if "?" in app else "?") + query
            slider_inputs = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in slider.items()
            )
            slider_html = (
                f'<form id="slider-form" method="POST" target="app-slider" action="{html.escape(slider_action)}">'
                f"{slider_inputs}</form>"
                '<div id="app-slider-box" hidden style="position:fixed;top:0;right:0;bottom:0;width:760px;'
                'max-width:100%;background:#fff;box-shadow:-4px 0 16px rgba(0,0,0,.3);z-index:10">'
                '<button type="button" id="app-slider-close" aria-label="Закрыть слайдер">×</button>'
                '<iframe name="app-slider" id="app-slider" title="Слайдер приложения" '
                'style="width:100%;height:calc(100% - 40px);border:0"></iframe></div>'
            )
        return (
            f'<form id="placement-form" method="POST" target="app-frame" '
            f'action="{html.escape(action)}">{inputs}</form>'
            f'<p id="frame-status" data-installed="" data-resized="" data-slider=""></p>'
            f'<iframe name="app-frame" id="app-frame" style="width:100%;height:400px;border:1px solid #ccc">'
            f"</iframe>{slider_html}<script>{script}</script>"
        )

    def install_html(self, handler: str, user_id: int) -> str:
        """What an admin sees when opening a not-yet-installed local app: its install URL in a frame, POSTed
        the admin's tokens with PLACEMENT=DEFAULT (the install page then binds placements and finishes)."""
        form = self.state.placement_form(user_id, "DEFAULT")
        return (
            '<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Установка приложения</title>'
            f"</head><body><h1>Установка приложения</h1>{self.app_frame_html(handler, form)}</body></html>"
        )

    def app_page_html(self, user_id: int, app_id: str = "", options: dict[str, str] | None = None) -> str:
        """The local application opened from the portal's left menu: its main handler in the app frame, POSTed
        the user's tokens with PLACEMENT=DEFAULT (what "На подпись", "Отдел" and "Аудит" live in).

        app_id: the app's id as `app.info` gives it, or its client_id (the box looks the app up by either);
        options: the link's query, which the box hands the main page as PLACEMENT_OPTIONS."""
        handler = self.state.app_handler
        if app_id and app_id not in (APP_ID, self.state.config.client_id):
            body = "<p>Приложение не найдено.</p>"
        elif not handler:
            body = "<p>Приложение не зарегистрировано на портале (не указан путь обработчика).</p>"
        else:
            body = self.app_frame_html(handler, self.state.placement_form(user_id, "DEFAULT", options or None))
        return (
            '<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>KlikDok</title></head>'
            f'<body><p><a href="/?user={user_id}">← Портал</a></p><h1>KlikDok</h1>{body}</body></html>'
        )

    def index_html(self, user_id: int) -> str:
        deals = "".join(
            f'<li><a href="/crm/deal/details/{d}/?user={user_id}">{html.escape(str(r["TITLE"]))}</a></li>'
            for d, r in sorted(self.state.deals.items())[:50]
        )
        companies = "".join(
            f'<li><a href="/crm/company/details/{c}/?user={user_id}">{html.escape(str(r["TITLE"]))}</a></li>'
            for c, r in sorted(self.state.companies.items())
        )
        contacts = "".join(
            f'<li><a href="/crm/contact/details/{c}/?user={user_id}">'
            f"{html.escape(' '.join(str(r.get(f) or '') for f in ('LAST_NAME', 'NAME')))}</a></li>"
            for c, r in sorted(self.state.contacts.items())
        )
        items = "".join(
            f'<li><a href="/crm/type/{t}/details/{i}/?user={user_id}">{html.escape(str(r["title"]))}</a></li>'
            for (t, i), r in sorted(self.state.items.items())
        )
        users = " ".join(
            f'<a href="/?user={u}">{html.escape(r["LAST_NAME"])}</a>' for u, r in sorted(self.state.users.items())
        )
        app = (
            f'<p><a id="open-app" href="/marketplace/app/?user={user_id}">Приложения → KlikDok</a></p>'
            if self.state.app_handler
            else ""
        )
        if self.mail_page:
            app += f'<p><a id="open-mail" href="{html.escape(self.mail_page)}">Почта демо-стенда</a></p>'

        return (
            f'<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Эмулятор Битрикс24</title>'
            f"</head><body><h1>Эмулятор Битрикс24</h1><p>Пользователь: {user_id}. Войти как: {users}</p>"
            f"{app}<h2>Сделки</h2><ul>{deals}</ul><h2>Компании</h2><ul>{companies}</ul>"
            f"<h2>Контакты</h2><ul>{contacts}</ul><h2>Смарт-процессы</h2><ul>{items}</ul></body></html>"
        )

    # ---- app ---------------------------------------------------------------------------------------------

    def _build_app(self, extra_handlers: list[Any]) -> Litestar:
        emulator = self

        @route("/rest/{path:path}", http_method=["GET", "POST"])
        async def rest(request: Request[Any, Any, Any], path: FromPath[str]) -> Response[Any]:
            return await emulator.handle_rest(request, path)

        @route("/oauth/token", http_method=["GET", "POST"])
        async def oauth_token(request: Request[Any, Any, Any]) -> Response[Any]:
            return await emulator.handle_oauth(request)

        @get("/", media_type="text/html")
        async def index(user: FromQuery[int] = 1) -> str:
            return emulator.index_html(user)

        @get("/crm/{kind:str}/details/{entity_id:int}", media_type="text/html")
        async def crm_card(kind: FromPath[str], entity_id: FromPath[int], user: FromQuery[int] = 1) -> Response[Any]:
            if kind not in ("deal", "company", "contact"):
                return Response(content="Not found", status_code=404, media_type="text/plain")
            return Response(content=emulator.crm_card_html(kind, entity_id, user), media_type="text/html")

        @get("/crm/deal/list", media_type="text/html")
        async def deal_list(user: FromQuery[int] = 1, open: FromQuery[int] = 0) -> str:
            return emulator_templates.deal_list_html(emulator, user, open)

        @get("/crm/type/{type_id:int}/details/{entity_id:int}", media_type="text/html")
        async def smart_card(type_id: FromPath[int], entity_id: FromPath[int], user: FromQuery[int] = 1) -> str:
            return emulator.crm_card_html(f"type/{type_id}", entity_id, user)

        @post("/marketplace/local/installed", status_code=200)
        async def installed() -> dict[str, bool]:
            emulator.state.installed = True
            return {"installed": True}

        @get("/marketplace/local/install", media_type="text/html")
        async def install(handler: FromQuery[str], user: FromQuery[int] = 1) -> str:
            return emulator.install_html(handler, user)

        @get(["/marketplace/app", "/marketplace/app/{app_id:str}"], media_type="text/html")
        async def app_page(
            request: Request[Any, Any, Any], app_id: FromPath[str] = "", user: FromQuery[int] = 1
        ) -> str:
            # The box drops its own system parameters from the query; `user` is this emulator's "who is logged in".
            options = {k: v for k, v in request.query_params.items() if k != "user"}
            return emulator.app_page_html(user, app_id, options)

        async def crash(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
            return _json({"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}, 500)

        return Litestar(
            route_handlers=[
                rest,
                oauth_token,
                index,
                crm_card,
                deal_list,
                smart_card,
                install,
                installed,
                app_page,
                *extra_handlers,
            ],
            request_max_body_size=512 * 1024 * 1024,
            exception_handlers={500: crash},
            debug=False,
            logging_config=None,
            openapi_config=None,
        )


_FRAME_SCRIPT = """
(function () {
  var frame = document.getElementById("app-frame");
  var status = document.getElementById("frame-status");
  var appOrigin = __APP_ORIGIN__, appSid = __APP_SID__;
  var sliderForm = document.getElementById("slider-form");
  var sliderBox = document.getElementById("app-slider-box");
  var opener = null;
  function closeSlider() {
    if (!sliderBox || sliderBox.hidden) return;
    sliderBox.hidden = true;
    document.getElementById("app-slider").src = "about:blank";
    status.setAttribute("data-slider", "closed");
    if (opener && opener.source) opener.source.postMessage(opener.callbackId + ":{}", appOrigin);
    opener = null;
  }
  if (sliderBox) document.getElementById("app-slider-close").addEventListener("click", closeSlider);
  window.addEventListener("message", function (event) {
    if (event.origin !== appOrigin || typeof event.data !== "string") return;
    var first = event.data.indexOf(":");
    var command = first < 0 ? event.data : event.data.slice(0, first);
    var rest = first < 0 ? [] : event.data.slice(first + 1).split(":");
    if (rest.length < 2 || rest[rest.length - 1] !== appSid) return;
    var callbackId = rest[rest.length - 2];
    var raw = rest.slice(0, -2).join(":");
    var params = {};
    try { params = raw ? JSON.parse(raw) : {}; } catch (e) { params = {}; }
    var answer = {};
    if (command === "resizeWindow") {
      var h = parseInt(params.height, 10);
      if (h > 0 && event.source === frame.contentWindow) {
        frame.style.height = h + "px"; status.setAttribute("data-resized", String(h));
      }
    } else if (command === "openApplication" && sliderForm) {
      var options = {};
      Object.keys(params).forEach(function (k) { if (k.indexOf("bx24_") !== 0) options[k] = params[k]; });
      sliderForm.elements["PLACEMENT_OPTIONS"].value = JSON.stringify(options);
      var width = parseInt(params.bx24_width, 10);
      if (width > 0) sliderBox.style.width = width + "px";
      sliderBox.hidden = false;
      status.setAttribute("data-slider", "open");
      opener = { source: event.source, callbackId: callbackId };
      sliderForm.submit();
      return;  // answered when the slider closes
    } else if (command === "closeApplication") {
      if (event.source) event.source.postMessage(callbackId + ":{}", appOrigin);
      closeSlider();
      return;
    } else if (command === "setInstallFinish") {
      fetch("/marketplace/local/installed", {method: "POST"}).then(function () {
        status.setAttribute("data-installed", "yes");
        status.textContent = "Приложение установлено.";
      });
    } else if (command === "getInitData") {
      answer = {LANG: "ru", PROTOCOL: 0, DOMAIN: location.host, APP_SID: appSid};
    }
    if (event.source) event.source.postMessage(callbackId + ":" + JSON.stringify(answer), appOrigin);
  });
  document.getElementById("placement-form").submit();
})();
"""


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Эмулятор портала Битрикс24 для KlikDok")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--rate", type=float, default=2.0, help="requests per second (leaky bucket drain)")
    parser.add_argument("--burst", type=int, default=50, help="bucket size before 503 QUERY_LIMIT_EXCEEDED")
    parser.add_argument("--token-lifetime", type=float, default=3600.0, help="access token lifetime, seconds")
    parser.add_argument("--client-secret", default="", help="fixed client_secret (default: random)")
    parser.add_argument("--webhook-code", default="", help="fixed webhook code (default: random)")
    parser.add_argument(
        "--state-file",
        default="",
        help="keep the portal's state in this file: loaded at start, saved before every answer (survives kill -9)",
    )
    args = parser.parse_args(argv)
    config = EmulatorConfig(rate_per_second=args.rate, burst=args.burst, access_token_lifetime=args.token_lifetime)
    if args.client_secret:
        config.client_secret = args.client_secret
    if args.webhook_code:
        config.webhook_code = args.webhook_code
    emulator = PortalEmulator(config)
    if args.state_file:
        from pathlib import Path

        from .portal_snapshot import StateFile, persisting

        state_file = StateFile(emulator.state, Path(args.state_file))
        if not state_file.load():
            state_file.compact()  # the new portal's credentials, before anyone has seen them
        config = emulator.state.config  # the saved portal's credentials, when there was one
        emulator.app = persisting(emulator.app, state_file)  # type: ignore[assignment]  # an ASGI callable, as uvicorn takes it
    emulator.start(args.host, args.port)
    # This is a local test double: printing its throwaway credentials is how the demo gets configured.
    print(
        json.dumps(
            {
                "portal": emulator.base_url,
                "rest": emulator.state.rest_url,
                "webhook_url": emulator.state.webhook_url,
                "client_id": config.client_id,
                "client_secret": config.client_secret,
                "install_tokens": emulator.state.issue_tokens(1),
            },
            ensure_ascii=False,
            indent=2,
        ),
        flush=True,
    )
    try:
        while emulator._thread is not None and emulator._thread.is_alive():
            emulator._thread.join(timeout=1)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
