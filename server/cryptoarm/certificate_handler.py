"""Transactions of kind "certificate": a signer binds a certificate by signing a challenge in CryptoARM GOST.

The page asks for a link (:func:`open_for_certificate`): the server issues a registration challenge for the
session user (:meth:`CertificateRegistration.challenge`, the same one-time code the other channels sign) and
mints a transaction whose only file is that code, «Код подтверждения KlikDok.txt». The code is the
transaction's sealed secret (:mod:`.sealing`): the database keeps only its hash and two sealed copies.

The app signs it (detached) and posts the signature back; the certificate is the one inside the CMS, or else
the one the app reports in ``signers[0].x509``. Either way :meth:`CertificateRegistration.register` checks
that the signature over the code verifies with that certificate's key, spends the code and binds the
certificate to the transaction's user with ``proof="cryptoarm"``, or refuses. The answer (or the refusal) is
kept in the transaction's outcome, where the page reads it (:func:`status_of`) while it polls.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from cades.asn1 import MalformedInput
from cades.cms import parse_signed_data
from cades.signer import find_signer_certificate
from server.state import AppServices
from server.workflow import certificates
from server.workflow.permissions import PermissionDenied, Viewer
from server.workflow.states import TransitionRefused

from . import transactions
from .handlers import DirectResult, Offer, OfferedFile, Outcome
from .transactions import TransactionRefused, Txn

log = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
KIND = "certificate"
FILE_KEY = "challenge"
FILE_NAME = "Код подтверждения KlikDok.txt"


def _challenge(txn: Txn) -> bytes:
    """The code this transaction offers, opened by the id or token that found it."""
    if txn.secret is None or txn.user_id is None:
        raise TransactionRefused(
            "challenge_lost", "Код подтверждения этой транзакции недоступен. Начните привязку сертификата заново."
        )
    return txn.secret


def _certificate(result: DirectResult) -> bytes | None:
    """The signer's certificate: the one the CMS carries for its signer, else the one the app reported."""
    try:
        parsed = parse_signed_data(result.cms, max_size=certificates.MAX_SIGNATURE_BYTES)
    except MalformedInput:
        return result.certificate
    if len(parsed.signers) == 1 and parsed.certificates:
        carried = find_signer_certificate(parsed.signers[0], parsed.certificates)
        if carried is not None:
            return bytes(carried.dump())
    return result.certificate


class CertificateHandler:
    kind = KIND

    async def offer(self, services: AppServices, txn: Txn) -> Offer:
        text = _challenge(txn)
        return Offer(
            files=[OfferedFile(key=FILE_KEY, name=FILE_NAME, size=len(text))],
            header="Привязка сертификата KlikDok",
            description="Подпишите код подтверждения сертификатом, который привязываете к себе.",
        )

    async def open_file(self, services: AppServices, txn: Txn, key: str) -> tuple[str, bytes]:
        if key != FILE_KEY:
            raise TransactionRefused("unknown_file", "Файл не найден.")
        return FILE_NAME, _challenge(txn)

    async def accept(self, services: AppServices, txn: Txn, results: list[DirectResult]) -> Outcome:
        outcome = Outcome()
        for result in results:
            try:
                outcome.details["certificate"] = await self._register(services, txn, result)
                outcome.accepted.append(result.key)
            except (TransactionRefused, PermissionDenied, TransitionRefused) as exc:
                outcome.refused.append({"key": result.key, "code": exc.code, "message": exc.message})
            except Exception:  # the page polls for an answer: it must get one, not wait for ever
                log.exception("certificate registration through CryptoARM failed")
                outcome.refused.append(
                    {
                        "key": result.key,
                        "code": "internal",
                        "message": "Не удалось проверить подпись. Попробуйте ещё раз.",
                    }
                )
        return outcome

    async def _register(self, services: AppServices, txn: Txn, result: DirectResult) -> dict[str, Any]:
        challenge = _challenge(txn)
        if result.key != FILE_KEY:
            raise TransactionRefused("unknown_file", "Файл не из этой транзакции.")
        cert = _certificate(result)
        if cert is None:
            raise TransactionRefused(
                "no_certificate",
                "КриптоАРМ ГОСТ не передал сертификат подписанта: в подписи его нет. Включите в настройках "
                "подписи добавление сертификата и подпишите код заново.",
            )
        assert txn.user_id is not None  # _challenge checked it
        viewer: Viewer = await services.directory.viewer(txn.user_id)
        return await services.certificates.register(
            viewer, cert, challenge=challenge.decode("utf-8", "replace"), signature=result.cms, proof="cryptoarm"
        )

    async def cancelled(self, services: AppServices, txn: Txn) -> None:
        """Nothing to undo: the code was not spent and expires by itself; the page reads the cancel."""


async def open_for_certificate(services: AppServices, viewer: Viewer) -> tuple[str, int]:
    """A fresh challenge for ``viewer`` and a transaction offering it; returns (the cryptoarm:// link, its row
    id for the page's status polls). It lives no longer than the challenge does."""
    challenge = await services.certificates.challenge(viewer)
    minutes = max(1, min(services.settings.cryptoarm.transaction_minutes, certificates.CHALLENGE_TTL // MINUTE))
    txn_id, txn = await services.db.write(
        lambda d: transactions.create(
            d,
            kind=KIND,
            targets=[],
            minutes=minutes,
            user_id=viewer.user_id,
            actor=f"user:{viewer.user_id}",
            secret=challenge.text.encode(),
        )
    )
    return transactions.link(services.settings.server.public_url, txn_id), txn.id


def status_of(txn: Txn) -> dict[str, Any]:
    """Where the page's binding stands: ``pending`` (``step``: the app has not asked yet, or has the code),
    ``done`` (the registration's answer: status, message, serial, subject, issuer), ``refused`` (code, message)
    or ``expired``."""
    if txn.state in ("open", "parameters_sent"):
        if txn.expired:
            return {
                "state": "timed_out",
                "code": "transaction_expired",
                "message": "Время ожидания подписи истекло. Начните привязку заново.",
            }
        step = "in_app" if txn.state == "parameters_sent" else "waiting_app"
        return {"state": "pending", "step": step, "message": ""}
    outcome = txn.outcome
    if txn.state == "completed":
        answer = outcome.get("certificate")
        if isinstance(answer, dict):
            return {"state": "done", **{k: str(v) for k, v in answer.items()}}
        refused = [r for r in outcome.get("refused", []) if isinstance(r, dict)]
        if refused:
            return {
                "state": "refused",
                "code": str(refused[0].get("code", "")),
                "message": str(refused[0].get("message", "")),
            }
        return {"state": "pending", "step": "checking", "message": ""}  # results taken, the check is running
    if txn.state == "cancelled" and outcome.get("status") == "Withdrawn":
        return {"state": "refused", "code": "withdrawn", "message": "Привязка через КриптоАРМ ГОСТ отменена."}
    if txn.state == "cancelled":
        return {"state": "refused", "code": "cancelled_in_app", "message": "Подписание отменено в КриптоАРМ ГОСТ."}
    return {"state": "refused", "code": "failed", "message": "КриптоАРМ ГОСТ не вернул подпись. Попробуйте ещё раз."}
