"""Every audit action the server writes has a phrase in the one vocabulary (server/db/audit_actions.py).

The actions are found in the source, not listed by hand: every ``audit.append(...)`` call under server/ is read
with ``ast``, and its ``action`` is followed to the literal strings it can be: a literal, an f-string or a name
bound to a parameter of the enclosing function (then every call of that function is followed in turn, e.g.
``states._audit(db, actor, "document.sent", doc)`` or ``transactions.finish(d, id, "cancelled")``). A value the
walk cannot follow fails the test unless it is in :data:`RESOLVED_ELSEWHERE`, which says where its values live.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from server.db import audit_actions
from server.workflow import registration
from tests.support.server import REPO

SERVER = REPO / "server"

# Actions computed from a table rather than passed in: (module, the expression written as `action=`) -> values.
RESOLVED_ELSEWHERE: dict[tuple[str, str], list[str]] = {
    ("server/workflow/registration.py", "action"): [action for _, _, action in registration.DECISIONS.values()],
}


Func = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Site:
    path: str
    func: Func | None


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SERVER.rglob("*.py")):
        yield str(path.relative_to(REPO)), ast.parse(path.read_text(encoding="utf-8"), str(path))


def _calls(node: ast.AST, func: Func | None = None) -> Iterator[tuple[ast.Call, Func | None]]:
    """Every call with the innermost function around it (None at module level)."""
    for child in ast.iter_child_nodes(node):
        inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else func
        if isinstance(child, ast.Call):
            yield child, func
        yield from _calls(child, inner)


def _name_of(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _params(func: Func) -> list[str]:
    a = func.args
    return [p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]]


class ActionFinder:
    def __init__(self) -> None:
        self.modules = {path: list(_calls(tree)) for path, tree in _modules()}
        self.unresolved: list[str] = []

    def _argument(self, call: ast.Call, func: Func, param: str) -> ast.expr | None:
        for kw in call.keywords:
            if kw.arg == param:
                return kw.value
        positional = [p.arg for p in [*func.args.posonlyargs, *func.args.args]]
        if param in positional:
            index = positional.index(param)
            if isinstance(call.func, ast.Attribute) and positional and positional[0] in ("self", "cls"):
                index -= 1
            if 0 <= index < len(call.args):
                return call.args[index]
        return None

    def _passed(self, func: Func, param: str, depth: int) -> set[str]:
        """What every call of ``func`` (by name, anywhere under server/) passes for ``param``."""
        values: set[str] = set()
        for path, calls in self.modules.items():
            for call, outer in calls:
                if _name_of(call) != func.name:
                    continue
                arg = self._argument(call, func, param)
                if arg is not None:
                    values |= self.resolve(arg, Site(path, outer), depth + 1)
        return values

    def resolve(self, expr: ast.expr, site: Site, depth: int = 0) -> set[str]:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}
        written = ast.unparse(expr)
        if (site.path, written) in RESOLVED_ELSEWHERE:
            return set(RESOLVED_ELSEWHERE[(site.path, written)])
        if depth < 4 and site.func is not None:
            if isinstance(expr, ast.Name) and expr.id in _params(site.func):
                return self._passed(site.func, expr.id, depth)
            if (
                isinstance(expr, ast.JoinedStr)
                and len([v for v in expr.values if isinstance(v, ast.FormattedValue)]) == 1
            ):
                hole = next(v for v in expr.values if isinstance(v, ast.FormattedValue))
                if isinstance(hole.value, ast.Name) and hole.value.id in _params(site.func):
                    parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in expr.values]
                    template = "".join(str(p) for p in parts)
                    return {template.format(v) for v in self._passed(site.func, hole.value.id, depth)}
        self.unresolved.append(f"{site.path}: action={written}")
        return set()

    def written_actions(self) -> dict[str, set[str]]:
        """action -> the files that write it."""
        found: dict[str, set[str]] = {}
        for path, calls in self.modules.items():
            for call, func in calls:
                f = call.func
                if not (isinstance(f, ast.Attribute) and f.attr == "append" and ast.unparse(f.value) == "audit"):
                    continue
                action = next((kw.value for kw in call.keywords if kw.arg == "action"), None)
                assert action is not None, f"{path}:{call.lineno}: audit.append without action="
                for value in self.resolve(action, Site(path, func)):
                    found.setdefault(value, set()).add(path)
        return found


def test_every_action_written_anywhere_has_a_phrase() -> None:
    finder = ActionFinder()
    written = finder.written_actions()
    assert finder.unresolved == [], "actions the test cannot follow; add them to RESOLVED_ELSEWHERE"
    # The walk reaches the ones written through helpers and computed names.
    for through_helper in ("document.sent", "document.expired", "cryptoarm.completed", "certificate.revoked"):
        assert through_helper in written, through_helper
    missing = {a: sorted(paths) for a, paths in written.items() if a not in audit_actions.PHRASES}
    assert missing == {}, "add these actions' phrases to server/db/audit_actions.py"


def test_the_vocabulary_describes_only_actions_the_server_writes() -> None:
    """A phrase nobody writes is a renamed or removed action: the filter would offer something never found."""
    written = ActionFinder().written_actions()
    assert sorted(set(audit_actions.PHRASES) - set(written)) == []


def test_phrases_are_natural_russian_without_gender_brackets() -> None:
    for code, text in audit_actions.PHRASES.items():
        assert text and text == text.strip() and "(а)" not in text and text[0].islower(), code
    assert audit_actions.phrase("never.written") == "never.written"
    assert [a["value"] for a in audit_actions.for_pages()] == list(audit_actions.PHRASES)


def test_the_pages_read_the_phrases_from_the_server() -> None:
    """The document panel keeps no list of its own (it had one, and it missed half the actions)."""
    panel = (SERVER / "static" / "document_panel.js").read_text(encoding="utf-8")
    assert "kd-audit-actions" in panel and '"document.created":' not in panel
    base = (SERVER / "templates" / "base.html").read_text(encoding="utf-8")
    assert 'id="kd-audit-actions"' in base
