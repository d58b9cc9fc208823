"""SQL lives only in ``server/db/`` and in store modules, so each table has one module that owns it.

A store module is one whose name ends in ``store.py`` or that lives in a ``stores`` package; the table-to-module
map is the docstring of ``server/db/__init__.py``. Everything else asks a store. The check walks the syntax tree
of every module under ``server/`` and flags two things outside those homes: a string literal that starts like an
SQL statement, and a call of ``.execute(``, ``.executemany(`` or ``.query(`` (sqlite3 and sqlite-utils).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "server"

# Statements start with one of these words, in capitals or in lower case ("select ..."). A capitalised word is
# prose ("Create a draft", "Replace credentials"), and a bare word with nothing after it is a value ("delete"),
# so neither counts; docstrings are skipped for the same reason.
_KEYWORDS = "SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|PRAGMA|REPLACE"
SQL_START = re.compile(rf"^\s*(?:(?:{_KEYWORDS})|(?:{_KEYWORDS.lower()}))\s")
SQL_CALLS = frozenset({"execute", "executemany", "query"})


def is_sql_home(relative: str) -> bool:
    path = Path(relative)
    return relative.startswith("server/db/") or path.name.endswith("store.py") or "stores" in path.parent.parts


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (of the module, a class or a function)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def sql_findings(source: str) -> list[str]:
    """``line: what`` for every SQL-looking literal and every statement-running call in ``source``."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and SQL_START.match(node.value)
        ):
            found.append(f"{node.lineno}: SQL text {node.value.strip()[:50]!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            found.append(f"{node.lineno}: call of .{node.func.attr}()")
    return sorted(found, key=lambda f: int(f.split(":")[0]))


def _modules() -> dict[str, list[str]]:
    """Findings per module outside the SQL homes, keyed by the path relative to the repository."""
    out: dict[str, list[str]] = {}
    for path in sorted(SERVER.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if not is_sql_home(relative):
            out[relative] = sql_findings(path.read_text(encoding="utf-8"))
    return out


def test_sql_only_in_db_and_stores() -> None:
    stray = {path: found for path, found in _modules().items() if found}
    assert not stray, "SQL outside server/db/ and the store modules (move it into the table's store):\n" + "\n".join(
        f"{path}:{finding}" for path, found in stray.items() for finding in found
    )


def test_the_check_sees_sql() -> None:
    """The detector itself: statements and calls are found, prose and plain values are not."""
    found = sql_findings(
        "def f(db):\n"
        '    """Insert a draft and return its id."""\n'
        '    db.execute("SELECT 1")\n'
        '    rows = db.query("select * from documents")\n'
        '    sql = f"UPDATE documents SET {col} = ?"\n'
        '    action, text = "delete", "Replace credentials in URLs"\n'
        "    conn.executemany(sql, [])\n"
    )
    assert [f.split(": ", 1)[1].split(" ", 1)[0] for f in found] == ["call", "SQL", "call", "SQL", "SQL", "call"]
    assert not sql_findings('x = "Create a draft (multipart: files, title)"\ny = "select"\n')
    assert is_sql_home("server/db/outbox.py") and is_sql_home("server/workflow/job_store.py")
    assert is_sql_home("server/stores/documents.py") and not is_sql_home("server/workflow/states.py")
