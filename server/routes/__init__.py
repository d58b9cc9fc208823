"""The HTTP edge: every route of the server, one module per audience.

- :mod:`.portal_pages`: the pages the Bitrix24 portal opens (install, CRM tab, app page, app events);
- :mod:`.robots`: the automation robots' calls from the portal (``/b24/robot``);
- :mod:`.api`: the JSON API the portal pages call (``/api/v1``), the health check and the API description;
- :mod:`.public_pages`: the counterparty's public pages (``/c/<token>``);
- :mod:`.public_verify`: the public signature check (``/verify``) and a document's kept verdict (``/v/<id>``);
- :mod:`.agent`: the signing agent's device side and its websocket;
- :mod:`.cryptoarm`: the endpoint CryptoARM GOST talks to.

Shared pieces have plain names: :mod:`.sessions` (the page session), :mod:`.uploads` (streamed request bodies),
:mod:`.dependencies` (the services handlers receive as parameters), :mod:`.errors` (domain errors to HTTP
answers) and :mod:`.idempotency` (the middleware that runs a changing request once per ``Idempotency-Key``).
Routes call services and stores; nothing below imports this package.
"""

from __future__ import annotations

from typing import Any

from . import agent, cryptoarm, portal_pages, public_pages, public_verify, robots, templates
from .api import agents as api_agents
from .api import approval as api_approval
from .api import archive_checks as api_archive_checks
from .api import certificate_offers as api_certificate_offers
from .api import certificates as api_certificates
from .api import counterparty as api_counterparty
from .api import cryptoarm as api_cryptoarm
from .api import documents as api_documents
from .api import health, protocols, session
from .api import poa as api_poa
from .api import versions as api_versions

# In the order the schema lists them.
ROUTES: list[Any] = [
    health.healthz,
    session.session_info,
    portal_pages.Bitrix24Pages,
    *robots.ROUTES,
    api_documents.DocumentsController,
    api_versions.VersionsController,
    *protocols.ROUTES,
    *api_archive_checks.ROUTES,
    *api_approval.ROUTES,
    api_certificates.CertificatesController,
    *api_certificate_offers.ROUTES,
    *api_poa.ROUTES,
    *api_agents.ROUTES,
    *agent.ROUTES,
    *cryptoarm.ROUTES,
    *api_cryptoarm.ROUTES,
    public_pages.PublicPages,
    public_pages.CryptoArmPages,
    public_verify.PublicVerify,
    api_counterparty.CounterpartyApi,
    api_counterparty.CardRecipientsApi,
    *templates.ROUTES,
]
