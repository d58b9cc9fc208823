"""Server settings: the typed shape of ``config/klikdok.toml``.

Every key has a default so an empty file starts a working development server; ``check()`` covers the
values that are required only in some modes (a webhook URL in webhook mode, say). Each field's meaning is
documented next to the key in ``config/klikdok.toml``; ``tests/test_docs.py`` keeps the two in step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import msgspec

from common.errors import ConfigError
from common.tomlconfig import load
from server.bitrix24.settings import PortalSettings

ENV_PREFIX = "KLIKDOK"
DEFAULT_CONFIG_PATHS = (Path("/etc/klikdok/klikdok.toml"),)


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base of every section. msgspec passes ``frozen`` on to subclasses, but mypy's dataclass view of a
    Struct does not, so each subclass repeats ``frozen=True``."""


class ServerSettings(_Section, frozen=True):
    listen: str = "127.0.0.1:8080"
    public_url: str = "http://127.0.0.1:8080"
    session_ttl_minutes: int = 60
    watchdog: bool = True
    api_docs: bool = False
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 60.0
    keepalive_seconds: int = 5
    max_connections: int = 1000

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]") or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class StorageSettings(_Section, frozen=True):
    data_dir: str = "./var"
    busy_timeout_ms: int = 5000
    synchronous: Literal["full", "normal"] = "full"
    cache_max_mb: int = 512

    @property
    def path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def database_path(self) -> Path:
        return self.path / "klikdok.db"


class SmtpSettings(_Section, frozen=True):
    host: str = "127.0.0.1"
    port: int = 25
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str = ""
    password: str = ""
    sender: str = "klikdok@localhost"
    timeout_seconds: float = 30.0
    ca_file: str = ""
    poll_seconds: float = 2.0
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    max_attempts: int = 12


class TrustSettings(_Section, frozen=True):
    roots: list[str] = []
    intermediates: list[str] = []
    crls: list[str] = []
    revocation: Literal["require", "warn"] = "require"
    grace_minutes: int = 0
    fetch: bool = True
    # The old name of `fetch`, still read: ``false`` (written by older configs) keeps the network off.
    fetch_crls: bool = True
    fetch_timeout_seconds: float = 5.0
    crl_max_mb: int = 64
    crl_cache_hours: int = 24
    refresh_poll_seconds: float = 60.0
    tsl_max_age_days: int = 30
    tsl_max_mb: int = 256

    @property
    def network(self) -> bool:
        """Whether validation may go to the network (CRL distribution points, AIA OCSP and caIssuers)."""
        return self.fetch and self.fetch_crls


class PolicySettings(_Section, frozen=True):
    internal_identity_mismatch: Literal["refuse", "warn"] = "refuse"
    counterparty_identity_mismatch: Literal["refuse", "warn"] = "refuse"
    allowed_signer_inns: list[str] = []
    allowed_signer_snils: list[str] = []
    company_inn: list[str] = []  # the company's own ИНН for certificate onboarding (with its CRM requisites)
    auditor_user_ids: list[int] = []
    auditor_group_id: int = 0
    link_ttl_days: int = 30
    reminder_days_before: list[int] = msgspec.field(default_factory=lambda: [3, 1])
    # Issue 18: an employee's (not the head's) signature needs an МЧД: refuse without a valid one, accept with
    # the warning, or do not look (server.workflow.poa_policy).
    internal_poa: Literal["require", "warn", "off"] = "warn"
    counterparty_poa: Literal["require", "warn", "off"] = "warn"


class LimitsSettings(_Section, frozen=True):
    max_upload_mb: int = 100
    max_request_mb: int = 300
    max_signature_kb: int = 1024
    public_requests_per_minute: int = 30
    manual_reminders_per_day: int = 3
    public_requests_per_link_per_minute: int = 60
    public_bad_links_per_hour: int = 20
    public_reads_per_minute: int = 300
    public_reads_per_link_per_minute: int = 600
    public_verify_max_mb: int = 50
    # Issue 19: the auditor's «Проверка архива» (server.workflow.archive_checks): the largest ZIP one check takes.
    archive_check_max_mb: int = 2048
    trusted_proxies: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1", "::1"])


class WorkflowSettings(_Section, frozen=True):
    outbox_paused: bool = False
    outbox_poll_seconds: float = 1.0
    outbox_batch_size: int = 50
    outbox_max_attempts: int = 20
    counterparty_days: int = 14
    # Issue 17: automatic reminders to the current internal signer before the document's deadline
    # (server.workflow.reminders): which ones, from what hour of the portal's day, how often the clock looks.
    internal_reminders: list[Literal["day_before", "due_day"]] = msgspec.field(
        default_factory=lambda: ["day_before", "due_day"]
    )
    internal_reminder_hour: int = 9
    reminder_scan_seconds: float = 300.0


class AgentsSettings(_Section, frozen=True):
    pairing_code_minutes: int = 10
    pairing_codes_per_hour: int = 10
    heartbeat_seconds: float = 20.0
    dispatch_seconds: float = 1.0
    max_message_kb: int = 2048
    binding_list_seconds: float = 15.0
    binding_proof_seconds: float = 60.0


class CryptoarmSettings(_Section, frozen=True):
    transaction_minutes: int = 30


class CounterpartySettings(_Section, frozen=True):
    scan_seconds: float = 60.0
    package_in_email_max_mb: int = 20


class CrmSettings(_Section, frozen=True):
    """Which CRM cards get the «ЭДО» tab beyond deals, companies and contacts, and how long the portal's answers
    about who may read a card are trusted."""

    smart_processes: list[int] = []  # entityTypeId of each smart process whose items get the tab (crm.type.list)
    read_check_seconds: int = 60  # a user's "may read this card" answer, kept this long
    rollup_cache_seconds: int = 30  # a company's deals and contacts for its roll-up, kept this long


class MchdSettings(_Section, frozen=True):
    """How an МЧД is checked (issue 18): the ФНС registry and the powers each kind of document needs."""

    registry_check: bool = False  # ask the ФНС registry whether the МЧД is revoked (network; cached)
    registry_url: str = "https://m4d.nalog.gov.ru"  # the registry's address (cades.poa.registry)
    registry_timeout_seconds: float = 5.0
    # The CRM card's kind (its code in the entity registry, server.bitrix24.entities, or dynamic_<entityTypeId> for a
    # smart process, or * for the rest) -> the power codes (КодПолн) the МЧД must hold for a signature on its
    # documents; none: any power.
    powers: dict[str, list[str]] = {}


def _card_kind(code: str) -> bool:
    from server.bitrix24.entities import UnknownKind, kind_of

    try:
        kind_of(code)
    except UnknownKind:
        return False
    return True


def _card_kinds() -> list[str]:
    from server.bitrix24.entities import KINDS

    return [f'"{k.code}"' for k in KINDS]


class LoggingSettings(_Section, frozen=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "text"] = "json"
    target: Literal["auto", "stderr", "journal"] = "auto"


class Settings(_Section, frozen=True):
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    portal: PortalSettings = PortalSettings()
    smtp: SmtpSettings = SmtpSettings()
    trust: TrustSettings = TrustSettings()
    policy: PolicySettings = PolicySettings()
    limits: LimitsSettings = LimitsSettings()
    workflow: WorkflowSettings = WorkflowSettings()
    agents: AgentsSettings = AgentsSettings()
    cryptoarm: CryptoarmSettings = CryptoarmSettings()
    counterparty: CounterpartySettings = CounterpartySettings()
    crm: CrmSettings = CrmSettings()
    mchd: MchdSettings = MchdSettings()
    logging: LoggingSettings = LoggingSettings()

    def check(self) -> str | None:
        """Cross-field rules msgspec cannot express; returns the one-line problem or None."""
        host, sep, port = self.server.listen.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            return f"server.listen: expected host:port, got {self.server.listen!r}"
        if self.portal.mode == "webhook" and not self.portal.webhook_url:
            return 'portal.webhook_url: required when portal.mode = "webhook"'
        if not 0 <= self.workflow.internal_reminder_hour <= 23:
            return "workflow.internal_reminder_hour: expected an hour from 0 to 23"
        if self.workflow.reminder_scan_seconds <= 0:
            return "workflow.reminder_scan_seconds: expected a positive number of seconds"
        if self.storage.busy_timeout_ms < 0:
            return "storage.busy_timeout_ms: expected a non-negative integer"
        if self.limits.max_upload_mb <= 0 or self.limits.max_request_mb <= 0 or self.limits.max_signature_kb <= 0:
            return "limits: max_upload_mb, max_request_mb and max_signature_kb must be positive"
        trust = self.trust
        if trust.grace_minutes < 0:
            return "trust.grace_minutes: expected a non-negative integer"
        if trust.fetch_timeout_seconds <= 0 or trust.refresh_poll_seconds <= 0:
            return "trust: fetch_timeout_seconds and refresh_poll_seconds must be positive"
        if trust.crl_max_mb <= 0 or trust.crl_cache_hours <= 0:
            return "trust: crl_max_mb and crl_cache_hours must be positive"
        if any(t < 128 for t in self.crm.smart_processes):
            return "crm.smart_processes: entityTypeId of a smart process is 128 or more (see crm.type.list)"
        if self.mchd.registry_timeout_seconds <= 0:
            return "mchd.registry_timeout_seconds: expected a positive number of seconds"
        unknown = [k for k in self.mchd.powers if k != "*" and not _card_kind(k)]
        if unknown:
            return (
                f"mchd.powers: {unknown[0]!r} is not a kind of CRM card (keys: {', '.join(_card_kinds())}, "
                '"dynamic_<entityTypeId>" or "*")'
            )
        if self.crm.read_check_seconds < 0 or self.crm.rollup_cache_seconds < 0:
            return "crm: read_check_seconds and rollup_cache_seconds must not be negative"
        return None


def find_config(explicit: str | None) -> Path | None:
    """The file to read: --config, then $KLIKDOK_CONFIG, then /etc/klikdok/klikdok.toml if present."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("KLIKDOK_CONFIG")
    if env:
        return Path(env)
    for candidate in DEFAULT_CONFIG_PATHS:
        if candidate.exists():
            return candidate
    return None


def load_settings(path: Path | None, environ: dict[str, str] | None = None) -> Settings:
    return load(Settings, path, prefix=ENV_PREFIX, environ=environ)


__all__ = ["ConfigError", "Settings", "find_config", "load_settings"]
