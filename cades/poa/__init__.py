"""МЧД (машиночитаемая доверенность, ФНС format EMCHD_1 "003"): reading one and checking it for a signature.

THE CONTRACT between issue 18's two parts (mchd-core writes this package, mchd-flows builds on it). Its shape is the
one agreed in COMMON18.md; refinements made while writing it, each additive:

- ``PoaFormatError(message)``: ``.message`` is Russian, for users. Raised by :func:`read_poa` only.
- ``read_poa(xml: bytes) -> Poa``: safe parse (no DOCTYPE, no entities, no network, at most
  :data:`MAX_POA_SIZE` bytes, UTF-8 only) + XSD validation + extraction. Only «Довер» (an original МЧД) is read; a
  redelegated one («Передов») and principals that are foreign companies or natural persons are refused with a
  PoaFormatError saying so. Exactly one principal (СвДоверит) is supported.
- ``Poa`` (frozen): ``number, internal_number, issued: date, valid_until: date, principal: PoaPrincipal,
  representatives: tuple[PoaPerson, ...], powers: tuple[PoaPower, ...], redelegation: str, joint: bool`` plus
  ``irrevocable: bool`` and ``system_url: str`` (СведСист). ``redelegation`` is the ПрПередов code "1"/"2"/"3"
  (``redelegation_text`` gives the words). ``joint`` is True when ПрСовмПолн = "1" (powers exercised jointly;
  the code's meaning comes from public implementations, the XSD does not say it); **whether the representative may
  sign alone is ``poa.may_sign_alone()``** (not joint, or a single representative). ``power_codes()`` -> frozenset.
- ``PoaPrincipal``: ``name, inn, ogrn, kpp, heads`` (an ИП principal: ``ogrn`` is the ОГРНИП, ``kpp`` "", heads =
  the ИП). ``PoaPerson``: ``full_name, snils, inn, position``; ``snils`` is 11 digits (no dashes), "" when absent.
- ``PoaPower``: ``code, text`` plus ``limits: tuple[str, ...]`` (ОгрСвПолн as «name: value»); free text
  (ТекстПолн) is a power with ``code == ""``.
- ``PoaCheck``: ``name, status ("ok"|"failed"|"unknown"), message``; ``.title`` is the Russian heading. Names, in
  order: format (only when unreadable), signature, issuer, validity, representative, principal, powers, registry.
- ``PoaVerdict``: ``poa, status ("valid"|"invalid"|"indeterminate"), checks, registry_checked`` plus
  ``signature: SignatureResult | None`` (the МЧД's own signature result); ``summary()``, ``failed()``,
  ``unknown()``.
- ``check_poa(xml, signature, *, signer_certificate, signing_time, expected_principal_inn, required_powers,
  context, registry, accept_revocation_unknown=False) -> PoaVerdict``: never raises for a bad МЧД (an unreadable
  one is a verdict with the failed check ``format``). ``signing_time`` may be None (validity is then "unknown").
  ``accept_revocation_unknown=True`` applies the ``[trust] revocation = "warn"`` policy to the МЧД's signature.
- ``RegistryClient(base_url=DEFAULT_REGISTRY_URL, *, timeout=5.0, ttl=3600.0)``: the ФНС registry client with its
  in-memory cache; ``registry=None`` in check_poa means "not checked" (status unknown, «статус в реестре ФНС не
  проверен»).
- ``is_head_certificate(cert) -> bool``: ИНН ЮЛ, ОГРН or ОГРНИП in the subject: signs without an МЧД.

Nothing here imports lxml at import time (``klikdok verify``/``hash``/the server import this package on start);
the XML library is loaded by the first :func:`read_poa`, and the package's own modules by the first use of a name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .check import check_poa, is_head_certificate
    from .model import CHECK_TITLES, Poa, PoaCheck, PoaFormatError, PoaPerson, PoaPower, PoaPrincipal, PoaVerdict
    from .registry import DEFAULT_REGISTRY_URL, RegistryAnswer, RegistryClient
    from .xml import MAX_POA_SIZE, read_poa

__all__ = [
    "CHECK_TITLES",
    "DEFAULT_REGISTRY_URL",
    "MAX_POA_SIZE",
    "Poa",
    "PoaCheck",
    "PoaFormatError",
    "PoaPerson",
    "PoaPower",
    "PoaPrincipal",
    "PoaVerdict",
    "RegistryAnswer",
    "RegistryClient",
    "check_poa",
    "is_head_certificate",
    "read_poa",
]

# Where each name lives. The package loads a submodule on first use of one of its names (PEP 562): `klikdok hash`
# and `klikdok verify --help` build a parser that imports cades.poa.cli, and must not pay for msgspec Structs,
# the check and the registry client they never use (#19).
_HOMES = {
    "check_poa": "check",
    "is_head_certificate": "check",
    "CHECK_TITLES": "model",
    "Poa": "model",
    "PoaCheck": "model",
    "PoaFormatError": "model",
    "PoaPerson": "model",
    "PoaPower": "model",
    "PoaPrincipal": "model",
    "PoaVerdict": "model",
    "DEFAULT_REGISTRY_URL": "registry",
    "RegistryAnswer": "registry",
    "RegistryClient": "registry",
    "MAX_POA_SIZE": "xml",
    "read_poa": "xml",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
