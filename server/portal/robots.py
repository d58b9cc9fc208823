"""KlikDok's two automation robots as the portal registers them (``bizproc.robot.add``), registered at install.

Why here: the install (:mod:`server.portal.service`) registers them, and what a robot is called, which
properties it asks for and which values it returns are one contract with the automation rules admins build on
the portal: :mod:`server.workflow.robots` reads the same names when a robot runs.

A re-install must not register a robot twice (the portal refuses a code it has, ``ERROR_ACTIVITY_ALREADY_INSTALLED``)
and must not delete one: an automation rule that uses a robot keeps its settings only while the robot stays
registered. So the install lists the application's robots (``bizproc.robot.list``, which has no published
schema: its page is api-reference/bizproc/bizproc-robot/bizproc-robot-list.md, the answer is the list of the
application's robot codes) and adds only the missing ones.
"""

from __future__ import annotations

from typing import Any

from server.bitrix24 import Bitrix24Client, Bitrix24Error
from server.db import Database, audit
from server.portal import store

SEND = "klikdok_send"
WAIT = "klikdok_wait"
HANDLER_PATH = "/b24/robot"

# The outcomes the wait robot reports (RETURN_VALUES.outcome); an automation branches on them.
SIGNED, REJECTED, EXPIRED, WITHDRAWN = "signed", "rejected", "expired", "withdrawn"
OUTCOME_LABELS = {
    SIGNED: "Подписан обеими сторонами",
    REJECTED: "Отклонён",
    EXPIRED: "Срок подписи истёк",
    WITHDRAWN: "Отозван автором",
}

# Where the robots are offered: deal and company automation (the cards KlikDok has a tab on).
_FILTER = {"INCLUDE": [["crm", "CCrmDocumentDeal"], ["crm", "CCrmDocumentCompany"]]}


def _prop(name: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Type": type_, **extra}


def definitions(handler: str, auth_user_id: int | None) -> list[dict[str, Any]]:
    """The ``bizproc.robot.add`` parameters of both robots (``handler``: the server's /b24/robot address)."""
    common: dict[str, Any] = {"HANDLER": handler, "USE_SUBSCRIPTION": "Y", "FILTER": _FILTER}
    if auth_user_id:
        common["AUTH_USER_ID"] = auth_user_id
    send = {
        "CODE": SEND,
        "NAME": {"ru": "KlikDok: отправить на подпись", "en": "KlikDok: send for signing"},
        "DESCRIPTION": {
            "ru": "Отправляет последний черновик документа KlikDok в карточке (или указанный) по маршруту подписантов "
            "и контрагенту; отвечает номером документа и ссылкой, когда документ отправлен.",
            "en": "Sends the card's latest KlikDok draft (or the given one) to the signers and the counterparty.",
        },
        "PROPERTIES": {
            "signers": _prop("Подписанты от компании (по порядку)", "user", Multiple="Y", Required="Y"),
            "email": _prop("E-mail контрагента (пусто — из карточки CRM)", "string"),
            "document": _prop("Номер документа KlikDok (пусто — последний черновик карточки)", "int"),
            "template_id": _prop("Шаблон документа Битрикс24 (номер)", "int"),
        },
        "RETURN_PROPERTIES": {
            "document_id": _prop("Номер документа KlikDok", "int"),
            "link": _prop("Ссылка на документ", "string"),
            "error": _prop("Ошибка", "string"),
        },
        **common,
    }
    wait = {
        "CODE": WAIT,
        "NAME": {"ru": "KlikDok: ждать подписания", "en": "KlikDok: wait for signing"},
        "DESCRIPTION": {
            "ru": "Ждёт, пока документ KlikDok подпишут, отклонят или истечёт срок подписи, и сообщает итог.",
            "en": "Waits until the KlikDok document is signed, rejected or expires and reports the outcome.",
        },
        "PROPERTIES": {
            "document": _prop("Номер документа KlikDok (пусто — последний отправленный в карточке)", "int"),
        },
        "RETURN_PROPERTIES": {
            "outcome": _prop("Итог", "select", Options=OUTCOME_LABELS),
            "reason": _prop("Причина отказа", "string"),
            "document_id": _prop("Номер документа KlikDok", "int"),
            "error": _prop("Ошибка", "string"),
        },
        **common,
    }
    return [send, wait]


async def register(client: Bitrix24Client, public_url: str, *, auth_user_id: int | None) -> list[str]:
    """Add the robots the portal does not have yet; returns the problems (empty when all is well)."""
    problems: list[str] = []
    try:
        listed = await client.call("bizproc.robot.list")
        present = {str(c) for c in listed} if isinstance(listed, list) else set()
    except Bitrix24Error as exc:
        # Without the list, add all: a robot that exists answers ALREADY_INSTALLED, which is fine.
        problems_if_add_fails = f"bizproc.robot.list: {exc.code}"
        present = set()
    else:
        problems_if_add_fails = ""
    for params in definitions(f"{public_url.rstrip('/')}{HANDLER_PATH}", auth_user_id):
        if params["CODE"] in present:
            continue
        try:
            await client.call("bizproc.robot.add", params)
        except Bitrix24Error as exc:
            if "ALREADY_INSTALLED" in exc.code.upper():
                continue
            problems.append(f"bizproc.robot.add {params['CODE']}: {exc.code} {exc.description}".strip())
    if problems and problems_if_add_fails:
        problems.insert(0, problems_if_add_fails)
    return problems


async def verify_call(db: Database, form: dict[str, Any], *, client_ip: str) -> bool:
    """Whether a robot call comes from the installed portal: its ``auth`` carries the member_id and the
    application token the install stored (as every event the portal sends does; a robot call carries no other
    proof KlikDok can check without calling the portal back). A refusal is audited (``robot.rejected``)."""
    given = form.get("auth")
    auth: dict[str, Any] = given if isinstance(given, dict) else {}
    member_id = str(auth.get("member_id") or "")
    token = str(auth.get("application_token") or "")
    portal = await db.read(lambda d: store.get(d, member_id)) if member_id else None
    if portal is not None and portal.enabled and store.application_token_matches(portal, token):
        return True
    code = str(form.get("code") or "")[:64]
    reason = "unknown_portal" if portal is None or not portal.enabled else "application_token_mismatch"
    await db.write(
        lambda d: audit.append(
            d,
            actor=f"ip:{client_ip}",
            action="robot.rejected",
            object_type="portal",
            object_id=member_id[:64],
            details={"code": code, "reason": reason},
        )
    )
    return False
