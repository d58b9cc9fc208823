"""The values an МЧД is read into and checked as: plain msgspec Structs, so the server can store them as JSON
and every report (text, JSON, HTML, PDF, the CRM tab) renders the same fields.

A refusal to read is :class:`PoaFormatError` (the file is not an МЧД we can rely on); a failed check is never an
exception but a :class:`PoaCheck` with status ``failed`` inside a :class:`PoaVerdict`, as pyHanko reports its
results, so one report can say every check's outcome at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

import msgspec

from ..result import SignatureResult

__all__ = [
    "CHECK_TITLES",
    "CheckStatus",
    "Poa",
    "PoaCheck",
    "PoaFormatError",
    "PoaPerson",
    "PoaPower",
    "PoaPrincipal",
    "PoaVerdict",
    "VerdictStatus",
    "ru_date",
]

CheckStatus = Literal["ok", "failed", "unknown"]
VerdictStatus = Literal["valid", "invalid", "indeterminate"]

# ПрПередов -> words. The code meanings are not in the XSD; these follow the ФНС format's order (1: without
# redelegation, 2: one redelegation, 3: successive redelegation), as read by public implementations of the format.
REDELEGATION_TEXT: Final = {
    "1": "без права передоверия",
    "2": "с правом однократного передоверия",
    "3": "с правом последующего передоверия",
}

# PoaCheck.name -> the check's title in reports (the order is the order of the checks in a verdict).
CHECK_TITLES: Final = {
    "format": "Формат МЧД",
    "signature": "Подпись МЧД",
    "issuer": "Подписал руководитель доверителя",
    "validity": "Срок действия МЧД",
    "representative": "Представитель — владелец сертификата",
    "principal": "Доверитель — организация из CRM",
    "powers": "Полномочия",
    "registry": "Статус в реестре ФНС",
}


class PoaFormatError(Exception):
    """The bytes are not an МЧД this library will rely on: bad XML, an XSD failure, a DOCTYPE or entity trick,
    too large, or a kind of МЧД not supported. ``message`` is Russian and meant for the person who uploaded it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PoaPerson(msgspec.Struct, frozen=True, kw_only=True):
    """A natural person named in an МЧД (a head acting without a power of attorney, or a representative).

    ``snils`` is kept as 11 digits (the XML writes ``123-456-789 01``, certificates ``12345678901``), so the
    two compare as strings; empty strings stand for fields the МЧД leaves out."""

    full_name: str
    snils: str = ""
    inn: str = ""
    position: str = ""


class PoaPrincipal(msgspec.Struct, frozen=True, kw_only=True):
    """Who gives the power: a Russian organisation (or an individual entrepreneur, then ``ogrn`` is the ОГРНИП and
    ``kpp`` empty). ``heads`` are the persons who act for it without a power of attorney (ЛицоБезДов): the ones
    entitled to sign the МЧД."""

    name: str
    inn: str = ""
    ogrn: str = ""
    kpp: str = ""
    heads: tuple[PoaPerson, ...] = ()


class PoaPower(msgspec.Struct, frozen=True, kw_only=True):
    """One power: a classifier code (МашПолн/@КодПолн) with its name, or, for free-text powers (ТекстПолн), an
    empty ``code`` and the text. ``limits`` are the МашПолн's restrictions (ОгрСвПолн) as «name: value» lines."""

    code: str
    text: str
    limits: tuple[str, ...] = ()


class Poa(msgspec.Struct, frozen=True, kw_only=True):
    """What an МЧД (format EMCHD_1, «Довер»: an original power of attorney) says.

    ``joint``: ПрСовмПолн = 1, the representatives exercise the powers jointly; see :meth:`may_sign_alone`.
    ``redelegation`` is the ПрПередов code ("1", "2", "3"), :attr:`redelegation_text` its words."""

    number: str
    internal_number: str
    issued: dt.date
    valid_until: dt.date
    principal: PoaPrincipal
    representatives: tuple[PoaPerson, ...]
    powers: tuple[PoaPower, ...]
    redelegation: str
    joint: bool
    irrevocable: bool = False
    system_url: str = ""  # СведСист: where the issuer says the МЧД can be checked

    @property
    def redelegation_text(self) -> str:
        return REDELEGATION_TEXT.get(self.redelegation, self.redelegation)

    def may_sign_alone(self) -> bool:
        """Whether one representative may sign by themself: powers exercised individually, or joint powers given
        to a single representative (there is nobody to act jointly with)."""
        return not self.joint or len(self.representatives) <= 1

    def power_codes(self) -> frozenset[str]:
        return frozenset(p.code for p in self.powers if p.code)


class PoaCheck(msgspec.Struct, frozen=True, kw_only=True):
    """One check of an МЧД for one signature: ``name`` is a key of :data:`CHECK_TITLES`, ``message`` Russian."""

    name: str
    status: CheckStatus
    message: str

    @property
    def title(self) -> str:
        return CHECK_TITLES.get(self.name, self.name)


_STATUS_WORDS: Final = {"valid": "действительна", "invalid": "недействительна", "indeterminate": "не подтверждена"}


class PoaVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of checking an МЧД for a signature: ``invalid`` when any check failed, ``indeterminate`` when
    none failed but one could not be decided (the caller's policy says what that means), else ``valid``.
    ``poa`` is None when the file could not be read at all (then the one check says why). ``signature`` is the
    МЧД's own signature result (who signed it, the chain, the revocation status), None when it could not be read.
    ``registry_checked``: the ФНС registry answered (active, revoked...), not just "not checked"."""

    poa: Poa | None
    status: VerdictStatus
    checks: tuple[PoaCheck, ...]
    registry_checked: bool = False
    signature: SignatureResult | None = None

    def failed(self) -> tuple[PoaCheck, ...]:
        return tuple(c for c in self.checks if c.status == "failed")

    def unknown(self) -> tuple[PoaCheck, ...]:
        return tuple(c for c in self.checks if c.status == "unknown")

    def summary(self) -> str:
        """One Russian line for lists and headlines: «МЧД № …, доверитель …, действует до …: действительна»."""
        words = _STATUS_WORDS[self.status]
        if self.poa is None:
            return f"МЧД: {words}"
        poa = self.poa
        principal = poa.principal.name + (f" (ИНН {poa.principal.inn})" if poa.principal.inn else "")
        return f"МЧД № {poa.number}, доверитель {principal}, действует до {ru_date(poa.valid_until)}: {words}"


def ru_date(value: dt.date) -> str:
    return value.strftime("%d.%m.%Y")


def overall(checks: tuple[PoaCheck, ...]) -> VerdictStatus:
    """invalid if any check failed; indeterminate if any is unknown; else valid."""
    statuses = {c.status for c in checks}
    if "failed" in statuses:
        return "invalid"
    if "unknown" in statuses or not checks:
        return "indeterminate"
    return "valid"
