"""Messages on ``/agent/ws`` (JSON text frames, one object each, ``type`` says which).

Server and agent never import each other, so the one definition of the wire format lives here, in the
package both of them import.

Delivery rules:
- the server pushes ``job`` with the job id and a fresh ``delivery_id``; the agent answers ``ack`` (queued) or
  ``nack`` (reason ``queue_full``: offered again a little later; ``declined``: the signer cancelled it in
  CryptoARM or it timed out, so it stays pending but is not offered to this connection again);
- the agent answers a job with ``result`` (detached CMS per file) or ``failure``, under a ``result_id`` it
  chooses and keeps until it sees ``result_ack`` for it; a repeated ``result_id`` gets the recorded answer,
  so a result is applied at most once however often the connection drops;
- ``ping``/``pong`` every ``heartbeat_seconds``; an agent silent for three of them is dropped;
- right after ``hello`` and before any ``job`` the server sends ``trust_anchors``: the certificates it trusts
  (the store's accredited CAs and the admin's roots, plus its configured intermediates), so the agent refuses to
  upload a signature whose certificate the server would not trust anyway (expired, wrong chain, unknown CA)
  and says why on the signer's own screen. Revocation stays the server's call. An agent older than this
  message skips it as unreadable; an agent that never got one checks only the math and the digest.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class _Msg(msgspec.Struct, tag_field="type", kw_only=True, forbid_unknown_fields=False):
    pass


# -- server -> agent ----------------------------------------------------------------------------------------


class Hello(_Msg, tag="hello"):
    agent_id: int
    user_id: int
    heartbeat_seconds: float
    server_time: str


MAX_TRUST_ANCHORS = 5000  # the Минцифры list holds a few hundred CAs with a handful of certificates each
# The agent reads frames up to 8 MiB; a bigger trust_anchors would drop the connection on every reconnect.
MAX_TRUST_ANCHORS_BYTES = 6 * 1024 * 1024


class TrustAnchors(_Msg, tag="trust_anchors"):
    """The server's trust anchors and intermediates as base64 DER certificates (see the module docstring)."""

    anchors: list[str]
    intermediates: list[str] = []


class JobFile(msgspec.Struct, kw_only=True):
    id: int
    name: str
    size: int
    streebog256: str
    url: str


class JobOffer(_Msg, tag="job"):
    job_id: int
    delivery_id: int
    document_id: int
    title: str
    files: list[JobFile]


class CancelJob(_Msg, tag="cancel"):
    job_id: int
    reason: str = ""


class ResultAck(_Msg, tag="result_ack"):
    result_id: str
    job_id: int
    outcome: Literal["accepted", "refused", "recorded"]
    code: str = ""
    message: str = ""


class CryptoarmLink(_Msg, tag="cryptoarm_link"):
    request_id: str
    url: str = ""
    job_ids: list[int] = []
    error: str = ""


class JobEvent(_Msg, tag="job_event"):
    """What happened to a job outside the agent (CryptoARM posted results, or the user cancelled there)."""

    job_id: int
    event: Literal["signed", "cancelled_in_app", "refused", "closed"]
    message: str = ""


class Pong(_Msg, tag="pong"):
    at: str = ""


class ErrorMsg(_Msg, tag="error"):
    code: str
    message: str = ""


# -- agent -> server ----------------------------------------------------------------------------------------


class Ack(_Msg, tag="ack"):
    job_id: int
    delivery_id: int


class Nack(_Msg, tag="nack"):
    job_id: int
    delivery_id: int
    reason: str = ""


class FileSignature(msgspec.Struct, kw_only=True):
    file_id: int
    cms: str  # base64 of the DER CMS


class Result(_Msg, tag="result"):
    job_id: int
    result_id: str
    signatures: list[FileSignature]


class Failure(_Msg, tag="failure"):
    job_id: int
    result_id: str
    code: str
    message: str = ""


class Ping(_Msg, tag="ping"):
    at: str = ""
    backend: str = ""


class CryptoarmOpen(_Msg, tag="cryptoarm_open"):
    request_id: str
    job_ids: list[int]


ServerMessage = Hello | TrustAnchors | JobOffer | CancelJob | ResultAck | CryptoarmLink | JobEvent | Pong | ErrorMsg
AgentMessage = Ack | Nack | Result | Failure | Ping | CryptoarmOpen

encode = msgspec.json.Encoder().encode
_agent_decoder = msgspec.json.Decoder(AgentMessage)
_server_decoder = msgspec.json.Decoder(ServerMessage)


def _decode(decoder: msgspec.json.Decoder[Any], raw: str | bytes) -> Any:
    """Decode one frame; nesting too deep for the (recursive) decoder is a ``DecodeError`` like any bad JSON.

    msgspec walks even an unknown field's value recursively, so 50,000 nested brackets raise RecursionError,
    which a receive loop catching DecodeError would not expect.
    """
    try:
        return decoder.decode(raw)
    except RecursionError:
        raise msgspec.DecodeError("JSON is nested too deeply") from None


def decode_agent(raw: str | bytes) -> AgentMessage:
    return _decode(_agent_decoder, raw)


def decode_server(raw: str | bytes) -> ServerMessage:
    return _decode(_server_decoder, raw)
