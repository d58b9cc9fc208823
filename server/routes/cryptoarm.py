"""``/cryptoarm/json`` (JSON-RPC 2.0 as CryptoARM GOST speaks it), the file downloads and ``GET /``.

Method by method (shapes: ``/work/shared/reference/cryptoarm-api.md`` §1.4):

- ``signAndEncrypt.parameters`` (a request; its ``id`` and the link's ``?id=`` are the transaction id):
  answered once per transaction with the handler's files (download URLs; the app adds ``?accessToken=``),
  ``extra`` (``signType`` 1 = detached, the ``token``) and ``uploader`` set explicitly to this endpoint;
- ``signAndEncrypt.outDirectResults`` (a notification; ``params.id`` is the transaction): the signatures
  (``out`` = base64 of the ``.sig`` file: DER, or PEM text when the user's encoding is BASE64; ``signers``
  is informational: only its first ``x509`` is kept, as the certificate a kind may check the CMS with when the
  CMS carries none; only the verified CMS counts), or ``status: "Canceled"``. Answered 204, or a
  JSON-RPC error when anything was refused.

Errors use the JSON-RPC codes: -32700 unparsable, -32600 not a request, -32601 unknown method, -32602 bad
params (unknown, not yet started, used or expired transaction; unknown file ids; bad base64), -32603
internal. HTTP status is 200 for all of them (the app's rule), 415 for a body that is not JSON, 405 for other
HTTP methods.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from cades.asn1 import decode_armour
from server import jsonbody
from server.cryptoarm import transactions
from server.cryptoarm.handlers import HANDLERS, DirectResult
from server.cryptoarm.transactions import TransactionRefused, Txn

from .dependencies import Services
from .errors import frame_headers

log = logging.getLogger(__name__)

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603
PARAMETERS = "signAndEncrypt.parameters"
RESULTS = "signAndEncrypt.outDirectResults"
MAX_FILES = 500
MAX_CERTIFICATE_TEXT = 64 * 1024  # base64 of one signer certificate (``signers[].x509``)


def _error(code: int, message: str, request_id: Any = None, data: Any = None) -> Response[Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return Response({"jsonrpc": "2.0", "error": error, "id": request_id}, status_code=200, media_type=MediaType.JSON)


def _refused(exc: TransactionRefused, request_id: Any = None) -> Response[Any]:
    return _error(INVALID_PARAMS, exc.message, request_id, {"code": exc.code})


def to_der(out: bytes) -> bytes:
    """The ``.sig`` bytes CryptoARM sent, as DER: raw DER as is; PEM or bare base64 text decoded once more
    (strictly, by :func:`cades.asn1.decode_armour`; its MalformedInput is a ValueError)."""
    return decode_armour(out)


@get("/", include_in_schema=False, sync_to_thread=False)
def origin_root(services: Services) -> Template:
    """CryptoARM GETs the origin root to read the server certificate for its trust prompt: it must be 200. A
    person who lands here is told where KlikDok is opened."""
    origin = services.settings.portal.portal_origin
    return Template(template_name="home.html", headers=frame_headers(origin), context={"portal_url": origin})


@post("/cryptoarm/json", include_in_schema=False, status_code=200)
async def cryptoarm_json(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    ctype = request.headers.get("content-type", "")
    if "json" not in ctype.lower():
        return Response({"error": "Ожидается application/json."}, status_code=415)
    try:
        body = jsonbody.decode(await request.body())
    except msgspec.DecodeError:
        return _error(PARSE_ERROR, "Parse error")
    if not isinstance(body, dict) or body.get("jsonrpc") != "2.0" or not isinstance(body.get("method"), str):
        return _error(INVALID_REQUEST, "Invalid Request", body.get("id") if isinstance(body, dict) else None)
    request_id = body.get("id")
    raw_params = body.get("params")
    params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    query_id = request.query_params.get("id")
    param_id = params.get("id")
    if query_id is not None and param_id is not None and str(param_id) != query_id:
        return _error(
            INVALID_PARAMS,
            "Идентификаторы транзакции в ссылке и в params различаются.",
            request_id,
            {"code": "bad_transaction_id"},
        )
    txn_id = (
        query_id
        or (str(param_id) if param_id is not None else None)
        or (str(request_id) if body["method"] == PARAMETERS and request_id is not None else None)
    )
    if not txn_id:
        return _error(INVALID_PARAMS, "Нет идентификатора транзакции (id).", request_id, {"code": "bad_transaction_id"})
    try:
        if body["method"] == PARAMETERS:
            return await _parameters(services, txn_id, request_id)
        if body["method"] == RESULTS:
            return await _results(services, txn_id, params, request_id)
    except TransactionRefused as exc:
        return _refused(exc, request_id)
    except Exception:
        log.exception("cryptoarm request failed", extra={"method": body["method"]})
        return _error(INTERNAL_ERROR, "Internal error", request_id)
    return _error(METHOD_NOT_FOUND, "Method not found", request_id)


async def _parameters(services: Services, txn_id: str, request_id: Any) -> Response[Any]:
    txn = await services.db.read(lambda d: transactions.by_id(d, txn_id))
    refusal = transactions.refusal_for(txn, for_state="open")
    if refusal is not None:
        return _refused(refusal, request_id)
    assert txn is not None
    handler = HANDLERS.get(txn.kind)
    if handler is None:
        raise TransactionRefused("unknown_kind", "Неизвестный тип транзакции.")
    offer = await handler.offer(services, txn)
    files = [[f.key, f.name, f.size] for f in offer.files]
    token = await services.db.write(lambda d: transactions.issue_parameters(d, txn.id, files, secret=txn.secret))
    if token is None:  # a concurrent replay won the single use
        raise TransactionRefused("transaction_used", "Транзакция уже использована.")
    base = services.settings.server.public_url.rstrip("/")
    props = {
        "headerText": offer.header[:40],
        "descriptionText": offer.description[:120],
        "license": "",
        "files": [
            {"name": f.name, "url": f"{base}/cryptoarm/files/{n}/{quote(f.name)}", "id": f.key, "urlDetached": ""}
            for n, f in enumerate(offer.files, start=1)
        ],
        "extra": {"token": token, "signType": 1},
        "uploader": transactions.command_url(base, txn_id),
    }
    return Response(
        {"jsonrpc": "2.0", "result": {"operation": ["SIGN"], "props": props}, "id": request_id},
        status_code=200,
        media_type=MediaType.JSON,
    )


async def _results(services: Services, txn_id: str, params: dict[str, Any], request_id: Any) -> Response[Any]:
    txn = await services.db.read(lambda d: transactions.by_id(d, txn_id))
    refusal = transactions.refusal_for(txn, for_state="parameters_sent")
    if refusal is not None:
        return _refused(refusal, request_id)
    assert txn is not None
    handler = HANDLERS[txn.kind]
    if params.get("status") == "Canceled":
        if await services.db.write(lambda d: transactions.finish(d, txn.id, "cancelled", {"status": "Canceled"})):
            await handler.cancelled(services, txn)
            return Response(b"", status_code=204)
        raise TransactionRefused("transaction_used", "Транзакция уже использована.")
    results = _direct_results(params, txn)
    if not await services.db.write(lambda d: transactions.finish(d, txn.id, "completed", {"files": len(results)})):
        raise TransactionRefused("transaction_used", "Транзакция уже использована.")
    outcome = await handler.accept(services, txn, results)
    await services.db.write(lambda d: transactions.record_outcome(d, txn.id, outcome.as_dict()))
    if outcome.refused:
        return _error(
            INVALID_PARAMS,
            "; ".join(r["message"] for r in outcome.refused)[:1000],
            request_id,
            {"code": "signature_refused", "refused": outcome.refused, "accepted": outcome.accepted},
        )
    return Response(b"", status_code=204)


def _direct_results(params: dict[str, Any], txn: Txn) -> list[DirectResult]:
    raw = params.get("directResults")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_FILES:
        raise TransactionRefused("bad_results", "Нет подписей (directResults).")
    offered = {str(f[0]) for f in txn.files}
    seen: set[str] = set()
    results = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("out"), str):
            raise TransactionRefused("bad_results", "Каждый результат должен содержать out (base64).")
        key = str(item.get("id", ""))
        if key not in offered or key in seen:
            raise TransactionRefused("unknown_file", f"Файл {key!r} не из этой транзакции или повторяется.")
        seen.add(key)
        try:
            cms = to_der(base64.b64decode(item["out"], validate=True))
        except (binascii.Error, ValueError):
            raise TransactionRefused("bad_base64", f"Подпись файла {key!r} не в base64.") from None
        results.append(DirectResult(key=key, cms=cms, certificate=_reported_certificate(item.get("signers"))))
    return results


def _reported_certificate(signers: Any) -> bytes | None:
    """The first signer's ``x509`` (base64 DER) as the app reports it, or None when absent or malformed (it is
    informational: a malformed one is ignored, not refused)."""
    if not isinstance(signers, list) or not signers or not isinstance(signers[0], dict):
        return None
    text = signers[0].get("x509")
    if not isinstance(text, str) or not text or len(text) > MAX_CERTIFICATE_TEXT:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@get("/cryptoarm/files/{index:int}/{name:str}", include_in_schema=False)
async def cryptoarm_file(request: Request[Any, Any, Any], services: Services, index: int, name: str) -> Response[bytes]:
    """One offered file, for the holder of the transaction's access token (while it awaits results)."""
    token = request.query_params.get("accessToken", "")
    txn = await services.db.read(lambda d: transactions.by_token(d, token))
    if txn is None or txn.state != "parameters_sent" or txn.expired or not (1 <= index <= len(txn.files)):
        raise NotFoundException("Файл не найден.")
    key = str(txn.files[index - 1][0])
    try:
        file_name, data = await HANDLERS[txn.kind].open_file(services, txn, key)
    except TransactionRefused:
        raise NotFoundException("Файл не найден.") from None
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(file_name)}",
        },
    )


ROUTES = [origin_root, cryptoarm_json, cryptoarm_file]
