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

Binding a certificate through the agent (the signer's page asks, the server relays; issue 14):
- the server sends ``certificates_request`` (a fresh ``request_id``); the agent answers ``certificates`` under the
  same id: the certificates its backend could sign with, as base64 DER, plus the thumbprint of the one it is
  configured to sign with (``signing_thumbprint``), or an ``error`` (the CryptoARM backend lists none: binding
  goes through CryptoARM's own route there);
- the server sends ``prove_key`` with a one-time ``challenge`` text and the chosen ``thumbprint``; the agent signs
  the challenge's UTF-8 bytes (detached CMS) with its configured certificate and answers ``key_proof`` with the
  CMS and that certificate, or an error ``code``/``message``. The agent signs only a text of the server's
  registration-challenge form naming its own user (:func:`is_registration_challenge`), so this path cannot be
  used to sign a document, and only when the thumbprint is its configured certificate;
- the server binds the certificate only if the CMS verifies with it over the challenge it issued, so an agent
  that lies about its certificate binds nothing. Every field is bounded (the ``MAX_*`` below); an answer out of
  bounds is dropped as unreadable. An agent older than these messages skips them as unreadable and the server's
  request times out.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec


class _Msg(msgspec.Struct, tag_field="type", kw_only=True, forbid_unknown_fields=False):
    pass


# A database row id as SQLite stores it (a signed 64-bit INTEGER): the ids an agent sends back are looked up as is,
# and a larger number made the lookup raise OverflowError, an internal error for what is only an unreadable frame.
RowId = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


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


# -- binding a certificate (see the module docstring) --

MAX_REQUEST_ID = 64
MAX_AGENT_CERTIFICATES = 50  # a personal store rarely holds more than a handful
MAX_CERTIFICATE_BYTES = 16 * 1024  # one DER certificate (GOST ones are 1-3 KiB)
MAX_CHALLENGE = 200
MAX_PROOF_BYTES = 64 * 1024  # one detached CMS with its certificate chain (the server's MAX_SIGNATURE_BYTES)
MAX_ERROR_MESSAGE = 500

RequestId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REQUEST_ID)]
Thumbprint = Annotated[str, msgspec.Meta(max_length=64)]
Base64Certificate = Annotated[str, msgspec.Meta(max_length=(MAX_CERTIFICATE_BYTES * 4) // 3 + 4)]
ErrorText = Annotated[str, msgspec.Meta(max_length=MAX_ERROR_MESSAGE)]

# The one form of the server's registration challenge (server.workflow.certificates.new_challenge): the agent
# signs nothing else through prove_key.
_CHALLENGE = re.compile(r"klikdok-certificate-registration user=(\d{1,18}) nonce=[A-Za-z0-9_-]{16,100}")


def is_registration_challenge(text: str, user_id: int) -> bool:
    """True if ``text`` is exactly a registration challenge for ``user_id`` (and so means nothing elsewhere)."""
    match = _CHALLENGE.fullmatch(text)
    return match is not None and int(match.group(1)) == user_id


class CertificatesRequest(_Msg, tag="certificates_request"):
    request_id: RequestId


class ProveKey(_Msg, tag="prove_key"):
    request_id: RequestId
    challenge: Annotated[str, msgspec.Meta(max_length=MAX_CHALLENGE)]
    thumbprint: Thumbprint


class Pong(_Msg, tag="pong"):
    at: str = ""


class ErrorMsg(_Msg, tag="error"):
    code: str
    message: str = ""


# -- agent -> server ----------------------------------------------------------------------------------------


class Ack(_Msg, tag="ack"):
    job_id: RowId
    delivery_id: RowId


class Nack(_Msg, tag="nack"):
    job_id: RowId
    delivery_id: RowId
    reason: str = ""


class FileSignature(msgspec.Struct, kw_only=True):
    file_id: RowId
    cms: str  # base64 of the DER CMS


class Result(_Msg, tag="result"):
    job_id: RowId
    result_id: str
    signatures: list[FileSignature]


class Failure(_Msg, tag="failure"):
    job_id: RowId
    result_id: str
    code: str
    message: str = ""


class Ping(_Msg, tag="ping"):
    at: str = ""
    backend: str = ""


class CryptoarmOpen(_Msg, tag="cryptoarm_open"):
    request_id: str
    job_ids: list[RowId]


class Certificates(_Msg, tag="certificates"):
    """The answer to ``certificates_request``: base64 DER certificates, or an ``error`` (Russian) with none."""

    request_id: RequestId
    certificates: Annotated[list[Base64Certificate], msgspec.Meta(max_length=MAX_AGENT_CERTIFICATES)] = []
    signing_thumbprint: Thumbprint = ""
    error: ErrorText = ""


class KeyProof(_Msg, tag="key_proof"):
    """The answer to ``prove_key``: a detached CMS over the challenge and the certificate, or an error."""

    request_id: RequestId
    cms: Annotated[str, msgspec.Meta(max_length=(MAX_PROOF_BYTES * 4) // 3 + 4)] = ""
    certificate: Base64Certificate = ""
    code: Annotated[str, msgspec.Meta(max_length=60)] = ""
    message: ErrorText = ""


ServerMessage = (
    Hello
    | TrustAnchors
    | JobOffer
    | CancelJob
    | ResultAck
    | CryptoarmLink
    | JobEvent
    | Pong
    | ErrorMsg
    | CertificatesRequest
    | ProveKey
)
AgentMessage = Ack | Nack | Result | Failure | Ping | CryptoarmOpen | Certificates | KeyProof

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
