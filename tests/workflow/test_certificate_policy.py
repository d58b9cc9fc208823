"""The onboarding rule on its own (server/workflow/certificate_policy.py): names, ИНН, renewal, dates."""

from __future__ import annotations

import datetime as dt

from server.bitrix24 import User
from server.workflow.certificate_policy import decide, validity_problem
from server.workflow.certificate_status import CertStatus

OWN = frozenset({"7701234560"})


def user(last: str, name: str, second: str = "") -> User:
    return User(
        id=3, name=name, last_name=last, second_name=second, email="", active=True, work_position="", departments=[]
    )


def cert(**fields: str) -> dict[str, str]:
    return {"innle": "7701234560", **fields}


def test_names_fold_case_yo_and_spaces_and_compare_the_patronymic_only_when_both_have_one() -> None:
    fyodor = user("Семёнов", "Фёдор", "Петрович")
    for identity in (
        cert(surname="СЕМЕНОВ", given_name="федор  петрович"),
        cert(common_name="Семенов Федор Петрович"),
        cert(common_name="  Семёнов   Фёдор "),
    ):
        assert decide(identity, user=fyodor, company_inns=OWN, renewal=False).status == CertStatus.ACTIVE
    assert decide(cert(surname="Семенов", given_name="Фёдор"), user=user("Семенов", "Фёдор"), company_inns=OWN,
                  renewal=False).status == CertStatus.ACTIVE  # fmt: skip
    wrong = decide(cert(surname="Семёнов", given_name="Фёдор Павлович"), user=fyodor, company_inns=OWN, renewal=False)
    assert wrong.status == CertStatus.PENDING and "Семёнов Фёдор Павлович" in wrong.why_pending
    assert "ИНН" not in wrong.why_pending


def test_the_organisation_inn_an_ip_and_the_renewal() -> None:
    ivanov = user("Иванов", "Иван", "Иванович")
    other = decide(cert(innle="7707083893", common_name="Иванов Иван Иванович"), user=ivanov, company_inns=OWN,
                   renewal=False)  # fmt: skip
    assert (
        other.status == CertStatus.PENDING and "7707083893" in other.why_pending and "7701234560" in other.why_pending
    )
    ip = {"inn": "500100732259", "ogrnip": "304500116000157", "common_name": "Иванов Иван Иванович"}
    assert decide(ip, user=ivanov, company_inns=frozenset({"500100732259"}), renewal=False).status == CertStatus.ACTIVE
    assert decide(cert(innle="1"), user=None, company_inns=OWN, renewal=True).status == CertStatus.ACTIVE
    down = decide(cert(common_name="Иванов Иван"), user=None, company_inns=frozenset(), renewal=False,
                  portal_problem="Портал не ответил")  # fmt: skip
    assert down.status == CertStatus.PENDING and down.why_pending == "Портал не ответил"
    unknown = decide(cert(common_name="Иванов Иван"), user=ivanov, company_inns=frozenset(), renewal=False)
    assert unknown.status == CertStatus.PENDING and "company_inn" in unknown.why_pending


def test_validity_dates() -> None:
    now = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    day = dt.timedelta(days=1)
    assert validity_problem(now - day, now + day, now) is None
    assert "истёк 06.12.2026" in str(validity_problem(now - 2 * day, now - day, now))
    assert "08.12.2026" in str(validity_problem(now + day, now + 2 * day, now))
