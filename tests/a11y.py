"""An accessibility check of a page in the tests' Chromium: axe-core, vendored in tests/vendor/axe-core/.

axe-core (MPL-2.0, its licence beside it) is injected into the page as it stands and run on the part the user
sees; hidden sections are not checked, as a person cannot reach them. A test asserts there is nothing
``serious`` or ``critical`` and reads the rest in the failure message when there is.
"""

from __future__ import annotations

from typing import Any

from tests.support.server import REPO

AXE = REPO / "tests" / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


def axe_violations(page: Any, context: str = "body") -> list[dict[str, Any]]:
    """Every violation axe finds inside ``context`` (a CSS selector) of the page or frame."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async (context) => {
            const r = await window.axe.run(document.querySelector(context), {resultTypes: ["violations"]});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary)}));
        }""",
        context,
    )
    return list(result)


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The serious and critical ones: what the issue's bar («no serious violations») counts."""
    return [v for v in violations if v.get("impact") in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(f"[{v['impact']}] {v['id']}: {v['help']}\n  " + "\n  ".join(v["nodes"][:5]) for v in violations)
