#!/usr/bin/python3
"""Make a virtualenv built inside a staging root valid at its final path.

The venv is created at <stage>/opt/venvs/<name> so that the build never writes to
the real /opt of the build machine. Every absolute path pip and venv wrote into it
(script shebangs, activate scripts, pyvenv.cfg) still carries the staging prefix;
this tool rewrites them and then fails loudly if any reference to the build
directories is left, because such a leftover would only show up on the customer's
server as "bad interpreter".
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Files that only record where pip installed from (a file:// URL into the build
# directory). They are not needed at run time and would leak build paths.
_DROP_NAMES = {"direct_url.json"}


def rewrite_prefix(venv: Path, stage_prefix: str, final_prefix: str) -> list[Path]:
    """Replace the staging prefix with the final one in every text file under bin/ and pyvenv.cfg."""
    changed: list[Path] = []
    candidates = [p for p in (venv / "bin").iterdir() if p.is_file() and not p.is_symlink()]
    candidates.append(venv / "pyvenv.cfg")
    old, new = stage_prefix.encode(), final_prefix.encode()
    for path in candidates:
        data = path.read_bytes()
        if b"\0" in data or old not in data:
            continue
        path.write_bytes(data.replace(old, new))
        changed.append(path)
    return changed


def drop_install_records(venv: Path) -> int:
    """Remove direct_url.json files and their RECORD lines, so `pip freeze` shows plain versions."""
    removed = 0
    for path in venv.rglob("*.dist-info/direct_url.json"):
        record = path.parent / "RECORD"
        if record.exists():
            lines = record.read_text().splitlines(keepends=True)
            record.write_text(
                "".join(line for line in lines if not line.startswith(f"{path.parent.name}/direct_url.json,"))
            )
        path.unlink()
        removed += 1
    return removed


def find_leftovers(root: Path, needles: list[str]) -> list[str]:
    """List files (and symlink targets) that still mention a build-time path."""
    hits: list[str] = []
    encoded = [n.encode() for n in needles if n]
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_symlink():
                target = os.readlink(path)
                if any(n in target for n in needles if n):
                    hits.append(f"{path} -> {target}")
                continue
            try:
                data = path.read_bytes()
            except OSError as exc:  # unreadable file in our own build tree is a bug
                hits.append(f"{path}: {exc}")
                continue
            if any(n in data for n in encoded):
                hits.append(str(path))
    return hits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("venv", type=Path, help="venv directory inside the staging root")
    parser.add_argument("--stage-prefix", required=True, help="path the venv was built at")
    parser.add_argument("--final-prefix", required=True, help="path the venv will live at")
    parser.add_argument("--forbid", action="append", default=[], help="build path that must not remain")
    args = parser.parse_args(argv)

    changed = rewrite_prefix(args.venv, args.stage_prefix, args.final_prefix)
    dropped = drop_install_records(args.venv)
    leftovers = find_leftovers(args.venv, [args.stage_prefix, *args.forbid])
    print(f"relocate_venv: rewrote {len(changed)} files, dropped {dropped} direct_url.json")
    if leftovers:
        print("relocate_venv: build paths remain in:", *leftovers[:50], sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
