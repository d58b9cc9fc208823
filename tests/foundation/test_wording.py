"""User-facing Russian in the shipped sources reads as written for a person: no «подписал(а)» forms.

A slash-or-bracket gender form reads as a form to fill in; the texts say what happened without naming the
person's gender («документ подписан», «ссылку открывали»). Scans what the server ships: Python strings,
page scripts and templates.
"""

from __future__ import annotations

import re

from tests.support.server import REPO

GENDER_FORM = re.compile(r"[а-яё]\((а|ла|ая)\)", re.IGNORECASE)


def test_no_bracketed_gender_forms_in_what_the_server_ships() -> None:
    found = []
    for pattern in ("server/**/*.py", "server/static/*.js", "server/templates/**/*.html", "demo/**/*.py"):
        for path in REPO.glob(pattern):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if GENDER_FORM.search(line):
                    found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert found == [], "\n".join(found)
