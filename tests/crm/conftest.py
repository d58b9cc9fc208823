"""Documents that follow the CRM (issue 17, visibility): a real ``klikdok serve`` on the portal emulator, whose
CRM refuses a read to a user who is neither responsible for a record nor observing it (demo/emulator_visibility.py).

The server here has no auditor (the workflow suite's auditor would see everything and hide what the CRM rights
add), the seed's smart process enabled, and a short read-check time so a test can watch a revoked right expire.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.emulator_visibility import SMART_TYPE_ID
from demo.portal_emulator import PortalEmulator
from tests.support.pki_fixtures import gost_pki  # noqa: F401 - fixture re-export
from tests.workflow.conftest import (  # noqa: F401 - fixtures re-exported for this suite
    Klikdok,
    People,
    emulator,
    installed_klikdok,
    people,
    portal_server,
    server_env,
)

READ_CHECK_SECONDS = 2


def crm_env(people: People) -> dict[str, str]:  # noqa: F811  the fixture's value, passed on
    return server_env(
        people.pki,
        KLIKDOK_POLICY_AUDITOR_USER_IDS="[]",
        KLIKDOK_CRM_SMART_PROCESSES=f"[{SMART_TYPE_ID}]",
        KLIKDOK_CRM_READ_CHECK_SECONDS=str(READ_CHECK_SECONDS),
        KLIKDOK_CRM_ROLLUP_CACHE_SECONDS="0",
    )


@pytest.fixture
def crm_kd(tmp_path: Path, emulator: PortalEmulator, people: People) -> Iterator[Klikdok]:  # noqa: F811
    with installed_klikdok(tmp_path / "data", emulator, crm_env(people)) as k:
        yield k
