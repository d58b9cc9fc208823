"""Wiring for ``server.app``: the background tasks of the counterparty exchange (its routes are in server.routes).

``start`` runs inside the lifespan after the workflow is up; it puts the exchange, the limiter, the mail worker
and the link key into ``services`` (``counterparty``, ``public_limiter``, ``mail``, ``link_key``),
registers the exchange's workflow listeners (invite on ``internal_signed``, close the link and queue the
confirmation on ``counterparty_signed``, revoke the link on ``withdraw``, wake the mail worker after every
commit) and returns the tasks for the lifespan to cancel at shutdown.
"""

from __future__ import annotations

import asyncio
from typing import Any

from server.cryptoarm import handlers as cryptoarm_handlers
from server.mail.smtp import SmtpSender
from server.mail.worker import MailWorker
from server.state import AppServices
from server.workflow import signature_store

from . import tokens
from .completion import confirm_on_signed
from .exchange import CounterpartyExchange
from .invitations import Invitations, revoke_on_withdraw
from .limiter import PublicLimiter
from .scheduler import CounterpartyScheduler


def sender_company(d: Any, document_id: int) -> str:
    """The sending organisation as its own signers' certificates name it (what the counterparty can trust)."""
    for signer in signature_store.internal_signers(d, document_id):
        org = signer.get("organization")
        if org:
            return str(org)
    return ""


def _cryptoarm_opener() -> Any:
    """The CryptoARM handler when the endpoint (server.cryptoarm) is part of this build, else None; registers the
    handler of its transactions (kind ``counterparty_link``) with the endpoint."""
    try:
        from .cryptoarm_handler import CounterpartyLinkHandler, open_for_link
    except ImportError:
        return None
    cryptoarm_handlers.register(CounterpartyLinkHandler())
    return open_for_link


def start(services: AppServices, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    settings = services.settings
    key = tokens.load_key(settings.storage.path)
    services.link_key = key
    limits = settings.limits
    services.public_limiter = PublicLimiter(
        per_ip_per_minute=limits.public_requests_per_minute,
        per_link_per_minute=limits.public_requests_per_link_per_minute,
        bad_links_per_hour=limits.public_bad_links_per_hour,
        reads_per_ip_per_minute=limits.public_reads_per_minute,
        reads_per_link_per_minute=limits.public_reads_per_link_per_minute,
    )
    exchange = CounterpartyExchange(
        services.db,
        downloads=services.downloads,
        packaging=services.packaging,
        signatures=services.signatures,
        timezone=settings.portal.timezone,
        paper=services.paper_copies,
    )
    mail = MailWorker(
        settings,
        services.db,
        SmtpSender(settings.smtp),
        link_key=key,
        package=services.packaging.build_package,
        sender_company=sender_company,
        wake_portal=services.outbox.wake,
        foreground=services.foreground,
    )
    services.listeners.on("internal_signed", Invitations(link_key=key, ttl_days=settings.policy.link_ttl_days))
    services.listeners.on("withdraw", revoke_on_withdraw)
    services.listeners.on("counterparty_signed", confirm_on_signed)
    services.listeners.on_commit(mail.wake)
    scheduler = CounterpartyScheduler(settings, services.db, wake_mail=mail.wake)
    services.counterparty = exchange
    services.cryptoarm_counterparty = _cryptoarm_opener()
    services.mail = mail
    services.counterparty_scheduler = scheduler
    return [
        asyncio.create_task(mail.run(stop), name="mail"),
        asyncio.create_task(scheduler.run(stop), name="counterparty"),
    ]
