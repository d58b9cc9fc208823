"""Property-based fuzzing: mutated CMS blobs and certificates give a result or MalformedInput, nothing else."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cades.asn1 import MalformedInput, ber_to_der, load_certificate
from cades.result import REASONS, WARNINGS, VerificationResult
from cades.validation import ValidationContext
from cades.verify import verify_cms
from tests.support.pki_fixtures import GostPki

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)


def mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, value) edits: flip, set, insert, delete, truncate, duplicate a slice."""
    buf = bytearray(data)
    for kind, pos, value in ops:
        if not buf:
            break
        i = pos % len(buf)
        if kind == 0:
            buf[i] ^= 1 << (value % 8)
        elif kind == 1:
            buf[i] = value % 256
        elif kind == 2:
            buf[i:i] = bytes([value % 256])
        elif kind == 3:
            del buf[i]
        elif kind == 4:
            del buf[i:]
        else:
            j = min(len(buf), i + 1 + value % 64)
            buf[i:i] = buf[i:j]
    return bytes(buf)


edits = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=6)


def check_outcome(blob: bytes, content: bytes | None, context: ValidationContext | None = None) -> None:
    try:
        result = verify_cms(blob, content, context=context)
    except MalformedInput:
        return
    assert isinstance(result, VerificationResult)
    for sig in result.signatures:
        assert sig.status in ("valid", "invalid", "indeterminate")
        assert set(sig.reasons) <= REASONS.keys()
        assert set(sig.warnings) <= WARNINGS.keys()
        if sig.status == "valid":
            assert sig.intact


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    check_outcome(data, b"x")
    check_outcome(b"0\x80" + data, None)


@FUZZ
@given(data=st.data())
def test_mutated_openssl_cades_with_full_validation(gost_pki: GostPki, data: st.DataObject) -> None:
    """Mutations of a signature with chain, CRL and trust store: the validator's paths get fuzzed too."""
    from cades.asn1 import load_crl

    pki = gost_pki
    blob = _cached_signature(pki)
    ctx = ValidationContext(
        trust_roots=(load_certificate(pki.root.cert_pem),),
        crls=(load_crl(pki.crl.read_bytes()),),
    )
    check_outcome(mutate(blob, data.draw(edits)), b"fuzz document", ctx)


_SIG_CACHE: dict[int, bytes] = {}


def _cached_signature(pki: GostPki) -> bytes:
    key = id(pki)
    if key not in _SIG_CACHE:
        _SIG_CACHE[key] = pki.pki.sign(pki.user256, b"fuzz document", certfile=[pki.inter.cert])
    return _SIG_CACHE[key]


@FUZZ
@given(data=st.data())
def test_mutated_certificates(gost_pki: GostPki, data: st.DataObject) -> None:
    """Trust-store certificates from outside: loading either works or raises MalformedInput."""
    der = gost_pki.user256.cert_der
    blob = mutate(der, data.draw(edits))
    try:
        cert = load_certificate(blob)
    except MalformedInput:
        return
    ctx = ValidationContext(trust_roots=(cert,))
    check_outcome(_cached_signature(gost_pki), b"fuzz document", ctx)


@FUZZ
@given(data=st.binary(max_size=300))
def test_ber_to_der_never_crashes_differently(data: bytes) -> None:
    try:
        out = ber_to_der(data)
    except ValueError:
        return
    assert ber_to_der(out) == out  # DER is a fixed point
