"""Accessibility checks in page tests: axe-core (vendored in tests/vendor/axe-core) run inside the page or frame.

Serious and critical violations fail the test; minor and moderate ones are left to review (axe's impact levels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
FAILING = ("serious", "critical")


def axe_violations(target: Any, selector: str | None = None) -> list[dict[str, Any]]:
    """axe's violations in a Playwright page or frame (within ``selector`` when given), every impact level."""
    if not target.evaluate("() => typeof window.axe !== 'undefined'"):
        target.add_script_tag(path=str(AXE))
    result = target.evaluate(
        """async (selector) => {
            const context = selector ? document.querySelector(selector) : document;
            const res = await window.axe.run(context, { resultTypes: ["violations"] });
            return res.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({ target: n.target.join(" "), summary: n.failureSummary })) }));
        }""",
        selector,
    )
    return list(result)


def assert_accessible(target: Any, selector: str | None = None) -> list[dict[str, Any]]:
    """No serious or critical violation; returns the lesser ones (for a test to print or ignore)."""
    found = axe_violations(target, selector)
    bad = [v for v in found if v["impact"] in FAILING]
    assert not bad, "\n".join(
        f"{v['impact']}: {v['id']} — {v['help']}: " + "; ".join(f"{n['target']} ({n['summary']})" for n in v["nodes"])
        for v in bad
    )
    return [v for v in found if v["impact"] not in FAILING]
