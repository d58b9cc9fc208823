"""Issue 13: every rendering of a verdict says exactly what was checked (cades.verdicts, cades.report).

The results are built directly (tests/support/verdict_samples.py); the CLI's end-to-end cases with real
signatures are in test_verify_cli.py.
"""

from __future__ import annotations

import json
import re

import pytest

from cades import verdicts
from cades.report import render_html, render_json, render_text
from cades.result import REASONS
from tests.support import verdict_samples as samples


@pytest.mark.parametrize("accepted", [False, True])
@pytest.mark.parametrize("case", samples.CASES)
def test_text_report_starts_with_the_headline(case: str, accepted: bool) -> None:
    text = render_text(samples.result(case), document="договор.pdf", accepted=accepted)
    first = text.splitlines()[0]
    assert first.startswith(samples.HEADLINES[case, accepted] + ": "), first
    if case != "valid":
        assert "ДЕЙСТВИТЕЛЬНА" not in text.replace("НЕДЕЙСТВИТЕЛЬНА", "") and "действительна" not in text


def test_accepted_under_warn_says_so_in_the_headline() -> None:
    first = render_text(samples.result("indeterminate_revocation_unknown"), accepted=True).splitlines()[0]
    assert first == (
        "ПОДПИСЬ ПРИНЯТА БЕЗ ПРОВЕРКИ ОТЗЫВА: подпись математически верна, сертификат действовал, но статус отзыва "
        "сертификата проверить не удалось; подпись принята по правилу организации, разрешающему приём без "
        "проверки отзыва"
    )


@pytest.mark.parametrize("accepted", [False, True])
@pytest.mark.parametrize("case", samples.CASES)
def test_html_report_headline_and_colour(case: str, accepted: bool) -> None:
    html = render_html(samples.result(case), document="договор.pdf", accepted=accepted)
    tone = samples.TONES[case]
    assert f'<div class="headline tone-{tone}" data-verdict="{tone}">{samples.HEADLINES[case, accepted]}<p>' in html
    if case != "valid":
        assert not re.search(r'class="[^"]*tone-valid', html)
        assert "ДЕЙСТВИТЕЛЬНА" not in html.replace("НЕДЕЙСТВИТЕЛЬНА", "")


@pytest.mark.parametrize("case", samples.CASES)
def test_json_report_carries_the_headline(case: str) -> None:
    data = json.loads(render_json(samples.result(case)))
    head = data["headline"]
    assert head["title"] == samples.HEADLINES[case, False] and head["tone"] == samples.TONES[case]
    assert data["signatures"][0]["headline"] == head
    assert (
        head["sub_indication"]
        == {
            "valid": "",
            "invalid_revoked": "REVOKED",
            "indeterminate_revocation_unknown": "TRY_LATER",
            "indeterminate_untrusted_root": "NO_CERTIFICATE_CHAIN_FOUND",
        }[case]
    )


def test_reports_name_the_revocation_source_and_the_time_source() -> None:
    valid = render_text(samples.result("valid"))
    assert (
        f"Отзыв сертификата: не отозван — по данным: CRL {samples.CRL_URL}, издатель {samples.ISSUER}, "
        "thisUpdate 12.03.2026 08:00:00 UTC, nextUpdate 19.03.2026 08:00:00 UTC, загружен при проверке"
    ) in valid
    assert "Время подписания: 12.03.2026 09:30:00 UTC — по штампу времени (CAdES-T), доверенное" in valid
    revoked = render_html(samples.result("invalid_revoked"))
    assert f"OCSP: служба {samples.OCSP_URL}, ответ подписан C=RU, CN=Test OCSP Responder" in revoked
    assert "producedAt 12.03.2026 09:31:05 UTC" in revoked
    assert "заявленное подписантом, не подтверждено штампом времени" in revoked
    # The issuing CA's own revocation status is named too, per chain entry.
    assert f"отзыв: не отозван — по данным: CRL {samples.CRL_URL}" in valid


def test_valid_without_a_revocation_check_is_not_called_valid() -> None:
    sig = samples.signature("valid")
    assert sig.certificate is not None
    sig.certificate.revocation = "not_checked"
    sig.certificate.revocation_source = None
    head = verdicts.signature_headline(sig)
    assert head.tone == "indeterminate" and head.title == "ПОДПИСЬ ВЕРНА, ОТЗЫВ НЕ ПРОВЕРЯЛСЯ"
    assert verdicts.exit_code(head) == 3


def test_every_reason_code_has_a_sub_indication() -> None:
    assert set(REASONS) == set(verdicts.SUB_INDICATIONS)
    assert verdicts.EXIT_CODES == {"valid": 0, "invalid": 1, "indeterminate": 3}


def test_several_signatures_the_worst_leads() -> None:
    good, bad = samples.signature("valid"), samples.signature("indeterminate_untrusted_root")
    bad.index = 1
    result = samples.result("valid")
    result.signatures = [good, bad]
    result.status = "indeterminate"
    head = verdicts.document_headline(result)
    assert head.tone == "indeterminate" and head.title.endswith("(подпись № 2 из 2)")
