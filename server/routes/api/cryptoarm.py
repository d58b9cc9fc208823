"""``POST /api/v1/cryptoarm/transactions``: the signer's page asks for a ``cryptoarm://`` link for their own jobs."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, post
from litestar.exceptions import ClientException

from server import jsonbody
from server.cryptoarm import transactions
from server.cryptoarm.transactions import TransactionRefused
from server.portal.sessions import Session

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
