"""Who may read a CRM card, as the portal says with the user's own rights, and which cards a company rolls up.

Why this exists: documents follow the CRM's people. Anyone who may read a card (the deal's responsible person, its
observers, whoever the portal's CRM roles let read it) may see the card's documents read-only; the decision stays
in :class:`server.workflow.permissions.Viewer` (``readable_cards``), this module only brings the facts from the
portal. The check is the card's own `*.get` made with the user's token (the application's token is the installing
admin's and reads everything), and its yes or no is kept ``[crm] read_check_seconds`` per (user, card), so a list
does not cost a portal call per row and a revoked right stops counting within that time. Anything but a clear
answer (no token since the server started, the portal unreachable) counts as "no" and is not kept.

The company card's roll-up (its deals by COMPANY_ID and its contacts by crm.company.contact.items.get) is read
with the application's token and kept ``[crm] rollup_cache_seconds``: which documents belong to the company's
card is a fact about the CRM, not about the user; what the user may see of them is decided per card as above.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from server.bitrix24 import Bitrix24Error
from server.bitrix24.crm import CrmService, record_params
from server.bitrix24.entities import COMPANY, CONTACT, DEAL, UnknownKind, kind_of
from server.bitrix24.errors import AccessDenied, NotFound
from server.config import CrmSettings
from server.portal.service import NoUserToken, PortalService

from .directory import PortalDirectory, PortalMissing

log = logging.getLogger(__name__)
CACHE_LIMIT = 20000  # (user, card) answers kept at most; the oldest go first


@dataclass(frozen=True)
class Card:
    """One card of a roll-up: its kind's code, id and name («Сделка «Поставка»», «Контакт Орлов Дмитрий»)."""

    kind: str
    id: int
    title: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.id)


class CardAccess:
    def __init__(
        self,
        settings: CrmSettings,
        portal: PortalService,
        directory: PortalDirectory,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.portal = portal
        self.directory = directory
        self.clock = clock
        self._answers: dict[tuple[int, str, int], tuple[float, bool]] = {}
        self._rollups: dict[int, tuple[float, list[Card]]] = {}

    async def may_read(self, user_id: int, kind_code: str, entity_id: int) -> bool:
        """Whether the portal lets this user read the card (its `*.get` with their own token)."""
        key = (user_id, kind_code, entity_id)
        now = self.clock()
        kept = self._answers.get(key)
        if kept is not None and now - kept[0] < self.settings.read_check_seconds:
            return kept[1]
        try:
            kind = kind_of(kind_code)
        except UnknownKind:
            return False
        try:
            await self.portal.call_as_user(user_id, kind.get_method, record_params(kind, entity_id))
            answer = True
        except (AccessDenied, NotFound):
            answer = False
        except NoUserToken:
            return False
        except Bitrix24Error as exc:
            log.warning("cannot ask the portal who may read a card: %s", type(exc).__name__)
            return False
        if len(self._answers) >= CACHE_LIMIT:
            self._answers.clear()  # rare; simpler and safer than a stale answer kept past its time
        self._answers[key] = (now, answer)
        return answer

    async def readable(self, user_id: int, cards: Iterable[tuple[str, int]]) -> frozenset[tuple[str, int]]:
        found = set()
        for code, entity_id in cards:
            if await self.may_read(user_id, code, entity_id):
                found.add((code, entity_id))
        return frozenset(found)

    async def rollup(self, company_id: int) -> list[Card]:
        """The company's card itself, its deals (newest first) and its contacts, with their names."""
        now = self.clock()
        kept = self._rollups.get(company_id)
        if kept is not None and now - kept[0] < self.settings.rollup_cache_seconds:
            return kept[1]
        cards = [Card(COMPANY.code, company_id, COMPANY.label)]
        try:
            crm = CrmService(await self.directory.client())
            cards += [
                Card(DEAL.code, i, f"{DEAL.label} «{t}»" if t else f"{DEAL.label} №{i}")
                for i, t in await crm.company_deals(company_id)
                if i
            ]
            cards += [
                Card(CONTACT.code, c.id, f"{CONTACT.label} {c.full_name}".strip())
                for c in await crm.company_contacts(company_id)
            ]
        except (Bitrix24Error, PortalMissing) as exc:
            log.warning("cannot read a company's deals and contacts: %s", type(exc).__name__)
            return cards  # not kept: the next list tries again
        self._rollups[company_id] = (now, cards)
        return cards
