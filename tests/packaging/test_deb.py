"""The packaging: the full install test (opt-in) and the build helpers it relies on.

The install test builds both packages and runs packaging/deb/test-install.sh, which needs root, the
network to a Debian mirror (first run) and about three minutes, so it only runs when
KLIKDOK_DEB_TEST=1. The helper tests below are quick and always run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from setuptools import find_namespace_packages

REPO = Path(__file__).resolve().parents[2]
DEB = REPO / "packaging" / "deb"
DEBIAN_PYTHON = Path("/usr/bin/python3")


@pytest.mark.deb
@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("KLIKDOK_DEB_TEST") != "1", reason="set KLIKDOK_DEB_TEST=1 to run")
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (debootstrap, chroot, mounts)")
def test_install_upgrade_remove_purge_in_fresh_debian_root() -> None:
    proc = subprocess.run(
        ["bash", str(DEB / "test-install.sh")], cwd=REPO, capture_output=True, text=True, timeout=1800
    )
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, f"test-install.sh failed:\n{tail}"
    assert "PASSED" in proc.stderr, tail


def _run_tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(DEB / "tools" / name), *args], capture_output=True, text=True)


def test_conffile_points_at_package_paths_and_keeps_comments(tmp_path: Path) -> None:
    source = REPO / "config" / "klikdok.toml"
    dest = tmp_path / "klikdok.toml"
    proc = _run_tool("make_conffile.py", str(source), str(dest))
    assert proc.returncode == 0, proc.stderr
    shipped = tomllib.loads(dest.read_text(encoding="utf-8"))
    assert shipped["server"]["listen"] == "127.0.0.1:8080"
    assert shipped["storage"]["data_dir"] == "/var/lib/klikdok"
    # Everything else is the repository default, comments included.
    original = tomllib.loads(source.read_text(encoding="utf-8"))
    for table in original.keys() - {"server", "storage"}:
        assert shipped[table] == original[table]
    comments = [line for line in source.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert comments and all(c in dest.read_text(encoding="utf-8") for c in comments)


def test_conffile_adds_missing_keys_and_tables(tmp_path: Path) -> None:
    source = tmp_path / "in.toml"
    source.write_text('# dev config\n[server]\npublic_url = "http://x"\n\n[logging]\nlevel = "debug"\n')
    dest = tmp_path / "out.toml"
    proc = _run_tool("make_conffile.py", str(source), str(dest))
    assert proc.returncode == 0, proc.stderr
    shipped = tomllib.loads(dest.read_text())
    assert shipped == {
        "server": {"public_url": "http://x", "listen": "127.0.0.1:8080"},
        "logging": {"level": "debug"},
        "storage": {"data_dir": "/var/lib/klikdok"},
    }


@pytest.mark.skipif(not DEBIAN_PYTHON.exists(), reason="needs Debian's /usr/bin/python3")
def test_relocated_venv_runs_at_its_final_path(tmp_path: Path) -> None:
    """Build a venv in a staging dir, relocate it, move it: its scripts must run from the new place."""
    stage = tmp_path / "stage" / "opt" / "venvs" / "demo"
    final = tmp_path / "final" / "demo"
    subprocess.run([str(DEBIAN_PYTHON), "-m", "venv", "--without-pip", str(stage)], check=True)
    script = stage / "bin" / "hello"
    script.write_text(f"#!{stage}/bin/python\nimport sys\nprint(sys.prefix)\n")
    script.chmod(0o755)

    proc = _run_tool("relocate_venv.py", str(stage), "--stage-prefix", str(stage), "--final-prefix", str(final))
    assert proc.returncode == 0, proc.stderr
    final.parent.mkdir(parents=True)
    stage.rename(final)
    out = subprocess.run([str(final / "bin" / "hello")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(final)
    assert str(stage) not in (final / "pyvenv.cfg").read_text()


def test_relocation_fails_on_leftover_build_paths(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    leak = venv / "lib" / "python3.11" / "site-packages" / "pkg" / "paths.txt"
    leak.parent.mkdir(parents=True)
    leak.write_text("/build/tree/somewhere\n")
    proc = _run_tool(
        "relocate_venv.py",
        str(venv),
        "--stage-prefix",
        str(venv),
        "--final-prefix",
        "/opt/venvs/x",
        "--forbid",
        "/build/tree",
    )
    assert proc.returncode == 1
    assert "paths.txt" in proc.stderr


def test_maintainer_scripts_are_valid_posix_sh() -> None:
    scripts = [p for p in DEB.glob("*/*") if p.name in {"postinst", "prerm", "postrm", "preinst"}]
    assert len(scripts) >= 5
    for script in scripts:
        assert script.read_text().startswith("#!/bin/sh\n"), script
        proc = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script}: {proc.stderr}"


def test_the_wheel_carries_what_both_packages_import_and_no_demo_or_tests() -> None:
    """Both .deb install the one wheel: `klikdok` and `klikdok-agent` import `common` and `cades`, never `demo`."""
    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_namespace_packages(str(REPO), include=find["include"], exclude=find.get("exclude", ()))
    assert {name.split(".")[0] for name in packages} == {"server", "agent", "cades", "common"}
