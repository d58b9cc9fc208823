"""``klikdok verify --poa MCHD.xml MCHD.sig``: the МЧД checked for every signature it belongs to, for the report.

Which signature an МЧД belongs to: the one whose certificate holder is its representative (same СНИЛС, or ИНН
when the МЧД gives no СНИЛС). A signature no МЧД names gets the only МЧД given, if there is exactly one, unless its
certificate is the organisation's own (a head signs without one): the auditor then reads in the report why it does
not fit, rather than seeing no МЧД at all.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asn1crypto import x509

    from ..result import VerificationResult
    from ..validation import ValidationContext
    from .model import Poa, PoaVerdict
    from .registry import RegistryClient

__all__ = ["PoaInputError", "add_poa_options", "poa_exit_status", "poa_verdicts"]


# The ФНС portal (cades.poa.registry.DEFAULT_REGISTRY_URL; a test keeps the two equal): not imported here, so
# that building the parser loads no more than this module.
DEFAULT_REGISTRY_URL = "https://m4d.nalog.gov.ru"


def add_poa_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("машиночитаемая доверенность (МЧД)")
    group.add_argument("--poa", nargs=2, action="append", default=[], metavar=("MCHD.xml", "MCHD.sig"),
                       help="МЧД (XML формата ФНС EMCHD_1) и её отсоединённая подпись; проверяется для подписи "
                       "её представителя (можно указать несколько)")  # fmt: skip
    group.add_argument("--principal-inn", metavar="ИНН",
                       help="ИНН организации, за которую подписан документ: сверяется с доверителем в МЧД")  # fmt: skip
    group.add_argument("--poa-power", action="append", default=[], metavar="КОД",
                       help="код полномочия, которое должно быть в МЧД (например KLASS_2.0_SIGN_DIG_DOC); "
                       "без него подходят любые")  # fmt: skip
    group.add_argument("--poa-registry", nargs="?", const=DEFAULT_REGISTRY_URL, metavar="URL",
                       help="проверить статус МЧД в реестре ФНС (обращение в сеть; по умолчанию "
                       f"{DEFAULT_REGISTRY_URL}); без этого ключа статус в реестре не проверяется")  # fmt: skip


def _signers(cms_bytes: bytes) -> list[x509.Certificate | None]:
    """The certificate of every SignerInfo, in order (None where the signature does not carry it)."""
    from ..cms import parse_signed_data
    from ..signer import find_signer_certificate

    parsed = parse_signed_data(cms_bytes)
    return [
        find_signer_certificate(s, [*parsed.certificates, *s.certificate_values]) if s.error is None else None
        for s in parsed.signers
    ]


def _names(poa: Poa, cert: x509.Certificate) -> bool:
    from ..certs import facts

    identity = facts(cert).info.identity
    snils = "".join(ch for ch in identity.get("snils", "") if ch.isdigit())
    inn = identity.get("inn", "")
    for person in poa.representatives:
        if person.snils and snils:
            if person.snils == snils:
                return True
        elif person.inn and inn and person.inn == inn:
            return True
    return False


class PoaInputError(Exception):
    """A file named by ``--poa`` cannot be read at all (missing, unreadable): one line, exit code 2."""


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise PoaInputError(f"{what} {path}: файл не найден") from None
    except OSError as exc:
        raise PoaInputError(f"{what} {path}: {exc.strerror or exc}") from exc


def poa_verdicts(
    args: argparse.Namespace, results: Sequence[tuple[str, VerificationResult]], context: ValidationContext
) -> list[dict[int, PoaVerdict]]:
    """For each signature file's result, the МЧД verdict of each of its signatures that has one (by index),
    checked with ``context``: the one the documents were verified with (cades.cli.verification_context).

    Raises :class:`PoaInputError` for a file that cannot be read at all; an МЧД that is not valid XML or fails the
    schema is a verdict (its check ``format`` failed), as the report must show it."""
    from .check import check_poa, is_head_certificate
    from .model import PoaFormatError
    from .registry import RegistryClient
    from .xml import read_poa

    given = [(_read(xml_path, "МЧД"), _read(sig_path, "подпись МЧД")) for xml_path, sig_path in args.poa]
    readable: list[Poa | None] = []
    for xml, _ in given:
        try:
            readable.append(read_poa(xml))
        except PoaFormatError:
            readable.append(None)
    registry: RegistryClient | None = RegistryClient(args.poa_registry) if args.poa_registry else None
    out: list[dict[int, PoaVerdict]] = []
    try:
        for sig_path, result in results:
            certs = _signers(_read(sig_path, "подпись"))
            verdicts: dict[int, PoaVerdict] = {}
            for sig in result.signatures:
                cert = certs[sig.index] if sig.index < len(certs) else None
                if cert is None:
                    continue
                chosen = next((i for i, poa in enumerate(readable) if poa is not None and _names(poa, cert)), None)
                if chosen is None and len(given) == 1 and not is_head_certificate(cert):
                    chosen = 0
                if chosen is None:
                    continue
                xml, signature = given[chosen]
                verdicts[sig.index] = check_poa(
                    xml,
                    signature,
                    signer_certificate=cert,
                    signing_time=sig.signing_time,
                    expected_principal_inn=args.principal_inn,
                    required_powers=tuple(args.poa_power),
                    context=context,
                    registry=registry,
                )
            out.append(verdicts)
    finally:
        if registry is not None:
            registry.close()
    return out


def poa_exit_status(verdicts: Sequence[dict[int, PoaVerdict]]) -> str | None:
    """The worst МЧД status among the verdicts (invalid before indeterminate before valid), None when none."""
    statuses = {v.status for per_file in verdicts for v in per_file.values()}
    for status in ("invalid", "indeterminate", "valid"):
        if status in statuses:
            return status
    return None
