"""`make run` without a portal: the printed card URL shows the KlikDok tab inside the emulator's deal card."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.browser import browser_page, screenshot
from tests.support.server import REPO, clean_env, free_port


def test_demo_prints_a_card_url_whose_tab_is_klikdok(tmp_path: Path) -> None:
    port, portal_port = free_port(), free_port()
    env = clean_env(
        KLIKDOK_STORAGE_DATA_DIR=str(tmp_path / "var"),
        KLIKDOK_SERVER_LISTEN=f"127.0.0.1:{port}",
        KLIKDOK_SERVER_PUBLIC_URL=f"http://127.0.0.1:{port}",
        KLIKDOK_DEMO_PORTAL_PORT=str(portal_port),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo.launcher"],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    timer = threading.Timer(90, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Остановить"):
                break
        text = "".join(lines)
        assert "Установка приложения: выполнена" in text, text
        card = re.search(r"Карточка сделки с вкладкой «ЭДО»: (\S+)", text)
        assert card, text
        with browser_page() as page:
            page.goto(card.group(1))
            frame = page.frame_locator("#app-frame")
            frame.locator("h1.kd-title, #kd-entity").first.wait_for(timeout=30000)
            assert "Сделка «" in frame.locator("body").inner_text()
            screenshot(page, "make-run-demo-card")
    finally:
        timer.cancel()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0
