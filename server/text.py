"""One-line text and e-mail addresses as every input point and every e-mail header must see them.

Titles and names come from people (the create form, the resend form) and from the CRM (company titles,
requisites, contact names), and end up in e-mail headers, notifications and pages. Python's e-mail package
decodes RFC 2047 encoded words (``=?utf-8?q?...?=``) found in a value it is given, so a name that *looks*
harmless can decode to CR/LF and add headers or end the header block. :func:`one_line` therefore decodes encoded
words itself (repeatedly, since a decoded word may be another one), then removes control characters and bounds
the length; whatever could still start an encoded word is broken up so nothing downstream decodes it again.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from email import policy
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Bidi overrides/isolates and line/paragraph separators: invisible, and able to reorder or split what people read.
_INVISIBLE = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029, 0xFEFF], " ")
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?]*\?=")
_SPACES = re.compile(r"\s+")
_DECODE_ROUNDS = 4
_RAW_PER_CHAR = 16  # an encoded word spends at most this many characters on one character of text

TITLE_MAX = 300  # a document's title
NAME_MAX = 200  # a person's or an organisation's name
MESSAGE_MAX = 1000  # the author's message to the counterparty (the create form)

# Addresses KlikDok writes into headers and the SMTP envelope: plain ASCII (no SMTPUTF8), RFC 5322 dot-atom
# local part, host names made of letters, digits and hyphens (an internationalised domain is sent as punycode).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _controls_to_spaces(value: str) -> str:
    value = value.translate(_INVISIBLE)
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in value)


def _decode_encoded_words(value: str) -> str:
    """What Python's own header parser would make of the value (the decoding the attack relies on)."""
    try:
        return str(policy.default.header_factory("X-Klikdok-Text", value))
    except Exception:  # a value the parser cannot read stays as it is (and is cleaned below)
        return value


def one_line(value: object, limit: int) -> str:
    """A single readable line of at most ``limit`` characters: encoded words decoded, control characters gone."""
    # Only a bounded prefix is looked at: even fully encoded, that is more than ``limit`` characters of text,
    # and Python's header parser is slow on long values (400 KB took 14 s).
    raw = str(value or "")[: limit * _RAW_PER_CHAR + 64]
    text = _controls_to_spaces(unicodedata.normalize("NFC", raw))
    for _ in range(_DECODE_ROUNDS):
        if not _ENCODED_WORD.search(text):
            break
        text = _controls_to_spaces(_decode_encoded_words(text))
    # Anything still able to start an encoded word (here or once joined with other text) is broken up.
    text = text.replace("=?", "= ?")
    text = _SPACES.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return text


def title(value: object) -> str:
    """A document title as it is stored and mailed (the create form, anything stored before this existed)."""
    return one_line(value, TITLE_MAX)


def name(value: object) -> str:
    """A person's or organisation's name from a form, the portal or the CRM (requisites, company, contact)."""
    return one_line(value, NAME_MAX)


def message(value: object, limit: int = MESSAGE_MAX) -> str:
    """The author's message to the counterparty: plain text of at most ``limit`` characters, its line
    breaks kept (it is read in a letter's body and on a page), every other control character gone. It is never
    put into a header; the letter's parts are encoded whole, so no line of it reaches SMTP as it is."""
    raw = str(value or "")[: limit * 2].replace("\r\n", "\n").replace("\r", "\n")
    lines = [
        _SPACES.sub(" ", _controls_to_spaces(unicodedata.normalize("NFC", line))).strip() for line in raw.split("\n")
    ]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text[:limit].rstrip()


def email_address(value: object, *, local_domain: bool = False) -> str | None:
    """The address in the form it is sent to, or None when it is not one KlikDok can put into a header.

    ``local_domain`` allows a single-label host (``klikdok@localhost``, the default sender).
    """
    address = str(value or "").strip()
    if not address or len(address) > 254 or address.count("@") != 1:
        return None
    local, domain = address.split("@")
    if len(local) > 64 or not _LOCAL.match(local) or "=?" in local:
        return None  # ("=?" is legal atext, but Python's parser would decode it as an encoded word)
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = domain.split(".")
    if not all(_LABEL.match(label) for label in labels) or len(domain) > 253:
        return None
    if len(labels) < 2 and not local_domain:
        return None
    if len(labels) >= 2 and labels[-1].isdigit():
        return None  # a bare IP address is not a mail domain here
    return f"{local}@{domain.lower()}"


# -- moments as people read them ---------------------------------------------------------------------------

DEFAULT_TIMEZONE = "Europe/Moscow"  # what Russian users expect on a legal document (UTC+3, no DST)
# Names people know better than the zone database's abbreviation (tzdata calls Moscow time "MSK").
_ZONE_NAMES = {"Europe/Moscow": "МСК"}


def portal_zone(key: str) -> ZoneInfo:
    """The portal's time zone (``[portal] timezone``); a name the zone database lacks is a ValueError."""
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"portal.timezone: неизвестный часовой пояс {key!r}; укажите имя из базы часовых поясов, "
            'например "Europe/Moscow" или "Asia/Yekaterinburg"'
        ) from None


def zone_name(moment: datetime, key: str) -> str:
    """The zone's short name at that moment: «МСК» for Moscow, else its abbreviation (CET, UTC) or its offset
    from UTC when the zone database has only digits for it (Asia/Yekaterinburg is "+05": «UTC+5»)."""
    if key in _ZONE_NAMES:
        return _ZONE_NAMES[key]
    abbreviation = moment.tzname() or ""
    if abbreviation.isalpha():
        return abbreviation
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "") if minutes else "UTC"


def local_time(value: Any, timezone: str = DEFAULT_TIMEZONE, *, seconds: bool = False) -> str:
    """A stored moment (a datetime or an ISO string; naive means UTC) as pages, e-mails and reports show it:
    in the portal's zone, with the zone's name — «07.12.2026 14:05 (МСК)». The one formatter of the server."""
    if not value:
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(portal_zone(timezone))
    shown = local.strftime("%d.%m.%Y %H:%M:%S" if seconds else "%d.%m.%Y %H:%M")
    return f"{shown} ({zone_name(local, timezone)})"
