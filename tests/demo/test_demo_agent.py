"""``python -m demo.agent WHO`` with no code: it gets a pairing code the way the app page does (the portal opens
the page as that user, the page's session asks for a code), pairs, writes the OpenSSL backend with the demo key
and runs; a second start reuses the pairing."""

from __future__ import annotations

import time
from pathlib import Path

from tests.demo.conftest import Demo, stop


def wait_for_text(path: Path, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {path}:\n{path.read_text(errors='replace') if path.exists() else ''}")


def test_the_demo_agent_pairs_itself_as_its_signer_and_runs(demo: Demo, tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    agent = demo.start("-m", "demo.agent", "accountant", log=log)
    out = wait_for_text(log, "connected")
    assert "пользователя №5" in out  # paired for the chief accountant, user 5 of the seed
    config = (demo.data / "demo" / "agents" / "accountant" / "agent.toml").read_text()
    assert 'kind = "openssl"' in config and "people/accountant.key" in config and 'device_id = "' in config
    assert stop(agent) == 0
    again = demo.start("-m", "demo.agent", "accountant", log=tmp_path / "again.log")
    out = wait_for_text(tmp_path / "again.log", "connected")
    assert "Сопряжено" not in out  # the pairing is kept: no new device
    stop(again)
