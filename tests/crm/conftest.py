"""The CRM suites (issue 17) run on the workflow's and the counterparty exchange's fixtures: a portal emulator, a
real server installed on it, GOST certificates made by openssl, a mailbox for the counterparty's letters."""

from __future__ import annotations

from tests.counterparty.conftest import counterparty, exchange, smtp  # noqa: F401 - fixtures re-exported
from tests.workflow.conftest import (  # noqa: F401 - fixtures re-exported
    emulator,
    gost_pki,
    own_emulator,
    people,
    portal_server,
)
