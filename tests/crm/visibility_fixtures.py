"""Fixtures of the visibility tests (issue 17): a real ``klikdok serve`` on the portal emulator, whose CRM refuses
a read to a user who is neither responsible for a record nor observing it (demo/emulator_visibility.py).

The server here has no auditor (the workflow suite's auditor would see everything and hide what the CRM rights
add), the seed's smart process enabled, and a short read-check time so a test can watch a revoked right expire.
The suite's conftest.py provides the emulator and the people; a test module imports ``crm_kd_fixture`` from here
(the fixture's name is ``crm_kd``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.emulator_visibility import SMART_TYPE_ID
from demo.portal_emulator import PortalEmulator
from tests.workflow.conftest import Klikdok, People, installed_klikdok, server_env

READ_CHECK_SECONDS = 2


def crm_env(people: People) -> dict[str, str]:
    return server_env(
        people.pki,
        KLIKDOK_POLICY_AUDITOR_USER_IDS="[]",
        KLIKDOK_CRM_SMART_PROCESSES=f"[{SMART_TYPE_ID}]",
        KLIKDOK_CRM_READ_CHECK_SECONDS=str(READ_CHECK_SECONDS),
        KLIKDOK_CRM_ROLLUP_CACHE_SECONDS="0",
    )


@pytest.fixture(name="crm_kd")
def crm_kd_fixture(tmp_path: Path, emulator: PortalEmulator, people: People) -> Iterator[Klikdok]:
    with installed_klikdok(tmp_path / "data", emulator, crm_env(people)) as k:
        yield k
