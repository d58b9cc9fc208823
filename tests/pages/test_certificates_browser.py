"""«Мои сертификаты» and «Администрирование» in headless Chromium (issue 14): a certificate of another
organisation waits for the admin and the signer's list says so; the portal admin approves it on
«Администрирование» (and refuses another with a reason asked inline), and the signer's list then says «Действует».
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.pages.conftest import open_app_page, shot
from tests.support.openssl_pki import Issued
from tests.support.pki_fixtures import GostPki
from tests.workflow.conftest import DIRECTOR, GROUP_HEAD, OWN_INN, SALES_HEAD, Klikdok

pytestmark = pytest.mark.browser
OTHER_INN = "7707083893"
# A binding channel of the page hook (certificates.js) that only hands a registration's answer over.
TEST_CHANNEL = """
window.KlikDok = window.KlikDok || {};
window.KlikDok.bindChannels = window.KlikDok.bindChannels || [];
window.KlikDok.bindChannels.push({ key: "test", title: "Тестовый способ", render: function (box, onBound) {
  var b = document.createElement("button"); b.id = "kd-test-bind"; b.type = "button"; b.textContent = "Готово";
  b.addEventListener("click", function () {
    onBound({ status: "pending", message: "Сертификат привязан, но ждёт одобрения администратора." });
  });
  box.appendChild(b);
} });
"""


@pytest.fixture(scope="module")
def volkov_certs(gost_pki: GostPki) -> tuple[Issued, Issued]:
    """User 3's name on another organisation's certificate, and the company's with a wrong given name."""
    pki = gost_pki.pki
    elsewhere = pki.issue(
        gost_pki.inter,
        "page-volkov-else",
        subject=pki.subject(C="RU", O="ООО «Сторонняя»", SN="Волков", GN="Игорь Сергеевич", CN="Волков Игорь Сергеевич",
                            INNLE=OTHER_INN, SNILS="12121212121"),
    )  # fmt: skip
    misnamed = pki.issue(
        gost_pki.inter,
        "page-volkov-misnamed",
        subject=pki.subject(C="RU", O="ООО «Вектор»", SN="Волков", GN="Иван Сергеевич", CN="Волков Иван Сергеевич",
                            INNLE=OWN_INN, SNILS="13131313131"),
    )  # fmt: skip
    return elsewhere, misnamed


def row_status(page: Any, owner: str) -> str:
    return str(page.get_attribute(f"#kd-certificates tr.kd-cert:has-text('{owner}')", "data-status"))


def test_pending_certificate_is_approved_by_the_admin_on_the_page(
    kd: Klikdok, page: Any, volkov_certs: tuple[Issued, Issued]
) -> None:
    elsewhere, misnamed = volkov_certs
    page.add_init_script(TEST_CHANNEL)
    # Nothing bound yet: the list says how to bind, and each channel has its panel.
    open_app_page(page, kd, SALES_HEAD, "#certificates")
    page.wait_for_selector("#kd-certificates .kd-cert-empty")
    assert "Привяжите свой сертификат одним из способов ниже" in page.inner_text("#kd-certificates")
    assert "Тестовый способ" in page.inner_text("#kd-certificates .kd-cert-empty")
    page.wait_for_selector("#kd-bind .kd-bind-channel[data-channel='test'] #kd-test-bind")

    # The signer binds (the registration itself through the API here); the channel hands the answer over.
    open_app_page(page, kd, GROUP_HEAD, "#certificates")
    page.wait_for_selector("#kd-certificates .kd-cert-empty")
    assert kd.try_register_cert(GROUP_HEAD, elsewhere).json()["status"] == "pending"
    assert kd.try_register_cert(GROUP_HEAD, misnamed).json()["status"] == "pending"
    page.click("#kd-test-bind")
    page.wait_for_selector("#kd-bind-result .kd-bind-message[data-status='pending']")
    assert "ждёт одобрения администратора" in page.inner_text("#kd-bind-result")
    page.wait_for_selector("#kd-certificates tr.kd-cert[data-status='pending']")
    badges = page.locator("#kd-certificates .kd-cert-status").all_inner_texts()
    assert badges == ["Ждёт одобрения администратора"] * 2
    assert OTHER_INN in page.inner_text("#kd-certificates")  # the reason line says which ИНН did not match
    shot(page, "40-certificates-pending")

    # The admin: pending ones first, approve one, refuse the other with a reason asked on the page.
    open_app_page(page, kd, DIRECTOR, "#admin")
    page.wait_for_selector("#kd-admin-certificates tr.kd-cert[data-status='pending']")
    assert page.locator("#kd-admin-certificates tr.kd-cert").count() == 2
    (first,), (second,) = kd.query("SELECT id FROM signer_certificates WHERE user_id = ? ORDER BY id", GROUP_HEAD)
    elsewhere_row, misnamed_row = (f"#kd-admin-certificates tr.kd-cert[data-id='{i}']" for i in (first, second))
    page.click(f"{misnamed_row} .kd-refuse")
    page.click(f"{misnamed_row} .kd-confirm")  # no reason: asked for, nothing sent
    page.wait_for_selector(f"{misnamed_row} .kd-reason-error .kd-error")
    page.fill(f"{misnamed_row} textarea.kd-reason", "Сертификат выписан на другое имя")
    page.click(f"{misnamed_row} .kd-confirm")
    page.wait_for_selector(f"{misnamed_row}[data-status='refused']")
    page.click(f"{elsewhere_row} .kd-approve")
    page.wait_for_selector(f"{elsewhere_row}[data-status='active']")
    assert page.locator(f"{elsewhere_row} .kd-revoke").count() == 1
    shot(page, "41-admin-approved")
    actions = kd.query("SELECT action FROM audit_log WHERE action IN ('certificate.approved', 'certificate.refused')")
    assert actions == [("certificate.refused",), ("certificate.approved",)]

    open_app_page(page, kd, GROUP_HEAD, "#certificates")
    page.wait_for_selector("#kd-certificates tr.kd-cert[data-status='active']")
    assert row_status(page, "Волков Игорь Сергеевич") == "active"
    assert page.inner_text("#kd-certificates tr.kd-cert[data-status='active'] .kd-cert-status") == "Действует"
    assert "Причина: Сертификат выписан на другое имя" in page.inner_text("#kd-certificates")
    shot(page, "42-certificates-active")
