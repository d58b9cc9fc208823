"""``klikdok-agent setup``: a signer answers two or three questions and gets a working ``[backend]``."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.agent.conftest import AGENT, REPO, Agent, People, agent_env
from tests.agent.test_backends import fake_tool

DOC = b"setup check\n" * 50


def setup(agent: Agent, answers: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGENT, "--config", str(agent.config), "setup"],
        cwd=REPO,
        env=agent_env(),
        input="".join(a + "\n" for a in answers),
        text=True,
        capture_output=True,
        timeout=60,
    )


def test_openssl_key_files_are_checked_shown_and_written(people: People, tmp_path: Path) -> None:
    cert = people.certs[1]
    agent = Agent(tmp_path / "a")
    agent.config.write_text('# мой файл\n[server]\nurl = "https://kd.example.ru"\ndevice_id = "7"\n')
    done = setup(agent, ["9", "4", str(cert.key), str(cert.cert), ""])
    assert done.returncode == 0, done.stderr
    assert "Введите номер от 1 до 4" in done.stdout  # a wrong number is asked again
    assert "1. Соколов" in done.stdout and "Отпечаток:" in done.stdout
    text = agent.config.read_text()
    assert text.startswith("# мой файл") and 'url = "https://kd.example.ru"' in text  # pairing kept
    assert 'kind = "openssl"' in text and f'key_file = "{cert.key}"' in text
    assert "klikdok-agent status" in done.stdout  # already paired: the next step is to check and run
    status = agent.cli("status")
    assert status.returncode == 0 and "доступен: OpenSSL" in status.stdout, status.stdout
    doc = tmp_path / "doc.txt"
    doc.write_bytes(DOC)
    assert agent.cli("sign", str(doc)).returncode == 0


def test_cryptcp_lists_certificates_with_a_key_and_takes_the_thumbprint(people: People, tmp_path: Path) -> None:
    tools = tmp_path / "cprocsp"
    tools.mkdir()
    fake_tool(tools / "cryptcp", people.certs[1], people.pki.pki.conf)
    fake_tool(tools / "certmgr", people.certs[1], people.pki.pki.conf)
    agent = Agent(tmp_path / "a")
    agent.write_config({"kind": "cryptoarm", "cryptcp_path": str(tools / "cryptcp")})
    done = setup(agent, ["3", ""])
    assert done.returncode == 0, done.stderr
    # Of the two certificates certmgr lists, only one has its private key here: it is taken without asking.
    assert "1. Соколов Андрей Викторович — ООО «Вектор»" in done.stdout and "Без ключа" not in done.stdout
    text = agent.config.read_text()
    assert 'kind = "cryptcp"' in text and 'certificate = "046255290b0eb1cdd1797d9ab8c81f699e3687f3"' in text
    assert "klikdok-agent pair" in done.stdout  # not paired yet: the next step says how


def test_cancelling_or_a_missing_file_changes_nothing(people: People, tmp_path: Path) -> None:
    agent = Agent(tmp_path / "a")
    agent.write_config({"kind": "cryptoarm"})
    before = agent.config.read_text()
    cancelled = setup(agent, [""])
    assert cancelled.returncode == 1 and "ничего не изменено" in cancelled.stderr
    missing = setup(agent, ["4", str(tmp_path / "нет.key")])
    assert missing.returncode == 1 and "нет.key" in missing.stderr and "ничего не изменено" in missing.stderr
    assert agent.config.read_text() == before


def test_cryptoarm_needs_no_certificate(tmp_path: Path) -> None:
    agent = Agent(tmp_path / "a")
    done = setup(agent, ["1"])
    assert done.returncode == 0, done.stderr
    assert 'kind = "cryptoarm"' in agent.config.read_text()
