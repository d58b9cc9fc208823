"""Who may see and do what.

- authors and route members see their documents; the author manages them (route, send, remind, withdraw, delete);
- a draft is the author's alone: nobody else (signers named on it, heads, auditors) sees it until it is sent;
- a department head sees every document of the departments they head and of everything below them (the tree and
  ``UF_HEAD`` come from Bitrix24's ``department.get``);
- auditors (``[policy] auditor_user_ids`` or members of ``auditor_group_id``) see everything, read-only;
- anyone who may read a CRM card on the portal (its responsible person, its observers, whoever the CRM's roles let
  read it) sees the card's sent documents, read-only: ``readable_cards`` holds the cards the portal said yes to
  (asked with the user's own token by :mod:`server.workflow.card_access`); no action comes from it;
- only the signer of the current step signs or rejects (checked again inside the transaction).
- only the signer of the current step signs or rejects (checked again inside the transaction);
- approvers and observers (issue 17, :mod:`.approval`) see the document once it is sent, read-only; only an
  approver whose turn it is approves or returns it (checked again inside the transaction).
Every refusal is a :class:`PermissionDenied` (HTTP 403) that the API audits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .approval_store import PARTICIPANT_SQL
from .docstate import DocState, sql_in
from .model import DocumentRow
from .store import Scope

AUTHOR_ACTIONS = ("route", "send", "remind", "withdraw", "delete", "new_version")
# Who may use the app page's sections that are not everyone's: said on the page in place of a section the viewer
# may not use (a link or a bookmark may still lead there) and in the API's refusal of its list.
DEPARTMENT_NOTE = "Этот раздел доступен руководителям подразделений и аудиторам."
AUDIT_NOTE = "Этот раздел доступен только аудиторам."
# States nobody but the author sees (a draft), for the scope's SQL.
_MARKS, _AUTHOR_ONLY = sql_in(frozenset(s for s in DocState if s.info.author_only))


class PermissionDenied(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Viewer:
    user_id: int
    auditor: bool = False
    managed_departments: frozenset[int] = field(default_factory=frozenset)
    readable_cards: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    """CRM cards (kind code, id) the portal lets this user read: their documents are visible, read-only."""

    def with_cards(self, cards: frozenset[tuple[str, int]]) -> Viewer:
        return replace(self, readable_cards=self.readable_cards | cards)

    @property
    def is_head(self) -> bool:
        return bool(self.managed_departments)

    @property
    def sees_departments(self) -> bool:
        """«Отдел»: a head sees the departments they head, an auditor every department."""
        return self.is_head or self.auditor

    def require_departments(self) -> None:
        if not self.sees_departments:
            raise PermissionDenied("not_head", DEPARTMENT_NOTE)

    def require_auditor(self) -> None:
        if not self.auditor:
            raise PermissionDenied("not_auditor", AUDIT_NOTE)

    def section_notes(self) -> dict[str, str]:
        """The app page's sections this viewer may not use, each with the note shown in its place."""
        notes = {}
        if not self.sees_departments:
            notes["department"] = DEPARTMENT_NOTE
        if not self.auditor:
            notes["audit"] = AUDIT_NOTE
        return notes

    def scope(self) -> Scope:
        """The SQL condition on ``documents d`` for what this viewer may see."""
        if self.auditor:
            return Scope(f"d.author_id = ? OR d.state NOT IN {_MARKS}", [self.user_id, *_AUTHOR_ONLY])
        parts = ["d.id IN (SELECT document_id FROM route_steps WHERE user_id = ?)", PARTICIPANT_SQL]
        params: list[Any] = [self.user_id, self.user_id, self.user_id]
        if self.managed_departments:
            depts = sorted(self.managed_departments)
            parts.append(f"d.department_id IN ({','.join('?' * len(depts))})")
            params += depts
        for code in sorted({code for code, _ in self.readable_cards}):
            ids = sorted(i for c, i in self.readable_cards if c == code)
            parts.append(f"(d.entity_type = ? AND d.entity_id IN ({','.join('?' * len(ids))}))")
            params += [code, *ids]
        return Scope(
            f"d.author_id = ? OR (d.state NOT IN {_MARKS} AND ({' OR '.join(parts)}))",
            [self.user_id, *_AUTHOR_ONLY, *params],
        )

    def can_view(self, doc: DocumentRow, route_member: bool, participant: bool = False) -> bool:
        """``participant``: an approver or an observer of the document (they read it, never act but approve)."""
        if doc.author_id == self.user_id:
            return True
        if doc.state.info.author_only:
            return False
        return (
            self.auditor
            or route_member
            or participant
            or doc.department_id in self.managed_departments
            or (doc.entity_type, doc.entity_id) in self.readable_cards
        )

    def require_view(self, doc: DocumentRow, route_member: bool, participant: bool = False) -> None:
        if not self.can_view(doc, route_member, participant):
            if doc.state.info.author_only:
                raise PermissionDenied(
                    "not_visible", "Документ ещё не отправлен на подпись: черновик виден только его автору."
                )
            raise PermissionDenied(
                "not_visible",
                "У вас нет доступа к этому документу: вы не автор, не подписант, не согласующий, не наблюдатель, "
                "не руководитель отдела автора, не аудитор и не можете открыть его карточку в CRM.",
            )

    def require_author(self, doc: DocumentRow, action: str) -> None:
        if doc.author_id != self.user_id:
            who = "Аудитор может только просматривать документы." if self.auditor else ""
            raise PermissionDenied(
                "not_author",
                f"Это действие ({action}) доступно только автору документа "
                f"({doc.author_name or doc.author_id}). {who}".strip(),
            )

    def require_current_signer(self, step_user_id: int | None, step_name: str) -> None:
        if step_user_id != self.user_id:
            raise PermissionDenied(
                "not_current_signer", f"Сейчас документ подписывает {step_name or 'другой участник'}, а не вы."
            )

    def actions(self, doc: DocumentRow, current_user_id: int | None, current_approver: bool = False) -> list[str]:
        """What the pages may offer for this document (``current_approver``: it is this viewer's turn to approve)."""
        can = ["download"]
        info = doc.state.info
        if doc.author_id == self.user_id:
            can += info.author_actions
        if info.actor == "internal" and current_user_id == self.user_id:
            can += info.signer_actions
        if info.actor == "approver" and current_approver:
            can += info.approver_actions
        return can
