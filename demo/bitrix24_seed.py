"""Demo dataset for the portal emulator: one company (ours) with two departments and their heads, client
companies with requisites, contacts with e-mails, and deals.

Requisite numbers are fictional but carry valid check digits, so INN/OGRN validation in the server can be
exercised against them. E-mails use the reserved `.example` domain.
"""

from __future__ import annotations

from typing import Any


def inn10(first9: str) -> str:
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    check = sum(int(d) * w for d, w in zip(first9, weights, strict=True)) % 11 % 10
    return first9 + str(check)


def inn12(first10: str) -> str:
    w11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    d11 = sum(int(d) * w for d, w in zip(first10, w11, strict=True)) % 11 % 10
    first11 = first10 + str(d11)
    w12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    d12 = sum(int(d) * w for d, w in zip(first11, w12, strict=True)) % 11 % 10
    return first11 + str(d12)


def ogrn13(first12: str) -> str:
    return first12 + str(int(first12) % 11 % 10)


def ogrnip15(first14: str) -> str:
    return first14 + str(int(first14) % 13 % 10)


DEPARTMENTS: list[dict[str, Any]] = [
    {"ID": "1", "NAME": "ООО «Вектор»", "SORT": 500, "UF_HEAD": "1"},
    {"ID": "2", "NAME": "Отдел продаж", "SORT": 500, "PARENT": "1", "UF_HEAD": "2"},
    {"ID": "3", "NAME": "Бухгалтерия", "SORT": 500, "PARENT": "1", "UF_HEAD": "5"},
    {"ID": "4", "NAME": "Группа продаж «Север»", "SORT": 500, "PARENT": "2", "UF_HEAD": "3"},
]

# (id, name, last name, second name, e-mail, position, departments, is admin)
_USERS = [
    (1, "Андрей", "Соколов", "Викторович", "director@vector.example", "Генеральный директор", [1], True),
    (2, "Мария", "Кузнецова", "Андреевна", "m.kuznetsova@vector.example", "Руководитель отдела продаж", [2], False),
    (3, "Игорь", "Волков", "Сергеевич", "i.volkov@vector.example", "Руководитель группы продаж", [4], False),
    (4, "Ольга", "Морозова", "Ивановна", "o.morozova@vector.example", "Менеджер по продажам", [4], False),
    (5, "Елена", "Новикова", "Петровна", "e.novikova@vector.example", "Главный бухгалтер", [3], False),
    (6, "Павел", "Лебедев", "Олегович", "p.lebedev@vector.example", "Бухгалтер", [3], False),
    (7, "Сергей", "Попов", "Николаевич", "s.popov@vector.example", "Менеджер по продажам", [2], False),
]


def users() -> list[dict[str, Any]]:
    rows = []
    for uid, name, last, second, email, position, depts, admin in _USERS:
        rows.append(
            {
                "ID": str(uid),
                "ACTIVE": True,
                "NAME": name,
                "LAST_NAME": last,
                "SECOND_NAME": second,
                "EMAIL": email,
                "LAST_LOGIN": "2026-05-14T09:00:00+03:00",
                "DATE_REGISTER": "2024-01-15T00:00:00+03:00",
                "IS_ONLINE": "N",
                "TIME_ZONE": "",
                "PERSONAL_GENDER": "",
                "PERSONAL_BIRTHDAY": "",
                "WORK_POSITION": position,
                "WORK_PHONE": "",
                "UF_EMPLOYMENT_DATE": "",
                "UF_DEPARTMENT": depts,
                "USER_TYPE": "employee",
                "_ADMIN": admin,
            }
        )
    return rows


def _company(cid: int, title: str, my: bool, emails: list[tuple[str, str]]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ID": str(cid),
        "COMPANY_TYPE": "CUSTOMER" if not my else "",
        "TITLE": title,
        "LOGO": None,
        "LEAD_ID": None,
        "HAS_PHONE": "N",
        "HAS_EMAIL": "Y" if emails else "N",
        "HAS_IMOL": "N",
        "ASSIGNED_BY_ID": "2",
        "CREATED_BY_ID": "1",
        "MODIFY_BY_ID": "1",
        "BANKING_DETAILS": None,
        "INDUSTRY": "OTHER",
        "REVENUE": "0",
        "CURRENCY_ID": "RUB",
        "EMPLOYEES": "EMPLOYEES_1",
        "COMMENTS": "",
        "DATE_CREATE": "2025-03-11T16:36:46+03:00",
        "DATE_MODIFY": "2026-04-01T16:08:08+03:00",
        "OPENED": "Y",
        "IS_MY_COMPANY": "Y" if my else "N",
        "ORIGINATOR_ID": None,
        "ORIGIN_ID": None,
        "ADDRESS": None,
        "UTM_SOURCE": None,
    }
    if emails:
        row["EMAIL"] = [
            {"ID": str(1000 + cid * 10 + i), "VALUE_TYPE": kind, "VALUE": value, "TYPE_ID": "EMAIL"}
            for i, (kind, value) in enumerate(emails)
        ]
    return row


def companies() -> list[dict[str, Any]]:
    return [
        _company(1, "ООО «Вектор»", True, [("WORK", "office@vector.example")]),
        _company(2, "ООО «Альфа-Поставка»", False, [("WORK", "info@alfa-postavka.example")]),
        _company(
            3,
            "АО «Технопарк Восток»",
            False,
            [("WORK", "edo@technopark-vostok.example"), ("MAILING", "news@technopark-vostok.example")],
        ),
        _company(4, "ИП Смирнов Алексей Петрович", False, []),
    ]


def requisites() -> list[dict[str, Any]]:
    def req(rid: int, company: int, preset: int, name: str, **rq: str) -> dict[str, Any]:
        base = {
            "ID": str(rid),
            "ENTITY_TYPE_ID": "4",
            "ENTITY_ID": str(company),
            "PRESET_ID": str(preset),
            "NAME": name,
            "ACTIVE": "Y",
            "SORT": "500",
            "XML_ID": None,
            "RQ_INN": "",
            "RQ_KPP": "",
            "RQ_OGRN": "",
            "RQ_OGRNIP": "",
            "RQ_COMPANY_NAME": "",
            "RQ_COMPANY_FULL_NAME": "",
            "RQ_DIRECTOR": "",
            "RQ_EMAIL": "",
            "DATE_CREATE": "2025-03-11T16:40:00+03:00",
        }
        base.update(rq)
        return base

    return [
        req(
            1,
            1,
            1,
            "Организация",
            RQ_INN=inn10("770123456"),
            RQ_KPP="770101001",
            RQ_OGRN=ogrn13("102770012345"),
            RQ_COMPANY_NAME="ООО «Вектор»",
            RQ_COMPANY_FULL_NAME="Общество с ограниченной ответственностью «Вектор»",
            RQ_DIRECTOR="Соколов Андрей Викторович",
        ),
        req(
            2,
            2,
            1,
            "Организация",
            RQ_INN=inn10("500987654"),
            RQ_KPP="500101001",
            RQ_OGRN=ogrn13("115500098765"),
            RQ_COMPANY_NAME="ООО «Альфа-Поставка»",
            RQ_COMPANY_FULL_NAME="Общество с ограниченной ответственностью «Альфа-Поставка»",
            RQ_DIRECTOR="Орлов Дмитрий Сергеевич",
            RQ_EMAIL="info@alfa-postavka.example",
        ),
        req(
            3,
            3,
            1,
            "Организация",
            RQ_INN=inn10("250455667"),
            RQ_KPP="253601001",
            RQ_OGRN=ogrn13("120250004455"),
            RQ_COMPANY_NAME="АО «Технопарк Восток»",
            RQ_COMPANY_FULL_NAME="Акционерное общество «Технопарк Восток»",
            RQ_DIRECTOR="Фёдоров Николай Ильич",
        ),
        req(
            4,
            4,
            2,
            "ИП",
            RQ_INN=inn12("7712345678"),
            RQ_OGRNIP=ogrnip15("31977460012345"),
            RQ_COMPANY_NAME="ИП Смирнов А. П.",
            RQ_COMPANY_FULL_NAME="Индивидуальный предприниматель Смирнов Алексей Петрович",
        ),
    ]


def _contact(
    cid: int, name: str, last: str, second: str, post: str, company: int | None, emails: list[tuple[str, str]]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ID": str(cid),
        "POST": post,
        "COMMENTS": "",
        "HONORIFIC": None,
        "NAME": name,
        "SECOND_NAME": second,
        "LAST_NAME": last,
        "PHOTO": None,
        "LEAD_ID": None,
        "TYPE_ID": "CLIENT",
        "SOURCE_ID": "CALL",
        "SOURCE_DESCRIPTION": None,
        "COMPANY_ID": str(company) if company else None,
        "BIRTHDATE": "",
        "EXPORT": "Y",
        "HAS_PHONE": "N",
        "HAS_EMAIL": "Y" if emails else "N",
        "HAS_IMOL": "N",
        "DATE_CREATE": "2025-04-02T10:38:21+03:00",
        "DATE_MODIFY": "2026-04-02T10:38:21+03:00",
        "ASSIGNED_BY_ID": "4",
        "CREATED_BY_ID": "1",
        "MODIFY_BY_ID": "1",
        "OPENED": "Y",
    }
    if emails:
        row["EMAIL"] = [
            {"ID": str(2000 + cid * 10 + i), "VALUE_TYPE": kind, "VALUE": value, "TYPE_ID": "EMAIL"}
            for i, (kind, value) in enumerate(emails)
        ]
    return row


def contacts() -> list[dict[str, Any]]:
    return [
        _contact(
            1, "Дмитрий", "Орлов", "Сергеевич", "Генеральный директор", 2, [("WORK", "d.orlov@alfa-postavka.example")]
        ),
        _contact(
            2,
            "Анна",
            "Белова",
            "Игоревна",
            "Менеджер по закупкам",
            2,
            [("WORK", "a.belova@alfa-postavka.example"), ("HOME", "anna.belova@mail.example")],
        ),
        _contact(
            3, "Николай", "Фёдоров", "Ильич", "Генеральный директор", 3, [("WORK", "fedorov@technopark-vostok.example")]
        ),
        _contact(
            4,
            "Алексей",
            "Смирнов",
            "Петрович",
            "Индивидуальный предприниматель",
            4,
            [("WORK", "smirnov.ip@mail.example")],
        ),
        _contact(5, "Татьяна", "Зайцева", "Романовна", "", None, [("HOME", "t.zaitseva@mail.example")]),
    ]


def _deal(
    did: int,
    title: str,
    company: int | None,
    contact_ids: list[int],
    assigned: int,
    amount: str,
    stage: str = "PREPARATION",
) -> dict[str, Any]:
    return {
        "ID": str(did),
        "TITLE": title,
        "TYPE_ID": "SALE",
        "STAGE_ID": stage,
        "PROBABILITY": None,
        "CURRENCY_ID": "RUB",
        "OPPORTUNITY": amount,
        "IS_MANUAL_OPPORTUNITY": "N",
        "TAX_VALUE": "0.00",
        "LEAD_ID": None,
        "COMPANY_ID": str(company) if company else "0",
        "CONTACT_ID": str(contact_ids[0]) if contact_ids else None,
        "QUOTE_ID": None,
        "BEGINDATE": "2026-04-01T03:00:00+03:00",
        "CLOSEDATE": "2026-06-30T03:00:00+03:00",
        "ASSIGNED_BY_ID": str(assigned),
        "CREATED_BY_ID": str(assigned),
        "MODIFY_BY_ID": str(assigned),
        "DATE_CREATE": "2026-04-01T12:00:00+03:00",
        "DATE_MODIFY": "2026-04-20T12:00:00+03:00",
        "OPENED": "Y",
        "CLOSED": "N",
        "COMMENTS": "",
        "ADDITIONAL_INFO": None,
        "LOCATION_ID": None,
        "CATEGORY_ID": "0",
        "STAGE_SEMANTIC_ID": "P",
        "IS_NEW": "N",
        "IS_RECURRING": "N",
        "IS_RETURN_CUSTOMER": "N",
        "IS_REPEATED_APPROACH": "N",
        "SOURCE_ID": "CALL",
        "SOURCE_DESCRIPTION": None,
        "ORIGINATOR_ID": None,
        "ORIGIN_ID": None,
        "MOVED_BY_ID": str(assigned),
        "MOVED_TIME": "2026-04-01T12:00:00+03:00",
        "LAST_ACTIVITY_TIME": "2026-04-20T12:00:00+03:00",
        "UTM_SOURCE": None,
        "UTM_MEDIUM": None,
        "UTM_CAMPAIGN": None,
        "UTM_CONTENT": None,
        "UTM_TERM": None,
        "LAST_ACTIVITY_BY": str(assigned),
        "_CONTACT_IDS": contact_ids,
    }


def deals() -> list[dict[str, Any]]:
    return [
        _deal(1, "Поставка серверного оборудования", 2, [1, 2], 4, "1850000.00"),
        _deal(2, "Договор на техническое обслуживание", 3, [3], 3, "420000.00", "EXECUTING"),
        _deal(3, "Разработка корпоративного сайта", 4, [4], 7, "260000.00"),
        _deal(4, "Консультация по внедрению", None, [5], 2, "45000.00", "NEW"),
    ]


def company_contacts() -> dict[int, list[int]]:
    return {2: [1, 2], 3: [3], 4: [4]}
