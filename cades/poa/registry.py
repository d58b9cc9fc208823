"""The ФНС registry of МЧД: is this power of attorney registered, and has it been revoked?

What the registry looks like (there is no published API; found with the search tool in December 2026):
- the МЧД's own «СведСист» element names the human page, ``https://m4d.nalog.gov.ru/emchd/check-status?guid=<НомДовер>``
  (both ФНС samples in shared/reference/mchd carry it);
- the page's JSON behind it, as called by the MIT-licensed PHP client ``porox/fns-m4d-client``
  (src/FNSM4DClient.php, commit 024b7b93), is ``GET {base}/api/v0/poar-portal/public/poa/{НомДовер}/public``,
  answering 200 with JSON ``{"poaNumber", "startDate", "endDate", "status", "statusDate", "issuerPublicKey"}`` or
  404 when the number is not registered; its statuses (src/DTO/AbstractPoaDTO.php) are CREATED «Зарегистрирована»,
  ACTIVE «Активна», EXPIRED «Действие истекло», REVOKED «Отменена», PROCESSING «Ожидание подтверждения»,
  REJECTED «Отказ в регистрации»;
- Diadoc's issue tracker (diadoc/diadocsdk-1c-docs#979) reports that the registry looks numbers up
  case-sensitively, so the number is sent exactly as the МЧД writes it.
It is an unofficial reading of a public portal, so the base URL is configurable and any answer this module does not
understand is "unknown", never "active". Answers are cached in memory for ``ttl`` (a registry status changes
rarely, and a document with ten signatures must not ask ten times); failures are not cached.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any, Final, Literal
from urllib.parse import quote

import msgspec

__all__ = ["DEFAULT_REGISTRY_URL", "RegistryAnswer", "RegistryClient", "RegistryState"]

DEFAULT_REGISTRY_URL: Final = "https://m4d.nalog.gov.ru"

RegistryState = Literal["active", "revoked", "expired", "rejected", "pending", "not_found", "unreachable", "unknown"]

_STATES: Final[dict[str, tuple[RegistryState, str]]] = {
    "ACTIVE": ("active", "действует"),
    "CREATED": ("pending", "зарегистрирована, ещё не действует"),
    "PROCESSING": ("pending", "ожидает подтверждения"),
    "EXPIRED": ("expired", "срок действия истёк"),
    "REVOKED": ("revoked", "отменена"),
    "REJECTED": ("rejected", "в регистрации отказано"),
}


class RegistryAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What the registry said about one МЧД: ``state`` for code, ``text`` in Russian for people, ``status_date``
    when the registry gave one (for a revocation: when it was revoked)."""

    state: RegistryState
    text: str
    status_date: dt.datetime | None = None
    raw_status: str = ""


class _Public(msgspec.Struct, kw_only=True, rename="camel"):
    status: str = ""
    status_date: str | None = None


def _moment(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            value = dt.datetime.combine(dt.date.fromisoformat(text[:10]), dt.time())
        except ValueError:
            return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone(dt.timedelta(hours=3)))


class RegistryClient:
    """Asks the ФНС registry for an МЧД's status over HTTPS with short timeouts, and remembers answers for ``ttl``
    seconds. One instance per process (the cache is the point); safe to share between threads."""

    def __init__(
        self,
        base_url: str = DEFAULT_REGISTRY_URL,
        *,
        timeout: float = 5.0,
        ttl: float = 3600.0,
        max_entries: int = 4096,
        trust_env: bool = True,
    ) -> None:
        """``trust_env``: take proxies from the environment (HTTPS_PROXY...), as a server behind one needs."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.ttl = ttl
        self.max_entries = max_entries
        self.trust_env = trust_env
        self._cache: dict[str, tuple[float, RegistryAnswer]] = {}
        self._lock = threading.Lock()
        self._client: Any = None

    def _http(self) -> Any:
        """One httpx client per registry client (an SSL context costs ~30 ms to build; a request must not)."""
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 3.0)),
                    headers={"Accept": "application/json"},
                    follow_redirects=False,
                    trust_env=self.trust_env,
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def url_for(self, number: str) -> str:
        return f"{self.base_url}/api/v0/poar-portal/public/poa/{quote(number, safe='')}/public"

    def status(self, number: str) -> RegistryAnswer:
        """The registry's answer for ``number``; never raises: an unreachable or odd registry is an answer too."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(number)
            if hit is not None and hit[0] > now:
                return hit[1]
        answer = self._ask(number)
        if answer.state not in ("unreachable", "unknown"):
            with self._lock:
                if len(self._cache) >= self.max_entries:
                    self._cache.clear()
                self._cache[number] = (now + self.ttl, answer)
        return answer

    def _ask(self, number: str) -> RegistryAnswer:
        import httpx

        try:
            response = self._http().get(self.url_for(number))
        except httpx.HTTPError as exc:
            return RegistryAnswer(state="unreachable", text=f"реестр ФНС недоступен ({type(exc).__name__})")
        if response.status_code == 404:
            return RegistryAnswer(state="not_found", text="МЧД с таким номером в реестре ФНС не найдена")
        if response.status_code != 200:
            return RegistryAnswer(state="unreachable", text=f"реестр ФНС ответил кодом HTTP {response.status_code}")
        try:
            body = msgspec.json.decode(response.content, type=_Public)
        except msgspec.DecodeError:
            return RegistryAnswer(state="unknown", text="ответ реестра ФНС не удалось прочитать")
        state, text = _STATES.get(body.status.upper(), ("unknown", f"неизвестный статус «{body.status}»"))
        return RegistryAnswer(state=state, text=text, status_date=_moment(body.status_date), raw_status=body.status)
