"""#19, a snappy CLI: ``klikdok hash``, ``klikdok --help`` and ``klikdok verify`` import only what they use, so they
start in tens of milliseconds (the figures are ``make bench``'s; here only what is loaded, which does not depend on
the machine's load). Each probe runs the real ``main`` in a fresh interpreter and lists the packages it loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.pki_fixtures import GostPki
from tests.support.server import REPO, clean_env

# The server's machinery: the HTTP client, the web framework, the database layer, the Bitrix24 client.
SERVER = ("httpx", "litestar", "uvicorn", "sqlite_utils", "server.bitrix24", "server.app", "server.db", "lxml")
# What a digest needs none of: ASN.1, structs, templates, the configuration.
NOT_FOR_HASH = (*SERVER, "asn1crypto", "msgspec", "jinja2", "server.config", "cades.gost", "logging")


def loaded_by(argv: list[str], cwd: Path) -> tuple[int, set[str]]:
    probe = (
        "import json, sys\n"
        "from server.cli import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    code = exc.code or 0\n"
        "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(n for n, m in sys.modules.items() if m)) + '\\n')\n"
        "sys.exit(code)\n"
    )
    env = {**clean_env(), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    modules = json.loads(done.stderr.rsplit("MODULES ", 1)[1])
    return done.returncode, set(modules)


def _present(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules or any(m.startswith(n + ".") for m in modules))


def test_hash_and_help_load_nothing_of_the_server(tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_bytes(b"abc")
    code, modules = loaded_by(["hash", str(doc)], tmp_path)
    assert code == 0 and "cades.hashing" in modules  # the probe sees what was used
    assert _present(modules, NOT_FOR_HASH) == []
    for argv in (["--help"], ["verify", "--help"], ["--version"]):
        code, modules = loaded_by(argv, tmp_path)
        assert code == 0, argv
        assert _present(modules, NOT_FOR_HASH) == [], argv


def test_verify_loads_the_signature_code_and_no_server_machinery(gost_pki: GostPki, tmp_path: Path) -> None:
    doc, sig, root = tmp_path / "договор.pdf", tmp_path / "договор.pdf.sig", tmp_path / "root.pem"
    doc.write_bytes(b"%PDF-1.4 snappy\n" * 100)
    sig.write_bytes(gost_pki.pki.sign(gost_pki.user256, doc.read_bytes(), certfile=[gost_pki.inter.cert]))
    root.write_bytes(gost_pki.root.cert_pem)
    code, modules = loaded_by(["verify", str(doc), str(sig), "--trust", str(root), "--no-store"], tmp_path)
    assert code == 3  # no revocation material: indeterminate, but verified
    assert {"cades.verify", "asn1crypto"} <= modules
    assert _present(modules, (*SERVER, "jinja2", "server.config")) == []
    # With the server's trust store (the default), the configuration and the store are read, still no web stack.
    code, modules = loaded_by(["verify", str(doc), str(sig), "--trust", str(root)], tmp_path)
    assert code in (2, 3) and "server.config" in modules
    assert _present(modules, ("httpx", "litestar", "uvicorn", "server.app", "server.bitrix24.client", "jinja2")) == []


def test_the_html_report_loads_its_template_library_when_asked(gost_pki: GostPki, tmp_path: Path) -> None:
    doc, sig = tmp_path / "d.pdf", tmp_path / "d.pdf.sig"
    doc.write_bytes(b"x" * 100)
    sig.write_bytes(gost_pki.pki.sign(gost_pki.user256, doc.read_bytes(), certfile=[gost_pki.inter.cert]))
    _, modules = loaded_by(["verify", str(doc), str(sig), "--no-store", "--format", "html"], tmp_path)
    assert "jinja2" in modules
