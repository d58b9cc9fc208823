"""The command line as a whole process (issue 19): how long ``klikdok`` takes to start and give its first output,
and ``klikdok hash`` on 256 MiB against ``openssl dgst``, both processes timed alike, round by round.

Start-up is measured against ``python -c pass`` on the same interpreter (what no Python program can go under); the
goal is the first output within 80 ms of the start. Bytecode is written once before the rounds, as an installed
package has it (Debian's python3 byte-compiles at install).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.conftest import RESULTS
from tests.support.server import REPO, clean_env

SMALL = b"abc"


def _env() -> dict[str, str]:
    env = {**clean_env(), "PYTHONPATH": str(REPO)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, env=_env(), cwd=REPO, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bench-cli")
    small, big = folder / "small.txt", folder / "256mib.bin"
    small.write_bytes(SMALL)
    with big.open("wb") as f:
        for _ in range(256):
            f.write(os.urandom(1024 * 1024))
    _run([sys.executable, "-m", "server.cli", "hash", str(small)])  # compile the bytecode once
    return {"small": small, "big": big}


def test_cli_start_to_first_output(record_paired, files: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]  # a fixture
    record_paired(
        {
            "cli start: python -c pass": lambda: _run([sys.executable, "-c", "pass"]),
            "cli start: klikdok hash (3-byte file)": lambda: _run(
                [sys.executable, "-m", "server.cli", "hash", str(files["small"])]
            ),
            "cli start: klikdok --help": lambda: _run([sys.executable, "-m", "server.cli", "--help"]),
            "cli start: klikdok verify --help": lambda: _run([sys.executable, "-m", "server.cli", "verify", "--help"]),
        },
        rounds=20,
    )


def test_cli_hash_256mib_vs_openssl_dgst(record_paired, files: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]  # a fixture
    got = record_paired(
        {
            "cli hash 256 MiB: openssl dgst (process)": lambda: _run(
                [
                    "openssl",
                    "dgst",
                    "-provider",
                    "gostprov",
                    "-provider",
                    "default",
                    "-md_gost12_256",
                    str(files["big"]),
                ]
            ),
            "cli hash 256 MiB: klikdok hash (process)": lambda: _run(
                [sys.executable, "-m", "server.cli", "hash", str(files["big"])]
            ),
        },
        rounds=5,
    )
    ours = got["cli hash 256 MiB: klikdok hash (process)"].split()[0]
    assert ours == got["cli hash 256 MiB: openssl dgst (process)"].rsplit("= ", 1)[1].strip()
    assert RESULTS["cli hash 256 MiB: klikdok hash (process)"] > 0
