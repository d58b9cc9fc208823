"""What each audit action means, in the words a person reads: the one vocabulary of the audit log's actions.

The log stores short codes (``document.sent``, ``agent.paired``); people read phrases. The document panel's history,
the auditor's log and its action filter all take their phrases from here (the pages get them through
:func:`for_pages`, rendered into the page as JSON), so a new ``audit.append(action=...)`` anywhere in the server
needs its phrase here: tests/workflow/test_audit_vocabulary.py finds every action the code writes and fails on
one without a phrase. The phrases start with what happened to what, so they read alike in a document's history
and in the log, where the object stands in a column of its own. This module imports nothing of ours.
"""

from __future__ import annotations

# In the order the pages list them in the action filter: a document's life first, then the channels around it.
PHRASES: dict[str, str] = {
    "document.created": "документ создан",
    "document.route_set": "маршрут изменён",
    "document.approval_set": "изменены согласующие и наблюдатели",
    "document.approval_requested": "документ отправлен на согласование",
    "document.approved": "документ согласован участником",
    "document.returned": "документ возвращён на доработку",
    "document.approval_completed": "согласование завершено",
    "document.sent": "документ отправлен на подпись",
    "document.reminded": "напоминание подписанту",
    "step.signed": "шаг маршрута подписан",
    "document.internal_completed": "документ подписан компанией",
    "document.completed": "документ подписан обеими сторонами",
    "document.rejected": "документ отклонён",
    "document.withdrawn": "документ отозван",
    "document.expired": "срок подписания истёк",
    "document.deleted": "черновик удалён",
    "document.version_created": "создана новая версия документа",
    "document.superseded": "документ заменён новой версией",
    "document.auto_reminded": "автоматическое напоминание подписанту о сроке",
    "document.exported": "выгружен пакет документа",
    "document.copy_exported": "выгружена копия с отметками об ЭП",
    "document.protocol_exported": "выгружен протокол проверки ЭП",
    "archive_check.started": "загружен архив для проверки подписей",
    "archive_check.finished": "проверка архива подписей завершена",
    "signature.accepted": "подпись принята",
    "signature.refused": "подпись отклонена проверкой",
    "job.created": "запрошена подпись",
    "job.moved": "изменён способ подписи",
    "job.cancelled": "подписант отменил подписание",
    "job.failed": "агент подписи не смог подписать",
    "job.done": "задание на подпись закрыто после привязки сертификата",
    "counterparty.link_issued": "ссылка на подпись отправлена контрагенту",
    "counterparty.link_revoked": "прежняя ссылка контрагента закрыта",
    "counterparty.email_sent": "письмо контрагенту доставлено",
    "counterparty.email_failed": "письмо контрагенту не доставлено",
    "counterparty.no_email": "нет адреса контрагента",
    "counterparty.reminder_queued": "напоминание контрагенту",
    "counterparty.signed": "контрагент подписал",
    "counterparty.cryptoarm_cancelled": "контрагент отменил подписание в КриптоАРМ ГОСТ",
    "cryptoarm.transaction": "открыт сеанс КриптоАРМ ГОСТ",
    "cryptoarm.completed": "подписи из КриптоАРМ ГОСТ получены",
    "cryptoarm.cancelled": "подписание в КриптоАРМ ГОСТ отменено",
    "cryptoarm.withdrawn": "сеанс КриптоАРМ ГОСТ закрыт пользователем",
    "certificate.registered": "сертификат привязан",
    "certificate.approved": "сертификат одобрен администратором",
    "certificate.refused": "сертификат не принят (отказ при привязке или администратором)",
    "certificate.revoked": "сертификат отозван администратором",
    "poa.uploaded": "загружена машиночитаемая доверенность (МЧД)",
    "poa.removed": "машиночитаемая доверенность (МЧД) удалена",
    "agent.pairing_code": "выдан код подключения агента подписи",
    "agent.paired": "агент подписи подключён",
    "agent.revoked": "агент подписи отключён",
    "access.denied": "отказ в доступе",
    "portal.installed": "приложение установлено на портале",
    "portal.install_problems": "установка на портале с замечаниями",
    "portal.install_rejected": "установка на портале отклонена",
    "portal.uninstall_rejected": "запрос на удаление приложения отклонён",
    "portal.disabled": "портал отключён",
    "placement.rejected": "открытие страницы из портала отклонено",
    "event.rejected": "событие портала отклонено",
    "robot.called": "робот KlikDok запущен в CRM",
    "robot.refused": "робот KlikDok не выполнен: ошибка в его настройках",
    "robot.rejected": "вызов робота KlikDok отклонён (не от портала)",
    "robot.answer_refused": "портал не принял ответ робота KlikDok",
    "trust.list_imported": "загружен список аккредитованных УЦ",
    "trust.root_added": "добавлен доверенный корневой сертификат",
    "trust.root_removed": "удалён доверенный корневой сертификат",
    "trust.refresh_requested": "запрошено обновление списков отзыва",
    "server.start": "сервер KlikDok запущен",
}


def phrase(action: str) -> str:
    """The action's phrase; a code nobody described (an old row, a newer server's row) is shown as it is."""
    return PHRASES.get(action, action)


def for_pages() -> list[dict[str, str]]:
    """The vocabulary as the pages read it (``<script id="kd-audit-actions">``), in the filter's order."""
    return [{"value": code, "label": label} for code, label in PHRASES.items()]
