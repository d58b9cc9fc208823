"""Every `# type: ignore` and `# noqa` names what it silences and why (issue 12).

ruff refuses a blanket one (PGH) and an unused noqa (RUF100), mypy an unused ignore (warn_unused_ignores); what no
tool checks is the reason, so a reader can judge whether the suppression may go. The accepted forms:

    x = f()  # type: ignore[code]  # reason in a few words
    import y  # noqa: E402  reason in a few words      (also `- reason` or `(reason)` after the codes)
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TREES = ("server", "agent", "cades", "common", "tests", "benchmarks")


_TYPE_IGNORE = re.compile(r"type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)")
_NOQA = re.compile(r"\bnoqa\b(?P<codes>\s*:\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)?(?P<rest>.*)", re.IGNORECASE)
# A reason: at least two words, after `  # ` for an ignore (the codes' bracket ends mypy's part) ...
_IGNORE_REASON = re.compile(r"\s+#\s+(?!noqa)\S*\w+\W+\w+")
# ... and after the rule codes, optionally behind a dash or an opening parenthesis.
_NOQA_REASON = re.compile(r"\s+(?:[-–—]\s+|\()?\w+\W+\w+")


def problems(source: str) -> list[tuple[int, str]]:
    """(line, what is wrong) for each suppression comment in ``source`` without a code or a reason."""
    found: list[tuple[int, str]] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        line, comment = token.start[0], token.string
        ignore = _TYPE_IGNORE.search(comment)
        if ignore is not None:
            if not ignore["codes"] or ignore["codes"] == "[]":
                found.append((line, "`type: ignore` without an error code"))
            elif not _IGNORE_REASON.match(ignore["rest"]):
                found.append((line, "`type: ignore[...]` without `  # reason`"))
        noqa = _NOQA.search(comment)
        if noqa is not None:
            if not noqa["codes"]:
                found.append((line, "`noqa` without a rule code"))
            elif not _NOQA_REASON.match(noqa["rest"]):
                found.append((line, "`noqa: CODE` without a reason after the codes"))
    return found


def _checked_files() -> list[Path]:
    files: list[Path] = []
    for tree in TREES:
        for path in sorted((REPO / tree).rglob("*.py")):
            files.append(path)
    return files


def test_every_suppression_in_the_tree_names_its_code_and_reason() -> None:
    files = _checked_files()
    assert len(files) > 100  # the walk found the tree
    bad = [
        f"{path.relative_to(REPO)}:{line}: {what}"
        for path in files
        for line, what in problems(path.read_text(encoding="utf-8"))
    ]
    assert bad == [], "\n".join(bad)


@pytest.mark.parametrize(
    "line",
    [
        "x = f()  # type: ignore\n",
        "x = f()  # type: ignore[]  # a reason here\n",
        "x = f()  # type: ignore[arg-type]\n",
        "x = f()  # type: ignore[arg-type]  # noqa: E501\n",
        "x = f()  # type: ignore[arg-type]  # why\n",
        "import os  # noqa\n",
        "import os  # NOQA\n",
        "import os  # noqa: F401\n",
        "import os  # noqa: F401, E402\n",
        "import os  # noqa: F401 -\n",
        "import os  # some words  # noqa\n",
    ],
)
def test_a_bare_or_unexplained_suppression_is_found(line: str) -> None:
    assert problems(line) != []


@pytest.mark.parametrize(
    "line",
    [
        "x = f()  # type: ignore[arg-type]  # the library says str, it gives bytes\n",
        "x = f()  # type: ignore[arg-type, union-attr]  # set two lines up\n",
        "import os  # noqa: F401  re-exported for the suite\n",
        "import os  # noqa: F401, E402 - after the sys.path line\n",
        "import os  # noqa: F401  (OID registration)\n",
        's = "# type: ignore and # noqa inside a string are not comments"\n',
        "x = 1  # an ordinary comment\n",
    ],
)
def test_a_suppression_with_code_and_reason_passes(line: str) -> None:
    assert problems(line) == []
