"""The CRM suites (issue 17: the status field, triggers, robots) run on the workflow's and the counterparty
exchange's fixtures: a portal emulator, a real server installed on it, GOST certificates made by openssl, a real
SMTP server for the counterparty's letters."""

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
