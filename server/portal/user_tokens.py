"""The access tokens of users who opened a page lately, kept in memory to ask the portal what THEY may read.

Why: a CRM card's documents are visible to anyone who may read the card, and only the portal knows that; the
application's own token belongs to the admin who installed it and reads everything, so the check must be made
with the user's own token (the AUTH_ID of their last placement or app-page POST). The token is kept in memory
only (never in the database, a session or a log), for its own lifetime (AUTH_EXPIRES) at most, and for a bounded
number of users: the oldest is forgotten first. After a restart nobody has one until they open a page again; until
then only the roles decide (the safe side: a refusal, never a wider view).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_LIFETIME = 3600.0  # Bitrix24 access tokens live an hour when AUTH_EXPIRES is missing
MARGIN = 60.0  # stop using a token a minute before the portal would refuse it


class UserTokens:
    def __init__(self, *, limit: int = 5000, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._tokens: OrderedDict[tuple[str, int], tuple[str, float]] = OrderedDict()

    def keep(self, member_id: str, user_id: int, token: str, expires_in: str | float | None) -> None:
        try:
            lifetime = float(expires_in) if expires_in not in (None, "") else DEFAULT_LIFETIME
        except (TypeError, ValueError):
            lifetime = DEFAULT_LIFETIME
        key = (member_id, user_id)
        self._tokens[key] = (token, self._clock() + max(0.0, min(lifetime, DEFAULT_LIFETIME) - MARGIN))
        self._tokens.move_to_end(key)
        while len(self._tokens) > self._limit:
            self._tokens.popitem(last=False)

    def get(self, member_id: str, user_id: int) -> str | None:
        found = self._tokens.get((member_id, user_id))
        if found is None:
            return None
        if found[1] <= self._clock():
            del self._tokens[(member_id, user_id)]
            return None
        return found[0]

    def forget(self, member_id: str, user_id: int) -> None:
        self._tokens.pop((member_id, user_id), None)

    def __len__(self) -> int:
        return len(self._tokens)

    def __repr__(self) -> str:  # never the tokens themselves
        return f"UserTokens({len(self._tokens)} users)"
