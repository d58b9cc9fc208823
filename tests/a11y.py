"""An accessibility check of a page in the tests' Chromium: axe-core, vendored in tests/vendor/axe-core/.

axe-core (MPL-2.0, its licence beside it) is injected into the page or frame as it stands and run on the part the
user sees (hidden sections are not checked: a person cannot reach them). Serious and critical violations fail a
test; minor and moderate ones are left to review (axe's impact levels), readable in the failure message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


def axe_violations(target: Any, selector: str | None = None) -> list[dict[str, Any]]:
    """Every violation axe finds in a Playwright page or frame, within ``selector`` when given; each node is a
    line "target: what fails"."""
    if not target.evaluate("() => typeof window.axe !== 'undefined'"):
        target.add_script_tag(path=str(AXE))
    result = target.evaluate(
        """async (selector) => {
            const context = selector ? document.querySelector(selector) : document;
            const r = await window.axe.run(context, {resultTypes: ["violations"]});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary)}));
        }""",
        selector,
    )
    return list(result)


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The serious and critical ones: what the issue's bar («no serious violations») counts."""
    return [v for v in violations if v.get("impact") in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(f"[{v['impact']}] {v['id']}: {v['help']}\n  " + "\n  ".join(v["nodes"][:5]) for v in violations)


def assert_accessible(target: Any, selector: str | None = None) -> list[dict[str, Any]]:
    """No serious or critical violation; returns the lesser ones (for a test to print or ignore)."""
    found = axe_violations(target, selector)
    assert not blocking(found), describe(blocking(found))
    return [v for v in found if v not in blocking(found)]
