"""The page's CryptoARM GOST routes: a ``cryptoarm://`` link for the signer's own jobs
(``POST /api/v1/cryptoarm/transactions``), and one for binding a certificate by signing a challenge in the app
(``/api/v1/me/certificates/cryptoarm``: open, poll its status, withdraw it)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Request, delete, get, post
from litestar.exceptions import ClientException, NotFoundException

from server import jsonbody
from server.cryptoarm import certificate_handler, transactions
from server.cryptoarm.transactions import TransactionRefused
from server.portal.sessions import Session
from server.workflow.permissions import Viewer

from ..dependencies import Services


class OpenRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    job_ids: list[int]


@post(
    "/api/v1/cryptoarm/transactions",
    operation_id="cryptoarm.open",
    status_code=201,
    summary="A cryptoarm:// link for the signer's own open jobs (the page opens it; no agent needed)",
)
async def open_transaction(request: Request[Any, Any, Any], session: Session, services: Services) -> dict[str, str]:
    try:
        body = jsonbody.decode(await request.body(), type=OpenRequest)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ClientException("Ожидается JSON {job_ids: [...]}.") from None
    try:
        url = await transactions.open_for_jobs(
            services.db,
            public_url=services.settings.server.public_url,
            minutes=services.settings.cryptoarm.transaction_minutes,
            user_id=session.user_id,
            job_ids=body.job_ids,
        )
    except TransactionRefused as exc:
        raise ClientException(exc.message) from None
    return {"url": url}


class BindingLink(msgspec.Struct, kw_only=True):
    url: str  # the cryptoarm:// link the page opens
    transaction_id: int  # for the status polls (the secret id in the link is not it)


class BindingStatus(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``pending`` (``step``: waiting_app, in_app, checking), ``done`` (the registration's answer), ``refused``
    (``code``, ``message``) or ``timed_out``."""

    state: Literal["pending", "done", "refused", "timed_out"]
    step: str = ""
    code: str = ""
    message: str = ""
    status: str = ""  # done: server.workflow.certificate_status.CertStatus
    serial: str = ""
    subject: str = ""
    issuer: str = ""


@post(
    "/api/v1/me/certificates/cryptoarm",
    operation_id="certificate_cryptoarm_open",
    status_code=201,
    summary="Bind a certificate in CryptoARM GOST: a cryptoarm:// link whose file is a one-time code to sign",
)
async def open_binding(viewer: Viewer, services: Services) -> BindingLink:
    url, row_id = await certificate_handler.open_for_certificate(services, viewer)
    return BindingLink(url=url, transaction_id=row_id)


async def _own(services: Services, session: Session, transaction_id: int) -> transactions.Txn:
    txn = await services.db.read(lambda d: transactions.by_row(d, transaction_id))
    if txn is None or txn.kind != certificate_handler.KIND or txn.user_id != session.user_id:
        raise NotFoundException("Привязка не найдена.")
    return txn


@get(
    "/api/v1/me/certificates/cryptoarm/{transaction_id:int}",
    operation_id="certificate_cryptoarm_status",
    summary="Where a binding through CryptoARM GOST stands (the page polls it)",
)
async def binding_status(session: Session, services: Services, transaction_id: int) -> BindingStatus:
    return _status(await _own(services, session, transaction_id))


def _status(txn: transactions.Txn) -> BindingStatus:
    return msgspec.convert(certificate_handler.status_of(txn), BindingStatus)


@delete(
    "/api/v1/me/certificates/cryptoarm/{transaction_id:int}",
    operation_id="certificate_cryptoarm_withdraw",
    status_code=200,
    summary="Stop waiting: the link no longer works (a binding already answered stays as it is)",
)
async def withdraw_binding(session: Session, services: Services, transaction_id: int) -> BindingStatus:
    txn = await _own(services, session, transaction_id)
    await services.db.write(lambda d: transactions.withdraw(d, txn.id, user_id=session.user_id))
    return _status(await _own(services, session, transaction_id))


ROUTES = [open_transaction, open_binding, binding_status, withdraw_binding]
