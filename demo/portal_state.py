"""The emulated portal's data and REST methods, independent of HTTP.

Shapes follow Bitrix's published result examples (shared/reference/bitrix24-spec): ids as strings in CRM and
user rows, `next`/`total` on lists, `{"error", "error_description"}` with the documented HTTP statuses.
Everything is guarded by one lock because the HTTP server runs in its own thread while tests read and poke
the state from theirs.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import bitrix24_seed as seed
from . import php_params

PAGE = 50
MULTIFIELDS = ("EMAIL", "PHONE", "WEB", "IM")


class ApiError(Exception):
    """An error answer: HTTP status plus Bitrix's `error`/`error_description`."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(f"{status} {code} {description}")
        self.status = status
        self.code = code
        self.description = description

    def payload(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description}


@dataclass
class EmulatorConfig:
    """Knobs tests turn. The defaults are a real portal's ("Прочие" plan limits, one-hour tokens)."""

    rate_per_second: float = 2.0
    burst: int = 50
    access_token_lifetime: float = 3600.0
    client_id: str = "local.6a1f0c2d3e4b5a.00000001"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    member_id: str = field(default_factory=lambda: secrets.token_hex(16))
    application_token: str = field(default_factory=lambda: secrets.token_hex(16))
    domain: str = "portal.example"
    webhook_user_id: int = 1
    webhook_code: str = field(default_factory=lambda: secrets.token_hex(8))
    seed: bool = True


@dataclass
class Stall:
    """A scripted slow answer: the next `times` calls of `method` (also inside a `batch`) do their work, then the
    HTTP answer is held until `release` is set or `seconds` pass. Lets a test kill the caller after the portal
    has acted but before the caller heard about it."""

    method: str
    seconds: float
    times: int
    release: threading.Event = field(default_factory=threading.Event)


# Social network groups ("рабочие группы"): id -> NAME, VISIBLE, members as (user id, role A/E/K).
SEED_GROUPS: dict[int, dict[str, Any]] = {
    1: {"NAME": "Внутренний аудит", "VISIBLE": "N", "MEMBERS": [(1, "A"), (6, "K")]},
}


@dataclass
class TokenRecord:
    user_id: int
    expires_at: float


@dataclass
class Fault:
    """A scripted failure: the next `times` calls of `method` ("*" = any) get this error."""

    method: str
    status: int
    code: str
    description: str
    times: int


def _digits(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(actual: Any, op: str, expected: Any) -> bool:
    """One filter condition with Bitrix's prefixes; list fields (UF_DEPARTMENT) match by membership."""
    if isinstance(actual, list) and op in ("=", "", "@", "!", "!="):
        wanted = php_params.items(expected) if op in ("@",) or isinstance(expected, list) else [expected]
        hit = any(str(a) == str(w) for a in actual for w in wanted)
        return not hit if op in ("!", "!=") else hit
    if isinstance(expected, bool) or isinstance(actual, bool):
        flag = lambda v: str(v).upper() in {"Y", "1", "TRUE"}  # noqa: E731  a local one-liner; the fake moves to demo/ as it is
        result = flag(actual) == flag(expected)
        return not result if op in ("!", "!=") else result
    if op in ("@", "!@") or (op in ("", "=") and isinstance(expected, list)):
        found = any(str(actual) == str(e) for e in php_params.items(expected))
        return not found if op == "!@" else found
    if op in ("%", "=%", "%=", "!%"):
        text = str(actual or "").lower()
        needle = str(expected).lower().strip("%")
        found = needle in text
        return not found if op == "!%" else found
    a, e = _digits(actual), _digits(expected)
    left: Any = a if a is not None and e is not None else str(actual if actual is not None else "")
    right: Any = e if a is not None and e is not None else str(expected)
    if op in ("", "="):
        return left == right
    if op in ("!", "!="):
        return left != right
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    return False


_PREFIXES = (">=", "<=", "!=", "!@", "=%", "%=", "!%", ">", "<", "=", "!", "@", "%")


def matches(row: dict[str, Any], conditions: dict[str, Any]) -> bool:
    for key, expected in conditions.items():
        op = next((p for p in _PREFIXES if key.startswith(p)), "")
        name = key[len(op) :]
        if not _compare(row.get(name), op, expected):
            return False
    return True


def _ci(params: dict[str, Any], name: str, default: Any = None) -> Any:
    """Top-level parameter names are case-insensitive on the portal."""
    if name in params:
        return params[name]
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return default


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# Called at the end of every reset: modules that keep more emulated data (demo/emulator_<part>.py) seed it there.
RESET_HOOKS: list[Callable[[PortalState], None]] = []
# Functions run at every reset after the seed (other modules' additions to it: demo/emulator_visibility.py).
SEED_HOOKS: list[Callable[[PortalState], None]] = []


class PortalState:
    """Everything the emulated portal knows, plus what it recorded for tests to assert."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.lock = threading.RLock()
        self.base_url = "http://127.0.0.1"
        self.reset()

    # ---- lifecycle ---------------------------------------------------------------------------------------

    def reset(self, config: EmulatorConfig | None = None) -> None:
        """Back to the seed: fresh data, tokens, bucket and recordings (the HTTP server keeps running)."""
        with self.lock:
            if config is not None:
                self.config = config
            self.clock_offset = 0.0
            self.users: dict[int, dict[str, Any]] = {}
            self.departments: dict[int, dict[str, Any]] = {}
            self.companies: dict[int, dict[str, Any]] = {}
            self.contacts: dict[int, dict[str, Any]] = {}
            self.deals: dict[int, dict[str, Any]] = {}
            self.requisites: dict[int, dict[str, Any]] = {}
            self.company_contacts: dict[int, list[int]] = {}
            self.groups: dict[int, dict[str, Any]] = {}
            if self.config.seed:
                self.users = {int(r["ID"]): r for r in seed.users()}
                self.departments = {int(r["ID"]): r for r in seed.DEPARTMENTS}
                self.departments = copy.deepcopy(self.departments)
                self.companies = {int(r["ID"]): r for r in seed.companies()}
                self.contacts = {int(r["ID"]): r for r in seed.contacts()}
                self.deals = {int(r["ID"]): r for r in seed.deals()}
                self.requisites = {int(r["ID"]): r for r in seed.requisites()}
                self.company_contacts = seed.company_contacts()
                self.groups = copy.deepcopy(SEED_GROUPS)
            self.smart_types: list[dict[str, Any]] = []  # crm.type.list rows
            self.items: dict[tuple[int, int], dict[str, Any]] = {}  # (entityTypeId, id) -> crm.item row
            for hook in SEED_HOOKS:
                hook(self)
            self.access_tokens: dict[str, TokenRecord] = {}
            self.refresh_tokens: dict[str, int] = {}
            # Which application (client_id) each access or refresh token was minted for: the OAuth server
            # trades a refresh token only with the credentials of the application it belongs to.
            self.token_apps: dict[str, str] = {}
            self.storage = {
                "ID": "17",
                "NAME": "klikdok",
                "CODE": None,
                "MODULE_ID": "disk",
                "ENTITY_TYPE": "restapp",
                "ENTITY_ID": "3",
                "ROOT_OBJECT_ID": "100",
            }
            self.common_storage = {
                "ID": "1",
                "NAME": "Общий диск",
                "CODE": None,
                "MODULE_ID": "disk",
                "ENTITY_TYPE": "common",
                "ENTITY_ID": "shared_files_s1",
                "ROOT_OBJECT_ID": "2",
            }
            self.folders: dict[int, dict[str, Any]] = {}
            self.files: dict[int, dict[str, Any]] = {}
            self.file_bytes: dict[int, bytes] = {}
            self.upload_tickets: dict[str, dict[str, Any]] = {}
            self.download_tokens: dict[str, int] = {}
            self._next_disk_id = 1000
            for storage in (self.storage, self.common_storage):
                root = int(storage["ROOT_OBJECT_ID"])
                self.folders[root] = self._folder_row(root, storage["NAME"], None, int(storage["ID"]), 1)
            self.notifications: list[dict[str, Any]] = []
            self.notification_seq = 0
            self.timeline_comments: list[dict[str, Any]] = []
            self.timeline_created: dict[int, str] = {}  # comment id -> CREATED (kept apart: the records stay as sent)
            self.placements: list[dict[str, Any]] = []
            self.event_bindings: list[dict[str, Any]] = []
            self.robots: dict[str, dict[str, Any]] = {}  # demo/emulator_robots.py
            self.robot_events: dict[str, dict[str, Any]] = {}
            # Data of the methods other modules register (demo/emulator_*.py), one key per module.
            self.extra: dict[str, Any] = {}
            self.calls: list[str] = []
            self.faults: list[Fault] = []
            for stall in getattr(self, "stalls", []):
                stall.release.set()  # a reset never leaves an answer hanging
            self.stalls: list[Stall] = []
            # The local application's main page ("Путь вашего обработчика" in its registration), opened by
            # /marketplace/app/; empty until a test or the demo registers it.
            self.app_handler = ""
            self.installed = True
            self.bucket_level = 0.0
            self.bucket_updated = time.monotonic()
            self.rejected = 0
            self.refresh_count = 0
            for hook in RESET_HOOKS:
                hook(self)

    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move the portal's clock (tokens age; nothing else depends on wall time)."""
        with self.lock:
            self.clock_offset += seconds

    # ---- auth --------------------------------------------------------------------------------------------

    @property
    def rest_url(self) -> str:
        return f"{self.base_url}/rest/"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/rest/{self.config.webhook_user_id}/{self.config.webhook_code}/"

    def _new_pair(self, user_id: int, client_id: str | None = None) -> tuple[str, str, float]:
        access, refresh = secrets.token_hex(32), secrets.token_hex(32)
        expires_at = self.now() + self.config.access_token_lifetime
        self.access_tokens[access] = TokenRecord(user_id=user_id, expires_at=expires_at)
        self.refresh_tokens[refresh] = user_id
        app = client_id or self.config.client_id
        self.token_apps[access] = self.token_apps[refresh] = app
        return access, refresh, expires_at

    def issue_tokens(self, user_id: int = 1, *, client_id: str | None = None) -> dict[str, Any]:
        """What a real install hands the app: the `auth` block of ONAPPINSTALL (plus `expires`).

        client_id: mint the pair for another application on this portal (default: the configured one).
        """
        with self.lock:
            access, refresh, expires_at = self._new_pair(user_id, client_id)
            return self._oauth_answer(access, refresh, expires_at, user_id)

    def _oauth_answer(self, access: str, refresh: str, expires_at: float, user_id: int) -> dict[str, Any]:
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires": int(expires_at),
            "expires_in": int(self.config.access_token_lifetime),
            "domain": self.config.domain,
            "server_endpoint": f"{self.base_url}/rest/",
            "client_endpoint": f"{self.base_url}/rest/",
            "member_id": self.config.member_id,
            "application_token": self.config.application_token,
            "scope": "crm,user,department,disk,im,placement",
            "status": "L",
            "user_id": user_id,
        }

    def placement_form(
        self,
        user_id: int,
        placement: str = "DEFAULT",
        options: dict[str, Any] | None = None,
        *,
        client_id: str | None = None,
    ) -> dict[str, str]:
        """The POST fields the portal's browser form sends to an app page or placement handler.

        client_id: the tokens of another application on this portal (default: the configured one).
        """
        import json

        with self.lock:
            access, refresh, _ = self._new_pair(user_id, client_id)
        return {
            "AUTH_ID": access,
            "AUTH_EXPIRES": str(int(self.config.access_token_lifetime)),
            "REFRESH_ID": refresh,
            "SERVER_ENDPOINT": f"{self.base_url}/rest/",
            "APPLICATION_TOKEN": self.config.application_token,
            "APPLICATION_SCOPE": "crm,user,department,disk,im,placement",
            "member_id": self.config.member_id,
            "status": "L",
            "PLACEMENT": placement,
            "PLACEMENT_OPTIONS": json.dumps(options or {}, ensure_ascii=False),
        }

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (refresh tokens stay valid)."""
        with self.lock:
            for record in self.access_tokens.values():
                record.expires_at = min(record.expires_at, self.now() - 1)

    def authenticate(self, token: Any) -> int:
        """The user behind an access token, or the 401 the portal would answer."""
        if token in (None, ""):
            raise ApiError(401, "NO_AUTH_FOUND", "Wrong authorization data")
        with self.lock:
            record = self.access_tokens.get(str(token))
            if record is None:
                raise ApiError(401, "invalid_token", "The access token provided is invalid.")
            if record.expires_at <= self.now():
                raise ApiError(401, "expired_token", "The access token provided has expired.")
            return record.user_id

    def refresh(self, params: dict[str, Any]) -> dict[str, Any]:
        """`/oauth/token/?grant_type=refresh_token&client_id&client_secret&refresh_token` (rotates the pair)."""
        with self.lock:
            if params.get("grant_type") != "refresh_token":
                raise ApiError(400, "invalid_request", "Unsupported grant_type")
            if (
                params.get("client_id") != self.config.client_id
                or params.get("client_secret") != self.config.client_secret
            ):
                raise ApiError(401, "invalid_client", "Invalid client credentials")
            presented = str(params.get("refresh_token") or "")
            if presented not in self.refresh_tokens or self.token_apps.get(presented) != self.config.client_id:
                raise ApiError(400, "invalid_grant", "Invalid refresh token")
            user_id = self.refresh_tokens.pop(presented)
            access, refresh, expires_at = self._new_pair(user_id)
            self.refresh_count += 1
            answer = self._oauth_answer(access, refresh, expires_at, user_id)
            answer["domain"] = "oauth.emulator.example"  # the OAuth server answers with its own domain
            return answer

    # ---- rate limit and faults ---------------------------------------------------------------------------

    def admit(self) -> bool:
        """The portal's leaky bucket: False means 503 QUERY_LIMIT_EXCEEDED."""
        with self.lock:
            now = time.monotonic()
            self.bucket_level = max(0.0, self.bucket_level - (now - self.bucket_updated) * self.config.rate_per_second)
            self.bucket_updated = now
            if self.bucket_level + 1 > self.config.burst:
                self.rejected += 1
                return False
            self.bucket_level += 1
            return True

    def inject(
        self,
        method: str = "*",
        *,
        status: int = 500,
        code: str = "INTERNAL_SERVER_ERROR",
        description: str = "Internal server error",
        times: int = 1,
    ) -> None:
        with self.lock:
            self.faults.append(Fault(method.lower(), status, code, description, times))

    def stall(self, method: str, *, seconds: float = 30.0, times: int = 1) -> Stall:
        """Hold the answer of the next `times` calls of `method` (see :class:`Stall`); returns it for `release`."""
        with self.lock:
            stall = Stall(method.lower(), seconds, times)
            self.stalls.append(stall)
            return stall

    def take_stall(self, methods: list[str]) -> Stall | None:
        """The stall that applies to a request that ran `methods` (one, or a batch's commands), if any."""
        with self.lock:
            for stall in self.stalls:
                if stall.times > 0 and stall.method in methods:
                    stall.times -= 1
                    return stall
            return None

    def take_fault(self, method: str) -> ApiError | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method in ("*", method):
                    fault.times -= 1
                    return ApiError(fault.status, fault.code, fault.description)
            return None

    # ---- envelope helpers --------------------------------------------------------------------------------

    @staticmethod
    def time_block(started: float) -> dict[str, Any]:
        finished = time.time()
        fmt = lambda t: datetime.fromtimestamp(t, UTC).astimezone().isoformat(timespec="seconds")  # noqa: E731  a local one-liner; the fake moves to demo/ as it is
        return {
            "start": started,
            "finish": finished,
            "duration": finished - started,
            "processing": finished - started,
            "date_start": fmt(started),
            "date_finish": fmt(finished),
            "operating_reset_at": int(started) + 600,
            "operating": 0,
        }

    @staticmethod
    def page(rows: list[dict[str, Any]], start: Any) -> dict[str, Any]:
        """Offset paging as the portal does it: 50 rows, `next` when more remain, `total`; start=-1 skips
        the count (no `next`, total 0)."""
        offset = _int(start, 0)
        if offset == -1:
            return {"result": rows[:PAGE], "total": 0}
        offset = max(0, offset)
        chunk = rows[offset : offset + PAGE]
        envelope: dict[str, Any] = {"result": chunk, "total": len(rows)}
        if offset + PAGE < len(rows):
            envelope["next"] = offset + PAGE
        return envelope

    @staticmethod
    def select_fields(row: dict[str, Any], select: Any, *, multifields_only_if_selected: bool) -> dict[str, Any]:
        fields = [str(s) for s in php_params.items(select)]
        public = _public(row)
        if "UF_*" in fields:  # a CRM list gives its user fields only when asked for (select "UF_*" or by name)
            fields = [f for f in fields if f != "UF_*"] + [k for k in public if k.startswith("UF_CRM_")]
        if not fields or "*" in fields:
            chosen = {
                k: v
                for k, v in public.items()
                if not (multifields_only_if_selected and k in MULTIFIELDS) and not k.startswith("UF_CRM_")
            }
            for extra in fields:
                if extra.startswith("UF_CRM_") and extra in public:
                    chosen[extra] = public[extra]
            for extra in fields:
                if extra in MULTIFIELDS and extra in public:
                    chosen[extra] = public[extra]
            return chosen
        return {k: public[k] for k in fields if k in public}

    def query_rows(
        self,
        rows: list[dict[str, Any]],
        params: dict[str, Any],
        *,
        filter_key: str = "filter",
        order_key: str = "order",
        multifields: bool = True,
    ) -> dict[str, Any]:
        conditions = _ci(params, filter_key) or {}
        if not isinstance(conditions, dict):
            raise ApiError(400, "INVALID_ARG_VALUE", "filter must be an object")
        found = [r for r in rows if matches(r, conditions)]
        order = _ci(params, order_key) or {"ID": "ASC"}
        if isinstance(order, dict):
            for name, direction in reversed(list(order.items())):
                numeric = all(_digits(r.get(name)) is not None for r in found)
                found.sort(
                    key=lambda r: _digits(r.get(name)) if numeric else str(r.get(name) or ""),
                    reverse=str(direction).upper() == "DESC",
                )
        envelope = self.page(found, _ci(params, "start"))
        envelope["result"] = [
            self.select_fields(r, _ci(params, "select"), multifields_only_if_selected=multifields)
            for r in envelope["result"]
        ]
        return envelope

    # ---- dispatch ----------------------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """Run one REST method; returns the envelope without `time` (the HTTP layer adds it)."""
        method = method.lower()
        handler = _METHODS.get(method)
        if handler is None:
            raise ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        with self.lock:
            self.calls.append(method)
        schema = SCHEMAS.get(method)
        if schema is not None:
            schema.check(self, params, ctx)
        return handler(self, params, ctx)

    # ---- seeding helpers for tests -----------------------------------------------------------------------

    def add_group_member(self, group_id: int, user_id: int, role: str = "K") -> None:
        with self.lock:
            group = self.groups.setdefault(group_id, {"NAME": f"Группа {group_id}", "VISIBLE": "Y", "MEMBERS": []})
            group["MEMBERS"] = [m for m in group["MEMBERS"] if m[0] != user_id] + [(user_id, role)]

    def add_deals(self, count: int, *, title: str = "Сделка {n}") -> list[int]:
        with self.lock:
            start = max(self.deals, default=0) + 1
            ids = list(range(start, start + count))
            for n in ids:
                self.deals[n] = seed._deal(n, title.format(n=n), None, [], 1, "1000.00")
            return ids

    # ---- disk --------------------------------------------------------------------------------------------

    def _disk_id(self) -> int:
        self._next_disk_id += 1
        return self._next_disk_id

    def _stamp(self) -> str:
        return datetime.fromtimestamp(self.now(), UTC).astimezone().isoformat(timespec="seconds")

    def _folder_row(self, fid: int, name: str, parent: int | None, storage_id: int, user_id: int) -> dict[str, Any]:
        stamp = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
        return {
            "ID": str(fid),
            "NAME": name,
            "CODE": None,
            "STORAGE_ID": str(storage_id),
            "TYPE": "folder",
            "REAL_OBJECT_ID": str(fid),
            "PARENT_ID": str(parent) if parent else None,
            "DELETED_TYPE": "0",
            "CREATE_TIME": stamp,
            "UPDATE_TIME": stamp,
            "DELETE_TIME": None,
            "CREATED_BY": str(user_id),
            "UPDATED_BY": str(user_id),
            "DELETED_BY": "0",
            "DETAIL_URL": f"{self.base_url}/docs/path/{quote(name)}",
        }

    def _folder(self, fid: Any) -> dict[str, Any]:
        folder = self.folders.get(_int(fid, -1))
        if folder is None:
            raise ApiError(400, "ERROR_NOT_FOUND", f"Could not find entity with id '{fid}'")
        return folder

    def _children(self, parent: int) -> list[dict[str, Any]]:
        rows = [f for f in self.folders.values() if f["PARENT_ID"] == str(parent)]
        rows += [f for f in self.files.values() if f["PARENT_ID"] == str(parent)]
        return rows

    def file_view(self, fid: int, ctx: CallContext) -> dict[str, Any]:
        """A file row with a DOWNLOAD_URL that embeds the caller's token, like the real one."""
        row = dict(self.files[fid])
        token = "disk|" + secrets.token_urlsafe(24)
        self.download_tokens[token] = fid
        query = f"token={quote(token, safe='')}"
        if ctx.access_token:
            query = f"auth={ctx.access_token}&" + query
        row["DOWNLOAD_URL"] = f"{self.base_url}/rest/download.json?{query}"
        return row

    def store_file(self, folder_id: int, name: str, data: bytes, user_id: int, unique: bool) -> int:
        with self.lock:
            folder = self._folder(folder_id)
            taken = {c["NAME"] for c in self._children(folder_id)}
            if name in taken:
                if not unique:
                    raise ApiError(400, "DISK_OBJ_22000", "Файл с таким именем уже есть")
                stem, dot, ext = name.rpartition(".")
                if not dot:
                    stem, ext = name, ""
                n = 1
                while (candidate := f"{stem} ({n}){dot}{ext}") in taken:
                    n += 1
                name = candidate
            fid = self._disk_id()
            stamp = self._stamp()
            self.files[fid] = {
                "ID": str(fid),
                "NAME": name,
                "CODE": None,
                "STORAGE_ID": folder["STORAGE_ID"],
                "TYPE": "file",
                "PARENT_ID": str(folder_id),
                "DELETED_TYPE": "0",
                "GLOBAL_CONTENT_VERSION": "1",
                "FILE_ID": str(fid + 50000),
                "SIZE": str(len(data)),
                "CREATE_TIME": stamp,
                "UPDATE_TIME": stamp,
                "DELETE_TIME": None,
                "CREATED_BY": str(user_id),
                "UPDATED_BY": str(user_id),
                "DELETED_BY": "0",
                "DETAIL_URL": f"{self.base_url}/docs/file/{quote(name)}",
            }
            self.file_bytes[fid] = data
            return fid

    def take_upload_ticket(self, token: str) -> dict[str, Any]:
        with self.lock:
            ticket = self.upload_tickets.pop(token, None)
        if ticket is None or ticket["expires_at"] < self.now():
            raise ApiError(400, "ERROR_ARGUMENT", "Upload token is invalid or expired")
        return ticket


@dataclass
class CallContext:
    """Who is calling: a user through an OAuth token (`access_token` set) or through a webhook."""

    user_id: int
    kind: str  # "oauth" | "webhook"
    access_token: str = ""
    started: float = field(default_factory=time.time)

    @property
    def app_context(self) -> bool:
        return self.kind == "oauth"


# ---- method schemas -----------------------------------------------------------------------------------------

SPEC_FILE = Path(__file__).with_name("bitrix24_spec.json")
APP_ID = "7"  # the local application's id on this portal (`app.info` ID; /marketplace/app/<id>/ opens it)
# Parameters every method takes besides its own (the access token is taken off before this check).
_COMMON = frozenset({"auth"})


@dataclass(frozen=True)
class MethodSchema:
    """What Bitrix's published schema of one method allows: its parameters (top-level names are case-insensitive
    on the portal), which are required, and who may call it ("администратор..." = portal admins only; "...в
    контексте приложения" / "авторизованный в приложении" = an application's token, not a webhook)."""

    name: str
    params: dict[str, bool]  # lower-case name -> required
    admin_only: bool
    app_only: bool

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any]) -> MethodSchema:
        names = [str(p["name"]) for p in spec["params"]]
        if "result" in names and "time" in names:
            params: dict[str, bool] = {}  # the page listed its answer's fields: the method takes no parameters
        else:
            params = {n.lower(): p.get("required") is True for n, p in zip(names, spec["params"], strict=True)}
        who = str(spec.get("permissions") or "").lower()
        return cls(
            name=name,
            params=params,
            admin_only="администратор" in who or "административным доступом" in who,
            app_only="в контексте приложения" in who or "авторизованный в приложении" in who,
        )

    def check(self, state: PortalState, params: dict[str, Any], ctx: CallContext) -> None:
        """Refuse the call as the portal would, before the method runs."""
        if self.app_only and not ctx.app_context:
            raise ApiError(403, "WRONG_AUTH_TYPE", "Application context required")
        if self.admin_only and not state.users.get(ctx.user_id, {}).get("_ADMIN"):
            raise ApiError(403, "ACCESS_DENIED", "Access denied! Administrator rights required")
        given = {str(k).lower() for k in params} - _COMMON
        unknown = sorted(given - set(self.params))
        if unknown:
            raise ApiError(400, "INVALID_ARG_VALUE", f"Unknown parameter '{unknown[0]}' for method {self.name}")
        for name, required in self.params.items():
            if required and _ci(params, name) in (None, "", [], {}):
                raise ApiError(400, "ERROR_ARGUMENT", f"Required parameter '{name}' is missing")


def _load_schemas() -> dict[str, MethodSchema]:
    methods = json.loads(SPEC_FILE.read_text(encoding="utf-8"))["methods"]
    return {name.lower(): MethodSchema.from_spec(name, spec) for name, spec in methods.items()}


SCHEMAS = _load_schemas()


# ---- method implementations ---------------------------------------------------------------------------------

Handler = Callable[[PortalState, dict[str, Any], CallContext], dict[str, Any]]
_METHODS: dict[str, Handler] = {}
# REST endpoints that answer a file, not JSON (the document generator's machine URLs): (bytes, type, file name).
RAW_METHODS: dict[str, Callable[[PortalState, dict[str, Any], CallContext], tuple[bytes, str, str]]] = {}


def method(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            _METHODS[name.lower()] = fn
        return fn

    return register


def _need_app(ctx: CallContext, code: str = "WRONG_AUTH_TYPE") -> None:
    if not ctx.app_context:
        raise ApiError(403, code, "Application context required")


def _need_admin(state: PortalState, ctx: CallContext) -> None:
    if not state.users.get(ctx.user_id, {}).get("_ADMIN"):
        raise ApiError(403, "ACCESS_DENIED", "Access denied! Administrator rights required")


def _user_row(row: dict[str, Any]) -> dict[str, Any]:
    return _public(row)


@method("user.current")
def _user_current(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    return {"result": _user_row(state.users[ctx.user_id])}


@method("user.admin")
def _user_admin(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    return {"result": bool(state.users[ctx.user_id].get("_ADMIN"))}


@method("user.get")
def _user_get(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    conditions = dict(_ci(params, "FILTER") or {})
    # user.get also accepts filter fields at the top level (`user.get?ID=1`).
    for key, value in params.items():
        if key.upper().lstrip("><=!@%") in {"ID", "ACTIVE", "EMAIL", "NAME", "LAST_NAME", "UF_DEPARTMENT", "USER_TYPE"}:
            conditions.setdefault(key, value)
    sort = str(_ci(params, "sort") or "ID")
    order = str(_ci(params, "order") or "ASC")
    envelope = state.query_rows(
        list(state.users.values()),
        {"filter": conditions, "order": {sort: order}, "start": _ci(params, "start")},
        multifields=False,
    )
    envelope["result"] = [_user_row(r) for r in envelope["result"]]
    return envelope


@method("department.get")
def _department_get(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    # Filters are the upper-case field names; `sort`/`order` (lower case) choose the ordering.
    conditions = {k: v for k, v in params.items() if k in {"ID", "NAME", "SORT", "PARENT", "UF_HEAD"}}
    sort = str(params.get("sort") or "SORT")
    order = str(params.get("order") or "ASC")
    rows = [r for r in state.departments.values() if matches(r, conditions)]
    envelope = state.query_rows(
        rows, {"order": {sort: order, **({"ID": "ASC"} if sort != "ID" else {})}, "start": _ci(params, "START")}
    )
    return envelope


def _crm_get(table: str, label: str) -> Handler:
    def handler(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        entity_id = _int(_ci(params, "id"), 0)
        if entity_id <= 0:
            raise ApiError(400, "", "ID is not defined or invalid.")
        row = getattr(state, table).get(entity_id)
        if row is None:
            raise ApiError(400, "", "Not found")
        return {"result": _public(row)}

    handler.__name__ = f"get_{label}"
    return handler


def _crm_list(table: str) -> Handler:
    def handler(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return state.query_rows(list(getattr(state, table).values()), params)

    return handler


method("crm.deal.get")(_crm_get("deals", "deal"))
method("crm.company.get")(_crm_get("companies", "company"))
method("crm.contact.get")(_crm_get("contacts", "contact"))
method("crm.deal.list")(_crm_list("deals"))
method("crm.company.list")(_crm_list("companies"))
method("crm.contact.list")(_crm_list("contacts"))
method("crm.requisite.list")(_crm_list("requisites"))


def _items_rows(contact_ids: list[int]) -> list[dict[str, Any]]:
    return [
        {"CONTACT_ID": cid, "SORT": (i + 1) * 10, "ROLE_ID": 0, "IS_PRIMARY": "Y" if i == 0 else "N"}
        for i, cid in enumerate(contact_ids)
    ]


@method("crm.deal.contact.items.get")
def _deal_contacts(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    deal = state.deals.get(_int(_ci(params, "id"), 0))
    if deal is None:
        raise ApiError(400, "", "Not found")
    return {"result": _items_rows(list(deal.get("_CONTACT_IDS") or []))}


@method("crm.company.contact.items.get")
def _company_contacts(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    company_id = _int(_ci(params, "id"), 0)
    if company_id not in state.companies:
        raise ApiError(400, "", "Not found")
    return {"result": _items_rows(state.company_contacts.get(company_id, []))}


_TIMELINE_TYPES = {"deal": "deals", "company": "companies", "contact": "contacts"}


def _timeline_owner_exists(state: PortalState, entity_type: str, entity_id: int) -> bool:
    """A deal, company or contact, or a smart process's item ("dynamic_<entityTypeId>")."""
    if entity_type.startswith("dynamic_") and entity_type[8:].isdigit():
        return (int(entity_type[8:]), entity_id) in state.items
    table = _TIMELINE_TYPES.get(entity_type)
    return table is not None and entity_id in getattr(state, table)


@method("crm.timeline.comment.add")
def _timeline_add(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    fields = params.get("fields")  # only lower-case `fields` since crm 23.100.0
    if not isinstance(fields, dict):
        raise ApiError(400, "INVALID_ARG_VALUE", "Parameter 'fields' is required")
    entity_type = str(fields.get("ENTITY_TYPE") or "").lower()
    entity_id = _int(fields.get("ENTITY_ID"), 0)
    comment = str(fields.get("COMMENT") or "")
    if not comment.strip():
        raise ApiError(400, "INVALID_ARG_VALUE", "Comment is empty")
    if not _timeline_owner_exists(state, entity_type, entity_id):
        raise ApiError(400, "OWNER_NOT_FOUND", "Owner not found")
    with state.lock:
        comment_id = 900 + len(state.timeline_comments) + 1
        state.timeline_comments.append(
            {
                "ID": comment_id,
                "ENTITY_TYPE": entity_type,
                "ENTITY_ID": entity_id,
                "COMMENT": comment,
                "AUTHOR_ID": ctx.user_id,
            }
        )
        state.timeline_created[comment_id] = state._stamp()
    return {"result": comment_id}


@method("crm.timeline.comment.list")
def _timeline_list(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    """Comments of one CRM item. The schema's `filter` works by exactly two fields, ENTITY_ID and ENTITY_TYPE, both
    required; anything else in it is refused here (a real portal may ignore it silently, which is worse: the caller
    would think it filtered). `order` by ID, CREATED or AUTHOR_ID; 50 a page. Rows carry string ids and
    `FILES: {}` like the documented answer."""
    conditions = _ci(params, "filter")
    if not isinstance(conditions, dict):
        raise ApiError(400, "INVALID_ARG_VALUE", "Parameter 'filter' is required")
    extra = sorted(k for k in conditions if str(k).upper() not in ("ENTITY_TYPE", "ENTITY_ID"))
    if extra:
        raise ApiError(
            400, "INVALID_ARG_VALUE", f"Filter field '{extra[0]}' is not supported: only ENTITY_ID and ENTITY_TYPE"
        )
    entity_type = str(conditions.get("ENTITY_TYPE") or "").lower()
    entity_id = _int(conditions.get("ENTITY_ID"), 0)
    if not entity_type or entity_id <= 0:
        raise ApiError(400, "INVALID_ARG_VALUE", "ENTITY_ID and ENTITY_TYPE are required in filter")
    if not _timeline_owner_exists(state, entity_type, entity_id):
        raise ApiError(400, "", "Access denied.")
    order = _ci(params, "order") or {"ID": "ASC"}
    if isinstance(order, dict) and any(k not in ("ID", "CREATED", "AUTHOR_ID") for k in order):
        raise ApiError(400, "INVALID_ARG_VALUE", "Sorting is supported by ID, CREATED and AUTHOR_ID only")
    with state.lock:
        rows = [
            {
                "ID": str(c["ID"]),
                "ENTITY_ID": str(c["ENTITY_ID"]),
                "ENTITY_TYPE": c["ENTITY_TYPE"],
                "CREATED": state.timeline_created.get(c["ID"], ""),
                "COMMENT": c["COMMENT"],
                "AUTHOR_ID": str(c["AUTHOR_ID"]),
                "FILES": {},
            }
            for c in state.timeline_comments
            if c["ENTITY_TYPE"] == entity_type and c["ENTITY_ID"] == entity_id
        ]
    return state.query_rows(rows, {"order": order, "start": _ci(params, "start"), "select": _ci(params, "select")})


@method("sonet_group.user.get")
def _sonet_group_users(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    """Members of a workgroup as `[{"USER_ID": "1", "ROLE": "A"}]` (A owner, E moderator, K member). Dismissed
    (inactive) users are left out; a hidden group shows nothing to someone who is neither a member nor an admin."""
    group = state.groups.get(_int(_ci(params, "ID"), 0))
    if group is None:
        return {"result": []}
    members = group["MEMBERS"]
    is_member = any(uid == ctx.user_id for uid, _ in members)
    if group.get("VISIBLE") != "Y" and not is_member and not state.users.get(ctx.user_id, {}).get("_ADMIN"):
        return {"result": []}
    return {
        "result": [
            {"USER_ID": str(uid), "ROLE": role}
            for uid, role in members
            if state.users.get(uid, {}).get("ACTIVE", False)
        ]
    }


@method("im.notify.system.add")
def _notify_system(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    user_id = _int(_ci(params, "USER_ID"), 0)
    message = str(_ci(params, "MESSAGE") or "").strip()
    if user_id <= 0:
        raise ApiError(400, "USER_ID_EMPTY", "Recipient user id is empty")
    if not message:
        raise ApiError(400, "MESSAGE_EMPTY", "Message text is empty")
    tag = _ci(params, "TAG")
    client_id = _ci(params, "CLIENT_ID")
    # The schema: CLIENT_ID is required through a webhook together with TAG and SUB_TAG (a webhook names no
    # application, and a tag is unique only within one).
    if ctx.kind == "webhook" and (tag or _ci(params, "SUB_TAG")) and not client_id:
        raise ApiError(400, "CLIENT_ID_EMPTY", "CLIENT_ID is required with TAG or SUB_TAG in a webhook call")
    owner = str(client_id) if ctx.kind == "webhook" else state.config.client_id
    with state.lock:
        if tag:
            state.notifications = [
                n for n in state.notifications if not (n.get("TAG") == tag and n.get("CLIENT_ID") == owner)
            ]
        state.notification_seq += 1
        notification_id = 12000 + state.notification_seq
        state.notifications.append(
            {
                "ID": notification_id,
                "USER_ID": user_id,
                "MESSAGE": message,
                "MESSAGE_OUT": _ci(params, "MESSAGE_OUT"),
                "TAG": tag,
                "CLIENT_ID": owner,
                "FROM": ctx.kind,
            }
        )
    return {"result": notification_id}


@method("app.info")
def _app_info(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _need_app(ctx)
    code = state.token_apps.get(ctx.access_token, state.config.client_id)
    return {
        "result": {
            "ID": APP_ID,
            "CODE": code,
            "VERSION": 1,
            "STATUS": "L",
            "INSTALLED": state.installed,
            "PAYMENT_EXPIRED": "N",
            "DAYS": None,
            "LANGUAGE_ID": "ru",
            "LICENSE": "ru_project",
        }
    }


@method("placement.get")
def _placement_get(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _need_app(ctx)
    _need_admin(state, ctx)
    return {"result": copy.deepcopy(state.placements)}


@method("placement.list")
def _placement_list(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _need_app(ctx)
    dynamic = sorted(f"CRM_DYNAMIC_{t['entityTypeId']}_DETAIL_TAB" for t in state.smart_types)
    return {"result": ["CRM_DEAL_DETAIL_TAB", "CRM_COMPANY_DETAIL_TAB", "CRM_CONTACT_DETAIL_TAB", *dynamic, "DEFAULT"]}


# Placements the emulated portal offers to placement.bind (the list menu: demo/emulator_templates.py).
BINDABLE_PLACEMENTS = {"CRM_DEAL_DETAIL_TAB", "CRM_COMPANY_DETAIL_TAB", "CRM_CONTACT_DETAIL_TAB", "CRM_DEAL_LIST_MENU"}


@method("placement.bind")
def _placement_bind(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _need_app(ctx)
    _need_admin(state, ctx)
    placement = str(_ci(params, "PLACEMENT") or "")
    handler = str(_ci(params, "HANDLER") or "")
    dynamic = {f"CRM_DYNAMIC_{t['entityTypeId']}_DETAIL_TAB" for t in state.smart_types}
    if placement not in BINDABLE_PLACEMENTS | dynamic:
        raise ApiError(400, "ERROR_PLACEMENT_NOT_FOUND", "Placement not found")
    if not handler.startswith(("http://", "https://")):
        raise ApiError(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL")
    with state.lock:
        if any(p["placement"] == placement and p["handler"] == handler for p in state.placements):
            raise ApiError(400, "ERROR_PLACEMENT_HANDLER_ALREADY_BINDED", "Handler already binded")
        title = str(_ci(params, "TITLE") or "")
        state.placements.append(
            {
                "placement": placement,
                "userId": 0,
                "handler": handler,
                "options": [],
                "title": title,
                "description": str(_ci(params, "DESCRIPTION") or ""),
                "langAll": _ci(params, "LANG_ALL") or {"ru": {"TITLE": title, "DESCRIPTION": "", "GROUP_NAME": ""}},
            }
        )
    return {"result": True}


@method("placement.unbind")
def _placement_unbind(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _need_app(ctx)
    _need_admin(state, ctx)
    placement = str(_ci(params, "PLACEMENT") or "")
    handler = _ci(params, "HANDLER")
    with state.lock:
        keep = [
            p
            for p in state.placements
            if not (p["placement"] == placement and (handler in (None, "") or p["handler"] == handler))
        ]
        count = len(state.placements) - len(keep)
        state.placements = keep
    return {"result": {"count": count}}


@method("event.bind")
def _event_bind(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _need_app(ctx, "ACCESS_DENIED")
    with state.lock:
        state.event_bindings.append(
            {
                "event": str(_ci(params, "event") or "").upper(),
                "handler": str(_ci(params, "handler") or ""),
                "event_type": str(_ci(params, "event_type") or "online"),
            }
        )
    return {"result": True}


@method("disk.storage.getforapp")
def _storage_for_app(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    _need_app(ctx, "ACCESS_DENIED")
    return {"result": dict(state.storage)}


@method("disk.storage.get")
def _storage_get(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    wanted = str(_ci(params, "id") or "")
    for storage in (state.storage, state.common_storage):
        if storage["ID"] == wanted:
            return {"result": dict(storage)}
    raise ApiError(400, "ERROR_NOT_FOUND", f"Could not find entity with id '{wanted}'")


@method("disk.folder.get")
def _folder_get(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    return {"result": dict(state._folder(_ci(params, "id")))}


@method("disk.folder.getchildren")
def _folder_children(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    folder = state._folder(_ci(params, "id"))
    with state.lock:
        rows = state._children(int(folder["ID"]))
        rows = [state.file_view(int(r["ID"]), ctx) if r["TYPE"] == "file" else dict(r) for r in rows]
    return state.query_rows(rows, params)


@method("disk.folder.addsubfolder")
def _folder_add(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    data = _ci(params, "data") or {}
    name = str(data.get("NAME") or "").strip() if isinstance(data, dict) else ""
    if not name:
        raise ApiError(400, "ERROR_ARGUMENT", "Argument 'data' must contain NAME")
    with state.lock:
        parent = state._folder(_ci(params, "id"))
        if any(c["NAME"] == name for c in state._children(int(parent["ID"]))):
            raise ApiError(400, "DISK_OBJ_22000", "Папка с таким именем уже есть")
        fid = state._disk_id()
        row = state._folder_row(fid, name, int(parent["ID"]), int(parent["STORAGE_ID"]), ctx.user_id)
        state.folders[fid] = row
    result = dict(row)
    result["ID"] = fid  # addSubFolder answers with numeric ids, unlike getChildren (see the spec example)
    result["REAL_OBJECT_ID"] = fid
    result["DELETED_TYPE"] = 0
    return {"result": result}


@method("disk.folder.uploadfile")
def _folder_upload(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    with state.lock:
        folder = state._folder(_ci(params, "id"))
    data = _ci(params, "data") or {}
    unique = str(_ci(params, "generateUniqueName") or "").lower() in {"1", "true", "y"}
    content = _ci(params, "fileContent")
    if content:
        # Form A: one request with base64 content.
        items = list(php_params.items(content))
        if len(items) != 2:
            raise ApiError(400, "ERROR_ARGUMENT", "fileContent must be [name, base64]")
        name = str((data or {}).get("NAME") or items[0])
        try:
            raw = base64.b64decode(str(items[1]), validate=True)
        except ValueError:
            raise ApiError(400, "ERROR_ARGUMENT", "fileContent is not valid base64") from None
        fid = state.store_file(int(folder["ID"]), name, raw, ctx.user_id, unique)
        with state.lock:
            return {"result": state.file_view(fid, ctx)}
    # Form B, step 1: hand out an upload URL.
    token = "disk|" + secrets.token_urlsafe(24)
    with state.lock:
        state.upload_tickets[token] = {
            "folder_id": int(folder["ID"]),
            "name": (data or {}).get("NAME"),
            "unique": unique,
            "user_id": ctx.user_id,
            "expires_at": state.now() + 3600,
            "access_token": ctx.access_token,
        }
    query = f"token={quote(token, safe='')}"
    if ctx.access_token:
        query = f"auth={ctx.access_token}&" + query
    return {"result": {"field": "file", "uploadUrl": f"{state.base_url}/rest/upload.json?{query}"}}


@method("disk.file.get")
def _file_get(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    fid = _int(_ci(params, "id"), -1)
    with state.lock:
        if fid not in state.files:
            raise ApiError(400, "ERROR_NOT_FOUND", f"Could not find entity with id '{fid}'")
        return {"result": state.file_view(fid, ctx)}


@method("disk.file.delete")
def _file_delete(state: PortalState, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    fid = _int(_ci(params, "id"), -1)
    with state.lock:
        if state.files.pop(fid, None) is None:
            raise ApiError(400, "ERROR_NOT_FOUND", f"Could not find entity with id '{fid}'")
        state.file_bytes.pop(fid, None)
    return {"result": True}
