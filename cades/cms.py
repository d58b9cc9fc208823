"""CMS SignedData parsing into plain values the verifier can check without touching asn1crypto again.

Parsing is separate from checking so that a broken SignerInfo becomes one ``malformed`` signature rather
than a failure of the whole document, and so that nothing is parsed twice on the hot path.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from asn1crypto import cms, core, tsp, x509
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp

from . import hashing
from .asn1 import (
    CERT_VALUES_OID,
    DIGEST_OIDS,
    GOST_KEY_OIDS,
    MAX_INPUT_SIZE,
    REVOCATION_VALUES_OID,
    SIGNATURE_OIDS,
    MalformedInput,
    _der_len,
    _read_header,
    ber_to_der,
    load_content_info,
    touch_certificate,
)
from .exclusive import exclusively

__all__ = [
    "EssCertId",
    "ParsedSignedData",
    "ParsedSigner",
    "check_digested_data",
    "parse_signed_data",
]

SIGNED_DATA_OID: Final = "1.2.840.113549.1.7.2"
DIGESTED_DATA_OID: Final = "1.2.840.113549.1.7.5"
DATA_OID: Final = "1.2.840.113549.1.7.1"
TIMESTAMP_TOKEN_OID: Final = "1.2.840.113549.1.9.16.2.14"
SIGNING_CERT_V1_OID: Final = "1.2.840.113549.1.9.16.2.12"
SIGNING_CERT_V2_OID: Final = "1.2.840.113549.1.9.16.2.47"
CONTENT_TYPE_OID: Final = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST_OID: Final = "1.2.840.113549.1.9.4"
SIGNING_TIME_OID: Final = "1.2.840.113549.1.9.5"
SHA1_OID: Final = "1.3.14.3.2.26"
SHA256_OID: Final = "2.16.840.1.101.3.4.2.1"


@dataclass(frozen=True, slots=True)
class EssCertId:
    """One ESSCertID(v2) from signingCertificate(V2): which certificate the signer meant to sign with."""

    hash_oid: str
    cert_hash: bytes
    issuer_names: tuple[x509.Name, ...]
    serial: int | None


@dataclass(slots=True)
class ParsedSigner:
    """A SignerInfo reduced to what verification needs; ``error`` set when it could not be read."""

    index: int
    error: str | None = None
    sid_issuer: x509.Name | None = None
    sid_serial: int | None = None
    sid_ski: bytes | None = None
    digest_oid: str = ""
    signature_oid: str = ""
    signature: bytes = b""
    signed_attrs_raw: bytes = b""
    has_signed_attrs: bool = False
    message_digest: bytes | None = None
    content_type_attr: str | None = None
    signing_time: dt.datetime | None = None
    ess_cert_ids: tuple[EssCertId, ...] | None = None
    ess_version: int = 0
    ess_der: bytes = b""  # the signingCertificate(V2) value as signed: the key of the memos on it
    timestamp_tokens: tuple[cms.ContentInfo, ...] = ()
    certificate_values: tuple[x509.Certificate, ...] = ()
    crl_values: tuple[asn1_crl.CertificateList, ...] = ()
    ocsp_values: tuple[asn1_ocsp.BasicOCSPResponse, ...] = ()  # CAdES-X Long revocation values
    attribute_problems: list[str] = field(default_factory=list)

    def signed_attrs_encodings(self) -> Iterator[bytes]:
        """What the signer may have signed: the SET as transmitted, then its DER re-encoding.

        Lazy on purpose: DER input (the usual case) verifies on the first candidate, so the
        re-encoding is only paid for BER input or a failing signature.
        """
        raw = self.signed_attrs_raw
        if not raw:
            return
        indefinite = len(raw) > 1 and raw[1] == 0x80
        if not indefinite:
            yield raw
        try:
            der = ber_to_der(raw)
        except ValueError:
            return
        if indefinite or der != raw:
            yield der

    @property
    def digest_name(self) -> str | None:
        return DIGEST_OIDS.get(self.digest_oid)

    @property
    def signature_supported(self) -> bool:
        return self.signature_oid in GOST_KEY_OIDS or self.signature_oid in SIGNATURE_OIDS


@dataclass(slots=True)
class ParsedSignedData:
    """The whole SignedData: content (if attached), certificate and CRL bags, the signers."""

    content_type: str
    content: bytes | None
    certificates: list[x509.Certificate]
    crls: list[asn1_crl.CertificateList]
    signers: list[ParsedSigner]
    digest_algorithms: tuple[str, ...]


@exclusively
def parse_signed_data(data: bytes, *, max_size: int = MAX_INPUT_SIZE) -> ParsedSignedData:
    """Parse a CMS SignedData; raise :class:`MalformedInput` only when the envelope itself is unusable."""
    info = load_content_info(data, max_size=max_size)
    if info["content_type"].dotted != SIGNED_DATA_OID:
        raise MalformedInput(f"это не подпись CMS SignedData (тип содержимого {info['content_type'].dotted})")
    try:
        sd = info["content"]
        encap = sd["encap_content_info"]
        content_type = encap["content_type"].dotted
        raw_content = encap["content"]
        content: bytes | None
        if isinstance(raw_content, core.Void) or raw_content.contents is None:
            content = None
        elif isinstance(raw_content, core.ParsableOctetString | core.OctetString):
            # bytes(), not .native: asn1crypto would hand back a parsed TSTInfo for a time-stamp token.
            content = bytes(raw_content)
        else:
            # eContent of a non-data type: what is signed is the OCTET STRING contents.
            content = raw_content.contents
        digest_algorithms = tuple(alg["algorithm"].dotted for alg in sd["digest_algorithms"])
        certificates: list[x509.Certificate] = []
        for choice in sd["certificates"] or []:
            if choice.name == "certificate":
                certificates.append(choice.chosen)
        crls: list[asn1_crl.CertificateList] = []
        for choice in sd["crls"] or []:
            if choice.name == "crl":
                crls.append(choice.chosen)
        signer_infos = list(sd["signer_infos"])
    except MalformedInput:
        raise
    except Exception as exc:
        raise MalformedInput(f"повреждённая структура SignedData: {_short(exc)}") from exc
    if not signer_infos:
        raise MalformedInput("в подписи нет ни одного подписанта (SignerInfo)")
    signers = [_parse_signer(i, si) for i, si in enumerate(signer_infos)]
    return ParsedSignedData(
        content_type=content_type,
        content=content,
        certificates=_usable_certificates(certificates),
        crls=crls,
        signers=signers,
        digest_algorithms=digest_algorithms,
    )


# DER -> the parsed certificate. The signer's and its CA's certificates ride in every signature they make; a
# certificate is never modified once parsed, so the same bytes can share one parsed object (and the memoised
# facts, names and signature verdicts that hang on it) instead of being parsed field by field every time.
# One memo per thread: a parsed object leaves the lock with the caller (see cades.exclusive), and asn1crypto
# objects are not safe to read from two threads at once.
_PARSED_BY_THREAD = threading.local()


def _parsed_memo() -> dict[bytes, x509.Certificate]:
    memo: dict[bytes, x509.Certificate] | None = getattr(_PARSED_BY_THREAD, "memo", None)
    if memo is None:
        memo = _PARSED_BY_THREAD.memo = {}
    return memo


def _usable_certificates(certs: list[x509.Certificate]) -> list[x509.Certificate]:
    """Drop bag certificates that do not even parse: they cannot be a signer or a chain link anyway."""
    out = []
    memo = _parsed_memo()
    for cert in certs:
        try:
            der = cert.dump()
            known = memo.get(der)
            if known is None:
                touch_certificate(cert)
                if len(memo) > 1024:
                    memo.clear()
                known = memo[der] = cert
            out.append(known)
        except Exception:
            continue
    return out


def _parse_signer(index: int, si: cms.SignerInfo) -> ParsedSigner:
    signer = ParsedSigner(index=index)
    try:
        sid = si["sid"]
        if sid.name == "issuer_and_serial_number":
            signer.sid_issuer = sid.chosen["issuer"]
            signer.sid_issuer.dump()
            signer.sid_serial = sid.chosen["serial_number"].native
        else:
            signer.sid_ski = sid.chosen.native
        signer.digest_oid = si["digest_algorithm"]["algorithm"].dotted
        signer.signature_oid = si["signature_algorithm"]["algorithm"].dotted
        signer.signature = si["signature"].native
        attrs = si["signed_attrs"]
        if _present(attrs) and not _read_signed_attrs_fast(signer, attrs.dump()) and len(attrs) > 0:
            signer.has_signed_attrs = True
            _read_signed_attrs(signer, attrs)
        unsigned = si["unsigned_attrs"]
        if _present(unsigned) and len(unsigned) > 0:
            _read_unsigned_attrs(signer, unsigned)
    except Exception as exc:
        signer.error = _short(exc)
    return signer


# The DER of an OBJECT IDENTIFIER's contents -> its dotted form (a signature names the same dozen OIDs every time).
_OIDS: dict[bytes, str] = {}


def _dotted(contents: bytes) -> str:
    known = _OIDS.get(contents)
    if known is None:
        if len(_OIDS) > 4096:
            _OIDS.clear()
        known = _OIDS[contents] = core.ObjectIdentifier.load(b"\x06" + _der_len(len(contents)) + contents).dotted
    return known


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(identifier, start, contents start, contents end) of each DER element in ``buf[start:end]``."""
    out = []
    pos = start
    while pos < end:
        _, ident, content_start, length = _read_header(buf, pos, end)
        if length is None:
            raise ValueError("indefinite length")
        out.append((ident, pos, content_start, content_start + length))
        pos = content_start + length
    return out


def _read_signed_attrs_fast(signer: ParsedSigner, dumped: bytes) -> bool:
    """The signed attributes read straight from their DER, without building asn1crypto objects for each (they were
    most of the time of a verification besides the hash). True when they were read; False for anything unusual
    (BER, an unexpected type where a known attribute is): then :func:`_read_signed_attrs` reads them as before and
    says what is wrong, so a damaged signature is judged exactly as it always was."""
    if not dumped or dumped[0] != 0xA0:
        return False
    raw = b"\x31" + dumped[1:]  # [0] IMPLICIT -> SET OF, as RFC 5652 §5.4 says to hash
    found: ParsedSigner = ParsedSigner(index=signer.index)
    try:
        _, _, start, length = _read_header(raw, 0, len(raw))
        if length is None or start + length != len(raw):
            return False
        attrs = _children(raw, start, start + length)
        if not attrs:
            return False
        seen: set[str] = set()
        for ident, _, a0, a1 in attrs:
            parts = _children(raw, a0, a1)
            if ident != 0x30 or len(parts) != 2 or parts[0][0] != 0x06 or parts[1][0] != 0x31:
                return False
            oid = _dotted(raw[parts[0][2] : parts[0][3]])
            values = _children(raw, parts[1][2], parts[1][3])
            if oid in (CONTENT_TYPE_OID, MESSAGE_DIGEST_OID, SIGNING_TIME_OID):
                if oid in seen or len(values) != 1:
                    found.attribute_problems.append(f"attribute {oid} repeated")
                seen.add(oid)
            if not values:
                if oid in (
                    CONTENT_TYPE_OID,
                    MESSAGE_DIGEST_OID,
                    SIGNING_TIME_OID,
                    SIGNING_CERT_V2_OID,
                    SIGNING_CERT_V1_OID,
                ):
                    return False
                continue
            v_ident, v_start, v0, v1 = values[0]
            if oid == MESSAGE_DIGEST_OID:
                if v_ident != 0x04:
                    return False
                found.message_digest = raw[v0:v1]
            elif oid == CONTENT_TYPE_OID:
                if v_ident != 0x06:
                    return False
                found.content_type_attr = _dotted(raw[v0:v1])
            elif oid == SIGNING_TIME_OID:
                if v_ident not in (0x17, 0x18):
                    return False
                found.signing_time = cms.Time.load(raw[v_start:v1]).chosen.native
            elif oid == SIGNING_CERT_V2_OID:
                found.ess_version = 2
                value = tsp.SigningCertificateV2.load(raw[v_start:v1])
                found.ess_der, found.ess_cert_ids = _ess_value(value, v2=True)
            elif oid == SIGNING_CERT_V1_OID and found.ess_version != 2:
                found.ess_version = 1
                value = tsp.SigningCertificate.load(raw[v_start:v1])
                found.ess_der, found.ess_cert_ids = _ess_value(value, v2=False)
    except Exception:
        return False
    signer.has_signed_attrs = True
    signer.signed_attrs_raw = raw
    signer.attribute_problems.extend(found.attribute_problems)
    signer.message_digest = found.message_digest
    signer.content_type_attr = found.content_type_attr
    signer.signing_time = found.signing_time
    signer.ess_version = found.ess_version
    signer.ess_der = found.ess_der
    signer.ess_cert_ids = found.ess_cert_ids
    return True


def _read_signed_attrs(signer: ParsedSigner, attrs: cms.CMSAttributes) -> None:
    raw = attrs.dump()
    signer.signed_attrs_raw = b"\x31" + raw[1:]  # [0] IMPLICIT -> SET OF, as RFC 5652 §5.4 says to hash
    seen: set[str] = set()
    for attr in attrs:
        oid = attr["type"].dotted
        values = attr["values"]
        if oid in (CONTENT_TYPE_OID, MESSAGE_DIGEST_OID, SIGNING_TIME_OID):
            if oid in seen or len(values) != 1:
                # RFC 5652 §11: these attributes are single-valued and must not repeat.
                signer.attribute_problems.append(f"attribute {oid} repeated")
            seen.add(oid)
        if oid == MESSAGE_DIGEST_OID:
            signer.message_digest = values[0].native
        elif oid == CONTENT_TYPE_OID:
            signer.content_type_attr = values[0].dotted
        elif oid == SIGNING_TIME_OID:
            signer.signing_time = values[0].chosen.native
        elif oid == SIGNING_CERT_V2_OID:
            signer.ess_version = 2
            signer.ess_der, signer.ess_cert_ids = _ess_value(values[0], v2=True)
        elif oid == SIGNING_CERT_V1_OID and signer.ess_version != 2:
            signer.ess_version = 1
            signer.ess_der, signer.ess_cert_ids = _ess_value(values[0], v2=False)


# The signingCertificate(V2) value -> its ESSCertIDs. A signer puts the same value (its certificate's hash, issuer
# and serial) into every signature it makes, so an archive of one person's signatures parses it once; the value
# is immutable bytes and the parsed tuple is frozen.
_ESS: dict[tuple[bytes, bool], tuple[EssCertId, ...]] = {}


def _ess_value(value: Any, *, v2: bool) -> tuple[bytes, tuple[EssCertId, ...]]:
    der = value.dump()
    known = _ESS.get((der, v2))
    if known is None:
        if len(_ESS) > 1024:
            _ESS.clear()
        known = _ESS[(der, v2)] = tuple(_ess_ids(value["certs"], v2=v2))
    return der, known


def _ess_ids(certs: Any, *, v2: bool) -> list[EssCertId]:
    out = []
    for item in certs:
        if v2:
            hash_alg = item["hash_algorithm"]
            hash_oid = hash_alg["algorithm"].dotted if _present(hash_alg) else SHA256_OID
        else:
            hash_oid = SHA1_OID
        issuer_serial = item["issuer_serial"]
        names: tuple[x509.Name, ...] = ()
        serial = None
        if _present(issuer_serial):
            names = tuple(gn.chosen for gn in issuer_serial["issuer"] if gn.name == "directory_name")
            serial = issuer_serial["serial_number"].native
        out.append(EssCertId(hash_oid, item["cert_hash"].native, names, serial))
    return out


def _read_unsigned_attrs(signer: ParsedSigner, attrs: cms.CMSAttributes) -> None:
    """Read CAdES-T and CAdES-X Long values; a broken optional attribute is noted, not fatal."""
    tokens: list[cms.ContentInfo] = []
    certs: list[x509.Certificate] = []
    crls: list[asn1_crl.CertificateList] = []
    ocsps: list[asn1_ocsp.BasicOCSPResponse] = []
    for attr in attrs:
        oid = attr["type"].dotted
        try:
            if oid == TIMESTAMP_TOKEN_OID:
                tokens.extend(attr["values"])
            elif oid == CERT_VALUES_OID:
                for value in attr["values"]:
                    certs.extend(value)
            elif oid == REVOCATION_VALUES_OID:
                for value in attr["values"]:
                    if _present(value["crl_vals"]):
                        crls.extend(value["crl_vals"])
                    if _present(value["ocsp_vals"]):
                        ocsps.extend(value["ocsp_vals"])
        except Exception as exc:
            signer.attribute_problems.append(f"unsigned attribute {oid}: {_short(exc)}")
    signer.timestamp_tokens = tuple(tokens)
    signer.certificate_values = tuple(_usable_certificates(certs))
    signer.crl_values = tuple(crls)
    signer.ocsp_values = tuple(ocsps)


@dataclass(frozen=True, slots=True)
class DigestedDataCheck:
    """Outcome of checking a CMS DigestedData (TC 26 examples A.3.x): not a signature, only a digest."""

    digest_algorithm: str
    content: bytes
    matches: bool


def check_digested_data(data: bytes) -> DigestedDataCheck:
    """Recompute the digest of a DigestedData's content and compare it with the stored one."""
    info = load_content_info(data)
    if info["content_type"].dotted != DIGESTED_DATA_OID:
        raise MalformedInput("это не структура CMS DigestedData")
    try:
        dd = info["content"]
        alg = dd["digest_algorithm"]["algorithm"].dotted
        content = dd["encap_content_info"]["content"].native or b""
        stored = dd["digest"].native
    except Exception as exc:
        raise MalformedInput(f"повреждённая структура DigestedData: {_short(exc)}") from exc
    name = DIGEST_OIDS.get(alg)
    if name is None:
        raise MalformedInput(f"неподдерживаемый алгоритм хэширования {alg}")
    return DigestedDataCheck(name, content, hashing.digest(name, content) == stored)


def _present(value: object) -> bool:
    """An OPTIONAL field that is really there (asn1crypto gives Void for absent ones)."""
    return value is not None and not isinstance(value, core.Void) and getattr(value, "contents", None) is not None


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
