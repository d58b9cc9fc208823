"""``klikdok-agent certs`` shows a certificate the way a signer recognises it, whatever the backend reports."""

from __future__ import annotations

from agent.backends.base import CertificateInfo
from agent.backends.cryptcp import parse_certmgr
from agent.certview import describe, subject_fields
from tests.agent.test_backends import CERTMGR_OUTPUT


def test_english_russian_and_oid_labels_give_the_same_fields() -> None:
    english = subject_fields("CN=Иванов Иван, SN=Иванов, G=Иван Иванович, INN=771234567890, SNILS=12345678901")
    russian = subject_fields("CN=Иванов Иван, SN=Иванов, G=Иван Иванович, ИНН=771234567890, СНИЛС=12345678901")
    oids = subject_fields(
        "CN=Иванов Иван, SN=Иванов, G=Иван Иванович, OID.1.2.643.3.131.1.1=771234567890, 1.2.643.100.3=12345678901"
    )
    assert english == russian == oids
    assert english["snils"] == "12345678901" and english["inn"] == "771234567890"


def test_quoted_organisation_with_a_comma_stays_whole() -> None:
    fields = subject_fields('O="ООО ""Ромашка"", филиал", CN=Петров, ИНН ЮЛ=7712345678, ОГРН=1027700000001')
    assert fields["organization"] == 'ООО "Ромашка", филиал'
    assert fields["innle"] == "7712345678" and fields["ogrn"] == "1027700000001"


def test_a_cryptopro_listing_reads_in_russian() -> None:
    first, second = parse_certmgr(CERTMGR_OUTPUT)
    lines = describe(first, 1)
    assert lines[0] == "1. Соколов Андрей Викторович — ООО «Вектор»"
    assert lines[1].strip() == "СНИЛС 123-456-789 01"
    assert "Действует с 14/10/2025 до 14/01/2027" in lines[2] and "издатель: Test GOST Issuing CA" in lines[2]
    assert lines[3].strip() == "Отпечаток: 046255290b0eb1cdd1797d9ab8c81f699e3687f3"
    assert describe(second)[-1].endswith("(закрытого ключа нет)")
    assert not any("SNILS" in line or "Subject" in line for line in lines)


def test_fields_from_the_certificate_win_over_the_subject_line() -> None:
    cert = CertificateInfo(
        subject="CN=что-то другое",
        issuer="CN=УЦ",
        serial="1",
        not_after="2027-01-01T00:00:00+00:00",
        thumbprint="ab" * 20,
        fields={"surname": "Смирнова", "given_name": "Анна Петровна", "inn": "500100732259"},
    )
    assert describe(cert)[:2] == ["Смирнова Анна Петровна", "ИНН 500100732259"]
