"""README's Performance table is generated from ``make bench``'s figures (issue 19): a goal is marked met or not met
by its own rule, an unmeasured one is said to be unmeasured, and the README keeps the section the generator fills."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.goals import GOALS, rows
from benchmarks.readme import BEGIN, END, ROOT, update


def test_each_goal_is_judged_by_its_rule_and_the_section_is_replaced(tmp_path: Path) -> None:
    results = {
        "hash_file_256mib": 1.0,  # ours 1.0 s against openssl's 0.9 s: 0.90x the throughput, under 0.97
        "openssl_dgst_256mib": 0.9,
        "verify CAdES-BES 100kB: cades.verify_cms": 0.0011,  # 1.1x the time of CMS_verify, within 1.2
        "verify CAdES-BES 100kB: OpenSSL CMS_verify (ctypes)": 0.001,
        "cli start: klikdok hash (3-byte file)": 0.100,  # 60 ms over python -c pass, within 80 ms
        "cli start: python -c pass": 0.040,
    }
    by_what = {str(r["what"]): r for r in rows(results, 2)}
    assert by_what[GOALS[0].what]["met"] is False and by_what[GOALS[0].what]["value_text"] == "0.90x"
    cms = next(r for r in rows(results, 2) if str(r["what"]).startswith("verify one detached"))
    assert cms["met"] is True and cms["value_text"] == "1.10x its time" and cms["target_text"] == "≤ 1.2x"
    start = next(r for r in rows(results, 2) if str(r["what"]).startswith("`klikdok hash` start"))
    assert start["met"] is True and start["value_text"] == "+60 ms"

    figures = tmp_path / "results.json"
    machine = {"date": "2026-12-07", "cores": 2, "cpu": "Test CPU", "python": "3.11", "openssl": "OpenSSL 3.0"}
    figures.write_text(json.dumps({"machine": machine, "results": results, "notes": []}))
    readme = tmp_path / "README.md"
    readme.write_text(f"# X\n\n## Performance\n\n{BEGIN}\nold hand-typed table\n{END}\n\nprose stays\n")
    update(readme, figures)
    text = readme.read_text()
    assert "old hand-typed table" not in text and "prose stays" in text
    assert "2026-12-07: 2 cores (Test CPU)" in text
    assert "Not met in this run: `hash_file`" in text and "Not measured in this run:" in text


def test_the_readme_has_the_generated_section() -> None:
    text = (ROOT / "README.md").read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1 and text.index(BEGIN) < text.index(END)
