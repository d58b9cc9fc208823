"""The users' own tokens kept in memory for asking the portal what they may read: bounded, dropped before they
expire, and never shown in a repr (a log line of the object must not carry a token)."""

from __future__ import annotations

from server.portal.user_tokens import MARGIN, UserTokens


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_kept_for_its_lifetime_less_a_margin() -> None:
    clock = Clock()
    tokens = UserTokens(clock=clock)
    tokens.keep("m", 4, "secret-token-4", "600")
    assert tokens.get("m", 4) == "secret-token-4"
    assert tokens.get("other", 4) is None and tokens.get("m", 5) is None
    clock.now += 600 - MARGIN - 1
    assert tokens.get("m", 4) == "secret-token-4"
    clock.now += 2
    assert tokens.get("m", 4) is None and len(tokens) == 0


def test_a_missing_or_absurd_lifetime_is_at_most_an_hour() -> None:
    clock = Clock()
    tokens = UserTokens(clock=clock)
    tokens.keep("m", 1, "a", None)
    tokens.keep("m", 2, "b", "not a number")
    tokens.keep("m", 3, "c", "999999")
    clock.now += 3600
    assert [tokens.get("m", u) for u in (1, 2, 3)] == [None, None, None]


def test_the_store_is_bounded_and_forgets_the_oldest_user_first() -> None:
    tokens = UserTokens(limit=3, clock=Clock())
    for user in range(1, 5):
        tokens.keep("m", user, f"t{user}", "3600")
    assert len(tokens) == 3
    assert tokens.get("m", 1) is None and tokens.get("m", 4) == "t4"
    tokens.keep("m", 2, "t2-new", "3600")  # a new page of user 2: its token replaces the old one
    assert tokens.get("m", 2) == "t2-new"
    tokens.forget("m", 2)
    assert tokens.get("m", 2) is None


def test_repr_names_no_token() -> None:
    tokens = UserTokens(clock=Clock())
    tokens.keep("m", 4, "secret-token-4", "3600")
    assert "secret" not in repr(tokens) and "secret" not in str(tokens)
