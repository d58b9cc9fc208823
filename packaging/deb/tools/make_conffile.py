#!/usr/bin/python3
"""Turn the repository's config/klikdok.toml into the packaged /etc/klikdok/klikdok.toml.

The repository default is meant for developers (data under ./var, any port); the
package must point at /var/lib/klikdok and listen on loopback only, behind nginx.
Only the two values are rewritten in place so that the comments admins read stay
intact; the result is parsed again to prove it is still valid TOML with the values
the systemd unit and the maintainer scripts rely on.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

# (table, key) -> value the package needs.
PACKAGE_VALUES: dict[tuple[str, str], str] = {
    ("server", "listen"): "127.0.0.1:8080",
    ("storage", "data_dir"): "/var/lib/klikdok",
}

_TABLE_RE = re.compile(r"^\s*\[([A-Za-z0-9_.-]+)\]\s*(#.*)?$")


def _set_values(text: str, values: dict[tuple[str, str], str]) -> str:
    """Rewrite `key = ...` lines inside their tables; append what is missing."""
    pending = dict(values)
    out: list[str] = []
    table = ""
    for line in text.splitlines(keepends=True):
        match = _TABLE_RE.match(line)
        if match:
            out.extend(_missing_for(table, pending))
            table = match.group(1)
        else:
            for (tbl, key), value in list(pending.items()):
                if tbl == table and re.match(rf"^\s*{re.escape(key)}\s*=", line):
                    line = f'{key} = "{value}"\n'
                    del pending[(tbl, key)]
                    break
        out.append(line)
    out.extend(_missing_for(table, pending))
    for (tbl, key), value in pending.items():  # tables absent from the file
        out.append(f'\n[{tbl}]\n{key} = "{value}"\n')
    return "".join(out)


def _missing_for(table: str, pending: dict[tuple[str, str], str]) -> list[str]:
    """Keys of `table` that the file did not set, to append at the end of that table."""
    lines = []
    for (tbl, key), value in list(pending.items()):
        if tbl == table and table:
            lines.append(f'{key} = "{value}"\n')
            del pending[(tbl, key)]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)

    result = _set_values(args.source.read_text(encoding="utf-8"), PACKAGE_VALUES)
    parsed = tomllib.loads(result)
    for (tbl, key), value in PACKAGE_VALUES.items():
        if parsed.get(tbl, {}).get(key) != value:
            print(f"make_conffile: [{tbl}] {key} is not {value!r} after rewriting", file=sys.stderr)
            return 1
    args.dest.write_text(result, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
