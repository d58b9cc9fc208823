"""OCSP (RFC 6960) for GOST certificates: build a request, check a response, ask a responder through a Fetcher.

Pure library code: no socket is opened here (:func:`query` goes through :class:`cades.fetch.Fetcher`), and
nothing raises on hostile bytes. A response that cannot be trusted is an :class:`OcspAnswer` with status
``unusable`` and a Russian ``problem`` for the report, so the verdict becomes ``indeterminate``, never ``valid``.

Who may sign a response (RFC 6960 §4.2.2.2): the certificate's issuer itself, or a responder certificate that
the issuer signed with extendedKeyUsage id-kp-OCSPSigning, valid when the response was produced. Responses
from the network and the BasicOCSPResponse values kept in CAdES-X Long / CAdES-A are checked by the same code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from typing import Final, Literal

import msgspec
from asn1crypto import core, x509
from asn1crypto import ocsp as asn1_ocsp
from msgspec.structs import replace

from . import hashing
from .asn1 import SIGNATURE_OIDS
from .certs import der_of, facts, name_text, names_equal
from .exclusive import released
from .fetch import Fetcher
from .signatures import cert_signed_by, is_gost_key, signature_ok

__all__ = [
    "MAX_RESPONSE_SIZE",
    "OcspAnswer",
    "OcspStatus",
    "build_request",
    "check_basic",
    "check_response",
    "probe_request",
    "query",
]

OcspStatus = Literal["good", "revoked", "unknown", "unusable"]

MAX_RESPONSE_SIZE: Final = 256 * 1024
"""A real OCSP response is a few kilobytes; anything far larger is not parsed at all."""
MAX_RESPONSE_CERTS: Final = 16
MAX_SINGLE_RESPONSES: Final = 256
CLOCK_SKEW: Final = dt.timedelta(minutes=5)
NONCE_SIZE: Final = 16

OCSP_SIGNING_OID: Final = "1.3.6.1.5.5.7.3.9"
NONCE_OID: Final = "1.3.6.1.5.5.7.48.1.2"
BASIC_RESPONSE_OID: Final = "1.3.6.1.5.5.7.48.1.1"
SHA1_OID: Final = "1.3.14.3.2.26"

# CertID hash algorithms a responder may answer with; each CertID is recomputed with its own algorithm.
_SHA_OIDS: Final = {
    SHA1_OID: "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_GOST_HASH_OIDS: Final = {"1.2.643.7.1.1.2.2": "streebog256", "1.2.643.7.1.1.2.3": "streebog512"}

_STATUS_TEXT: Final = {
    "malformed_request": "ответчик OCSP счёл запрос неверным",
    "internal_error": "внутренняя ошибка ответчика OCSP",
    "try_later": "ответчик OCSP просит повторить запрос позже",
    "sign_required": "ответчик OCSP требует подписанный запрос",
    "unauthorized": "ответчик OCSP не обслуживает этот сертификат",
}

UNREACHABLE: Final = "ответчик OCSP недоступен"
MALFORMED: Final = "ответ OCSP повреждён или имеет неверный формат"
NOT_AUTHORISED: Final = "ответ OCSP подписан не издателем и не уполномоченным им сервером"
BAD_SIGNATURE: Final = "подпись ответа OCSP неверна"
NO_SIGNER: Final = "сертификат, которым подписан ответ OCSP, не найден"
STALE: Final = "ответ OCSP устарел"
FUTURE: Final = "ответ OCSP выпущен в будущем (часы ответчика или сервера неверны)"
NONCE_MISMATCH: Final = "nonce не совпадает"
NOT_THIS_CERT: Final = "ответ OCSP не относится к этому сертификату"
TOO_LARGE: Final = "ответ OCSP слишком велик"
UNSUPPORTED: Final = "ответ OCSP подписан неподдерживаемым алгоритмом (ожидается ГОСТ Р 34.10-2012)"


class OcspAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What one OCSP response says about one certificate, or why it cannot be used (``problem``).

    ``status`` is judged at the time the caller asks about: a certificate revoked after that time is ``good``
    with ``revocation_time`` still set, so a report can say it was revoked later. ``responder`` names who
    signed the response (the issuer or its delegated responder), ``url`` where it came from ("" if embedded).
    """

    status: OcspStatus
    revocation_time: dt.datetime | None = None
    reason: str | None = None
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None
    produced_at: dt.datetime | None = None
    responder: str = ""
    url: str = ""
    problem: str = ""


def _unusable(problem: str, url: str = "") -> OcspAnswer:
    return OcspAnswer(status="unusable", problem=problem, url=url)


# --- CertID ---------------------------------------------------------------------------------------------


def _hash(oid: str, data: bytes) -> bytes | None:
    sha = _SHA_OIDS.get(oid)
    if sha is not None:
        return hashlib.new(sha, data).digest()
    gost = _GOST_HASH_OIDS.get(oid)
    if gost is not None:
        return hashing.digest(gost, data)
    return None


def _key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's value without the unused-bits octet: what CertID's key hash covers."""
    contents = cert["tbs_certificate"]["subject_public_key_info"]["public_key"].contents or b""
    return bytes(contents[1:])


def _cert_id(cert: x509.Certificate, issuer: x509.Certificate, hash_oid: str) -> tuple[bytes, bytes, int] | None:
    name_hash = _hash(hash_oid, issuer["tbs_certificate"]["subject"].dump())
    key_hash = _hash(hash_oid, _key_bits(issuer))
    if name_hash is None or key_hash is None:
        return None
    return name_hash, key_hash, int(cert["tbs_certificate"]["serial_number"].native)


def build_request(cert: x509.Certificate, issuer: x509.Certificate, *, nonce: bytes | None) -> bytes:
    """A DER OCSPRequest for one certificate: CertID with SHA-1 (what every responder accepts), optional nonce.

    Encoded by hand: the structure is fixed and tiny, and asn1crypto's builder costs milliseconds for it.
    Raises ValueError only when our own certificates are unreadable (the caller holds them, they are not input
    from the network).
    """
    ids = _cert_id(cert, issuer, SHA1_OID)
    if ids is None:  # pragma: no cover - SHA-1 is always available
        raise ValueError("SHA-1 unavailable")
    return _request(*ids, nonce=nonce)


def probe_request() -> bytes:
    """A well-formed request about no real certificate (SHA-1 CertID of zeros, serial 1): any responder answers
    it (unknown, unauthorized...), so it shows a responder is reachable, while some (``openssl ocsp``) never answer
    a malformed request at all."""
    return _request(bytes(20), bytes(20), 1, nonce=None)


def _request(name_hash: bytes, key_hash: bytes, serial: int, *, nonce: bytes | None) -> bytes:
    sha1 = _tlv(0x30, core.ObjectIdentifier(SHA1_OID).dump() + b"\x05\x00")
    cert_id = _tlv(0x30, sha1 + _tlv(0x04, name_hash) + _tlv(0x04, key_hash) + core.Integer(serial).dump())
    tbs = _tlv(0x30, _tlv(0x30, cert_id))  # requestList: SEQUENCE OF Request { reqCert }
    if nonce is not None:
        extension = _tlv(0x30, core.ObjectIdentifier(NONCE_OID).dump() + _tlv(0x04, _tlv(0x04, nonce)))
        tbs += _tlv(0xA2, _tlv(0x30, extension))  # requestExtensions [2] EXPLICIT Extensions
    return _tlv(0x30, _tlv(0x30, tbs))


def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(raw))) + raw + body


# --- checking -------------------------------------------------------------------------------------------


def check_response(
    der: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: dt.datetime,
    now: dt.datetime,
    nonce: bytes | None,
    pool: Sequence[x509.Certificate] = (),
    url: str = "",
) -> OcspAnswer:
    """Check a full OCSPResponse (as a responder sends it) about ``cert`` issued by ``issuer``.

    ``at`` is the time the status is judged at (the signing time), ``now`` the time freshness is judged at,
    ``nonce`` the one we sent (None: none sent), ``pool`` extra certificates that may hold a delegated
    responder's certificate when the response does not carry it. Never raises for anything in the
    response; only naive ``at``/``now`` (the caller's bug) are a ValueError.
    """
    _require_aware(at, now)
    if not isinstance(der, bytes | bytearray | memoryview):
        return _unusable(MALFORMED, url)
    if len(der) > MAX_RESPONSE_SIZE:
        return _unusable(TOO_LARGE, url)
    try:
        response = asn1_ocsp.OCSPResponse.load(bytes(der), strict=True)
        status = response["response_status"].native
        if status != "successful":
            return _unusable(_STATUS_TEXT.get(str(status), f"ответчик OCSP вернул ошибку ({status})"), url)
        response_bytes = response["response_bytes"]
        if response_bytes["response_type"].dotted != BASIC_RESPONSE_OID:
            return _unusable("ответ OCSP неизвестного типа", url)
        basic = asn1_ocsp.BasicOCSPResponse.load(bytes(response_bytes["response"]), strict=True)
        return _check(basic, cert, issuer, at=at, now=now, nonce=nonce, pool=pool, url=url)
    except Exception:  # any damage asn1crypto trips over, on the surface or deep inside, is an unusable response
        return _unusable(MALFORMED, url)


def check_basic(
    basic: asn1_ocsp.BasicOCSPResponse,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: dt.datetime,
    now: dt.datetime,
    pool: Sequence[x509.Certificate] = (),
) -> OcspAnswer:
    """Check a BasicOCSPResponse kept inside a signature (CAdES-X Long / CAdES-A revocation values).

    The same rules as :func:`check_response` without a nonce (the signer asked for it, not us). For archived
    evidence, pass as ``now`` the time the response had to be fresh at. Never raises for anything in the value.
    """
    _require_aware(at, now)
    try:
        return _check(basic, cert, issuer, at=at, now=now, nonce=None, pool=pool, url="")
    except Exception:  # any damage asn1crypto trips over deep inside is still just an unusable value
        return _unusable(MALFORMED)


def _require_aware(*moments: dt.datetime) -> None:
    """A naive time is the caller's bug, not a property of the response: say so instead of answering unusable."""
    if any(m.tzinfo is None for m in moments):
        raise ValueError("OCSP check times must be timezone-aware")


def _check(
    basic: asn1_ocsp.BasicOCSPResponse,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: dt.datetime,
    now: dt.datetime,
    nonce: bytes | None,
    pool: Sequence[x509.Certificate],
    url: str,
) -> OcspAnswer:
    data = basic["tbs_response_data"]
    produced_at: dt.datetime = data["produced_at"].native
    # What is known so far rides along, so even an unusable answer tells the report what it did learn.
    known = OcspAnswer(status="unusable", url=url, produced_at=produced_at)
    embedded = list(basic["certs"] or [])
    if len(embedded) > MAX_RESPONSE_CERTS:
        return replace(known, problem=MALFORMED)

    signer, problem = _find_signer(basic, issuer, [*embedded, *pool], produced_at)
    if signer is None:
        return replace(known, problem=problem)
    known = replace(known, responder=_human_name(signer))

    single = _matching_response(data["responses"], cert, issuer)
    if single is None:
        return replace(known, problem=NOT_THIS_CERT)
    this_update: dt.datetime = single["this_update"].native
    next_update: dt.datetime | None = single["next_update"].native
    known = replace(known, this_update=this_update, next_update=next_update)

    if this_update > now + CLOCK_SKEW or produced_at > now + CLOCK_SKEW:
        return replace(known, problem=FUTURE)
    if next_update is not None and next_update < now:
        return replace(known, problem=STALE)
    if nonce is not None:
        theirs = _response_nonce(data)
        if theirs is not None and theirs != nonce:
            return replace(known, problem=NONCE_MISMATCH)

    status = single["cert_status"]
    if status.name == "good":
        return replace(known, status="good")
    if status.name == "revoked":
        info = status.chosen
        revoked_at: dt.datetime = info["revocation_time"].native
        reason_value = info["revocation_reason"]
        reason = str(reason_value.native) if reason_value.native is not None else None
        if reason == "remove_from_crl":
            return replace(known, status="good")
        verdict: OcspStatus = "revoked" if revoked_at <= at else "good"
        return replace(known, status=verdict, revocation_time=revoked_at, reason=reason)
    return replace(known, status="unknown")


def _find_signer(
    basic: asn1_ocsp.BasicOCSPResponse,
    issuer: x509.Certificate,
    candidates: Sequence[x509.Certificate],
    produced_at: dt.datetime,
) -> tuple[x509.Certificate | None, str]:
    """The certificate whose key signed the response, if the issuer authorised it; else (None, the problem)."""
    responder_id = basic["tbs_response_data"]["responder_id"]
    tbs = basic["tbs_response_data"].dump()
    sig_oid = basic["signature_algorithm"]["algorithm"].dotted
    signature = basic["signature"].native
    seen: set[bytes] = set()
    matching: list[x509.Certificate] = []
    for cand in [issuer, *candidates]:
        try:
            der = der_of(cand)
        except Exception:
            continue
        if der not in seen and _responder_id_matches(responder_id, cand):
            seen.add(der)
            matching.append(cand)
            if len(matching) >= MAX_RESPONSE_CERTS:
                break  # each candidate costs a GOST verification: a hostile bag of look-alikes is cut short
    if not matching:
        return None, NO_SIGNER
    checkable = sig_oid in SIGNATURE_OIDS and any(is_gost_key(c) for c in matching)
    problem = BAD_SIGNATURE if checkable else UNSUPPORTED
    for cand in matching:
        if signature_ok(tbs, sig_oid, signature, cand) is not True:
            continue
        if _same_key(cand, issuer):
            return cand, ""
        if _delegated_by(cand, issuer, produced_at):
            return cand, ""
        problem = NOT_AUTHORISED
    return None, problem


def _responder_id_matches(responder_id: asn1_ocsp.ResponderId, cert: x509.Certificate) -> bool:
    try:
        if responder_id.name == "by_name":
            return names_equal(responder_id.chosen, cert["tbs_certificate"]["subject"])
        if responder_id.name == "by_key":
            return bool(responder_id.chosen.native == hashlib.sha1(_key_bits(cert)).digest())
    except Exception:
        return False
    return False


def _same_key(a: x509.Certificate, b: x509.Certificate) -> bool:
    return bool(
        a["tbs_certificate"]["subject_public_key_info"].dump() == b["tbs_certificate"]["subject_public_key_info"].dump()
    )


def _delegated_by(responder: x509.Certificate, issuer: x509.Certificate, produced_at: dt.datetime) -> bool:
    """RFC 6960 §4.2.2.2: issued and signed by the CA, with id-kp-OCSPSigning, valid when the answer was made."""
    tbs = responder["tbs_certificate"]
    if not names_equal(tbs["issuer"], issuer["tbs_certificate"]["subject"]):
        return False
    try:
        eku = responder.extended_key_usage_value
        purposes = {p.dotted for p in eku} if eku is not None else set()
        validity = tbs["validity"]
        not_before: dt.datetime = validity["not_before"].chosen.native
        not_after: dt.datetime = validity["not_after"].chosen.native
    except Exception:
        return False
    if OCSP_SIGNING_OID not in purposes or not not_before <= produced_at <= not_after:
        return False
    return cert_signed_by(responder, issuer) is True


def _matching_response(
    responses: asn1_ocsp.Responses, cert: x509.Certificate, issuer: x509.Certificate
) -> asn1_ocsp.SingleResponse | None:
    computed: dict[str, tuple[bytes, bytes, int] | None] = {}
    for index, single in enumerate(responses):
        if index >= MAX_SINGLE_RESPONSES:
            break
        cert_id = single["cert_id"]
        oid = cert_id["hash_algorithm"]["algorithm"].dotted
        if oid not in computed:
            computed[oid] = _cert_id(cert, issuer, oid)
        ours = computed[oid]
        if ours is None:
            continue
        name_hash, key_hash, serial = ours
        if (
            cert_id["serial_number"].native == serial
            and cert_id["issuer_name_hash"].native == name_hash
            and cert_id["issuer_key_hash"].native == key_hash
        ):
            return single
    return None


def _response_nonce(data: asn1_ocsp.ResponseData) -> bytes | None:
    """The nonce the responder echoed; RFC 8954 wraps it in an OCTET STRING, some responders put it bare."""
    for ext in data["response_extensions"] or []:
        if ext["extn_id"].dotted != NONCE_OID:
            continue
        raw = bytes(ext["extn_value"].contents or b"")
        try:
            inner = core.OctetString.load(raw, strict=True).native
        except Exception:
            return raw
        return bytes(inner)
    return None


def _human_name(cert: x509.Certificate) -> str:
    try:
        common = facts(cert).info.identity.get("common_name")
        return common or name_text(cert["tbs_certificate"]["subject"])
    except Exception:
        return ""


# --- asking a responder ---------------------------------------------------------------------------------


def query(
    fetcher: Fetcher,
    url: str,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: dt.datetime,
    now: dt.datetime,
    pool: Sequence[x509.Certificate] = (),
    use_nonce: bool = True,
) -> OcspAnswer:
    """Ask the responder at ``url`` about ``cert`` (with a fresh random nonce) and check its answer.

    ``use_nonce`` False sends none: for a fetcher that may serve a stored answer (whose nonce was someone
    else's), where freshness rests on thisUpdate/nextUpdate alone. Never raises for network trouble or anything
    the responder sends (unreachable: ``unusable``).
    """
    _require_aware(at, now)
    nonce = os.urandom(NONCE_SIZE) if use_nonce else None
    try:
        request = build_request(cert, issuer, nonce=nonce)
    except Exception:
        return _unusable("не удалось составить запрос OCSP для этого сертификата", url)
    with released():  # the network: other verifications go on meanwhile
        body = fetcher.post_ocsp(url, request)
    if body is None:
        return _unusable(UNREACHABLE, url)
    return check_response(body, cert, issuer, at=at, now=now, nonce=nonce, pool=pool, url=url)
