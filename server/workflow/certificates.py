"""Registering a signing certificate takes proof that the registrant holds its private key.

Without it, any employee could register a colleague's public certificate first (certificates are public:
every signature carries one) and the owner would be refused as "already registered to someone else". So the
server hands out a challenge (random, bound to the user, short-lived, stored only as a hash, good for one
attempt), and a registration must carry a detached CAdES signature over exactly the challenge's bytes that
verifies with the key of the certificate being registered. The onboarding issue will replace this flow; the
rule that registration needs the key stays.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import x509

from cades import hashing
from cades.asn1 import MalformedInput, decode_armour
from cades.cms import parse_signed_data
from cades.verify import check_signer, find_signer_certificate

CHALLENGE_TTL = timedelta(minutes=10)
MAX_SIGNATURE_BYTES = 64 * 1024
# Base64 text is a third longer than its bytes, PEM a little more: room for the largest accepted signature.
MAX_ARMOURED_BYTES = 2 * MAX_SIGNATURE_BYTES
_PREFIX = "klikdok-certificate-registration"


@dataclass(frozen=True)
class Challenge:
    text: str
    expires_at: str

    @property
    def hash(self) -> str:
        return challenge_hash(self.text)


def challenge_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def new_challenge(user_id: int, now: datetime | None = None) -> Challenge:
    """The text the user signs: names its purpose and the user, so a signed challenge means nothing elsewhere."""
    now = now or datetime.now(UTC)
    text = f"{_PREFIX} user={user_id} nonce={secrets.token_urlsafe(32)}"
    return Challenge(text=text, expires_at=(now + CHALLENGE_TTL).isoformat(timespec="seconds"))


def decode_signature(value: str) -> bytes:
    """A CMS signature sent as base64 or PEM text; ValueError if it is neither (or empty, or too large)."""
    data = decode_armour(value.strip().encode(), max_size=MAX_ARMOURED_BYTES)
    if len(data) > MAX_SIGNATURE_BYTES:
        raise ValueError("too large")
    return data


def decode_certificate(value: str) -> bytes:
    """The certificate a registration names, sent as PEM or base64 text: its DER; ValueError if it is neither.

    Only the armour is taken off here; whether the bytes are an X.509 certificate is the registration's question.
    """
    return decode_armour(value.strip().encode(), max_size=MAX_ARMOURED_BYTES)


def carried_certificate(cms: bytes, *, max_size: int = MAX_SIGNATURE_BYTES) -> x509.Certificate | None:
    """The certificate of the one signer of ``cms`` when the CMS carries it; None when it is not a CMS, has
    another number of signers or does not carry that signer's certificate.

    A .sig made by CryptoPro, КриптоАРМ or ``cryptcp`` normally carries its signer's certificate, so the person
    binding a certificate need not find the .cer file as well; and a document signature refused for an unbound
    certificate names the certificate to offer. Nothing is proven here: the caller still checks the signature.
    """
    try:
        parsed = parse_signed_data(cms, max_size=max_size)
    except MalformedInput:
        return None
    if len(parsed.signers) != 1 or not parsed.certificates:
        return None
    return find_signer_certificate(parsed.signers[0], parsed.certificates)


def proves_possession(cms: bytes, challenge: str, cert: x509.Certificate) -> bool:
    """True if ``cms`` is one signature over ``challenge`` made with the key of ``cert`` (cades checks the
    digest, the signed attributes and the GOST signature value). A certificate the signature carries for its
    signer must be this very certificate; chain and validity are not the question here (signing checks them)."""
    try:
        parsed = parse_signed_data(cms, max_size=MAX_SIGNATURE_BYTES)
    except MalformedInput:
        return False
    if len(parsed.signers) != 1:
        return False
    if parsed.content is not None and parsed.content != challenge.encode():
        return False
    signer = parsed.signers[0]
    carried = find_signer_certificate(signer, parsed.certificates) if parsed.certificates else None
    if carried is not None and carried.dump() != cert.dump():
        return False
    data = challenge.encode()
    memo: dict[str, bytes] = {}

    def source(name: str) -> bytes | None:
        if name not in memo:
            memo[name] = hashing.digest(name, data)
        return memo[name]

    math = check_signer(parsed, signer, source, [cert])
    return (
        math.cert is not None
        and math.cert.dump() == cert.dump()
        and not math.reasons
        and math.signature_valid is True
        and math.digest_valid is True
    )
