"""Issue 13: the server's renderings of an accepted signature word its verdict as cades.verdicts does.

The counterparty's page, the portal's detail API (the page's JS shows its ``verdict``), the ZIP report and the
confirmation e-mail, for each case of tests/support/verdict_samples.py. Stored signatures were all accepted by
the workflow, so the revocation-unknown one reads as accepted under the ``warn`` policy, in its headline.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, cast

import jinja2
import msgspec
import pytest

from server.counterparty.exchange import refusal_message, summarise
from server.mail import messages
from server.paper.protocol import Protocol, ProtocolFile
from server.workflow.queries import verdict_of
from server.workflow.reports import Reports
from server.workflow.signatures import SignatureRefused
from tests.support import verdict_samples as samples

TEMPLATES = Path(__file__).resolve().parents[2] / "server" / "templates"
# "действительна" as a word of its own, not inside «недействительна».
CALLED_VALID = re.compile(r"(?<![Нн]е)(?<![Нн][Ее])[Дд][Ее][Йй][Сс][Тт][Вв][Ии][Тт][Ее][Лл][Ьь][Нн]")


def _json(case: str) -> str:
    return msgspec.json.encode(samples.result(case)).decode()


@pytest.mark.parametrize("case", samples.CASES)
def test_counterparty_page_signature(case: str) -> None:
    summary = summarise(7, "Договор.pdf", _json(case), "")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    html = env.get_template("public/signature.html").render(s=summary, base="/c/token")
    tone = samples.TONES[case]
    assert f'class="cp-badge cp-{tone}" data-verdict="{tone}"' in html
    assert summary.headline == samples.HEADLINES[case, True]
    if case == "valid":
        assert summary.status_text == "Подпись действительна" and "data-headline" not in html
        assert f"CRL {samples.CRL_URL}" in html and "по штампу времени" in summary.signing_time_note + html
    else:
        assert not CALLED_VALID.search(html), html
        assert f"<strong>{samples.HEADLINES[case, True]}</strong>" in html  # the headline, not small print
    if case == "indeterminate_revocation_unknown":
        assert summary.status_text == "Принята без проверки отзыва"
        assert "заявленное подписантом, не подтверждено штампом времени" in html
    if case == "invalid_revoked":
        assert (
            f"OCSP: служба {samples.OCSP_URL}" in html and "producedAt 12.03.2026 12:31:05 (МСК)" in html
        )  # the portal's zone (issue 15)


@pytest.mark.parametrize("case", samples.CASES)
def test_portal_detail_verdict(case: str) -> None:
    verdict = verdict_of(_json(case))
    assert verdict.tone == samples.TONES[case] and verdict.title == samples.HEADLINES[case, True]
    assert verdict.accepted_without_revocation == (case == "indeterminate_revocation_unknown")
    if case != "valid":
        assert not CALLED_VALID.search(verdict.short + verdict.title + verdict.text)


@pytest.mark.parametrize("case", samples.CASES)
def test_zip_report_page(case: str) -> None:
    reports = Reports(cast(Any, None), documents=cast(Any, None))
    protocol = Protocol(
        title="Договор поставки",
        files=[ProtocolFile(name="Договор.pdf", results=[samples.result(case)])],
        generated=samples.T0,
        accepted=True,
    )
    html = reports.render_page(protocol)
    tone = samples.TONES[case]
    assert f'<li class="tone-{tone}" data-verdict="{tone}">1. «Договор.pdf»: {samples.HEADLINES[case, True]}<p>' in html
    if case != "valid":
        assert not CALLED_VALID.search(html)
    if case == "valid":
        assert f"CRL {samples.CRL_URL}" in html and "thisUpdate 12.03.2026 11:00:00 (МСК)" in html  # the portal's zone


def _letter() -> messages.Letter:
    return messages.Letter(
        to="alfa@example.ru", to_name="ООО «Альфа»", sender="edo@vector.example", sender_company="ООО «Вектор»",
        author_name="Менеджер", title="Договор поставки", files=["Договор.pdf"], deadline="", link="https://x/c/t",
        outbox_id=1,
    )  # fmt: skip


@pytest.mark.parametrize("case", samples.CASES)
def test_confirmation_email(case: str) -> None:
    verdict = messages.SignatureVerdict.of("Договор.pdf", "Иванов Иван Иванович", samples.result(case))
    out = messages.render(messages.confirmation(_letter(), None, [verdict]))
    mail = message_from_bytes(out.data, policy=policy.default)
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]  # both parts exist: confirmation() writes them
    html = mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]  # both parts exist: confirmation() writes them
    title = samples.HEADLINES[case, True]
    if case == "valid":
        assert "ВНИМАНИЕ" not in text and title.lower() in text
    else:
        # Named up front, in the headline's words, before the list of results.
        assert f"ВНИМАНИЕ: подпись Иванов Иван Иванович (файл «Договор.pdf») — {title}: " in text
        assert text.index("ВНИМАНИЕ") < text.index("Результат проверки подписей")
        assert not CALLED_VALID.search(text) and not CALLED_VALID.search(html)


def test_counterparty_is_told_when_revocation_could_not_be_checked() -> None:
    """Under ``[trust] revocation = "require"`` an unknown revocation status refuses the upload: the page says
    what happened and what to do, not a code."""
    text = refusal_message(SignatureRefused("unverifiable", "x", {"reasons": ["revocation_unknown"]}))
    assert text.startswith("Не удалось проверить, не отозван ли сертификат") and "позже" in text
