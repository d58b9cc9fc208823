"""The CRM status field and automation triggers (issue 17) against the portal emulator over real HTTP: the
counterparty exchange's fixtures (a real SMTP server, the counterparty's GOST certificates) and the workflow's."""

from __future__ import annotations

from tests.counterparty.conftest import (  # noqa: F401 - fixtures re-exported for this suite
    counterparty,
    exchange,
    smtp,
)
from tests.workflow.conftest import (  # noqa: F401 - fixtures re-exported for this suite
    db,
    emulator,
    gost_pki,
    own_emulator,
    people,
    portal_server,
)
