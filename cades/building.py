"""A detached CAdES-BES around a digest already computed: the signed attributes to sign, then the CMS.

Why: the agent hashes each document as it downloads it (to check it against the digest the server recorded),
and ``openssl cms -sign`` would hash the same bytes again. Streebog is most of a signature's cost (about 10 ms
per MB), so the openssl backend signs only the signed attributes (``openssl dgst -sign``) and the CMS is put
together here, in the shape ``openssl cms -sign -cades -nosmimecap`` gives it: contentType, signingTime,
messageDigest and signingCertificateV2 (the certificate's hash with the signature's digest), the GOST key's
OID as the signature algorithm, the certificate included, no content. ``openssl cms -verify`` and this
package's verifier both check what comes out (tests/cades/test_building.py).

The parts that depend only on the certificate are encoded once (:class:`DetachedSigner`); a signature adds
two short attributes and the framing, written directly in DER: asn1crypto re-encoding a certificate's names
for every signature cost more than the hash this saves.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from asn1crypto import core, tsp, x509

from cades import hashing
from cades.asn1 import DIGEST_OIDS

OID_OF_DIGEST: Final = {name: oid for oid, name in DIGEST_OIDS.items() if oid.startswith("1.2.643.7.1.1.2.")}


def _oid(dotted: str) -> bytes:
    return core.ObjectIdentifier(dotted).dump()


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = (
        bytes([n])
        if n < 0x80
        else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return bytes([tag]) + length + content


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _set(*parts: bytes) -> bytes:
    return _tlv(0x31, b"".join(sorted(parts)))  # DER: a SET OF in the order of its members' encodings


_NULL: Final = b"\x05\x00"
_DATA: Final = _oid("1.2.840.113549.1.7.1")
_SIGNED_DATA: Final = _oid("1.2.840.113549.1.7.2")
_CONTENT_TYPE: Final = _oid("1.2.840.113549.1.9.3")
_MESSAGE_DIGEST: Final = _oid("1.2.840.113549.1.9.4")
_SIGNING_TIME: Final = _oid("1.2.840.113549.1.9.5")
_VERSION_1: Final = b"\x02\x01\x01"


def _attribute(oid: bytes, value: bytes) -> bytes:
    return _seq(oid, _set(value))


def _time(when: dt.datetime) -> bytes:
    """RFC 5652 11.3: UTCTime through 2049, GeneralizedTime from 2050."""
    when = when.astimezone(dt.UTC)
    if when.year < 2050:
        return _tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode())
    return _tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode())


class DetachedSigner:
    """One certificate's CAdES-BES frame: ``attributes`` to sign, then ``cms`` around the key's signature."""

    def __init__(self, cert_der: bytes, digest_name: str) -> None:
        cert = x509.Certificate.load(cert_der)
        tbs = cert["tbs_certificate"]
        oid = OID_OF_DIGEST[digest_name]
        self.digest_name = digest_name
        self._cert = cert_der
        self._digest_alg = _seq(_oid(oid), _NULL)
        self._signature_alg = _seq(_oid(tbs["subject_public_key_info"]["algorithm"]["algorithm"].dotted), _NULL)
        self._sid = _seq(tbs["issuer"].dump(), tbs["serial_number"].dump())
        self._content_type = _attribute(_CONTENT_TYPE, _DATA)
        ess = tsp.SigningCertificateV2(
            {
                "certs": [
                    {
                        "hash_algorithm": {"algorithm": oid, "parameters": core.Null()},
                        "cert_hash": hashing.new(digest_name, cert_der).digest(),
                        "issuer_serial": {
                            "issuer": [x509.GeneralName(name="directory_name", value=cert.issuer)],
                            "serial_number": cert.serial_number,
                        },
                    }
                ]
            }
        )
        self._signing_certificate = _attribute(_oid("1.2.840.113549.1.9.16.2.47"), ess.dump())

    def attributes(self, digest: bytes, signing_time: dt.datetime) -> bytes:
        """The DER SET of signed attributes over a document with this ``digest``: what the key signs."""
        return _set(
            self._content_type,
            _attribute(_SIGNING_TIME, _time(signing_time)),
            _attribute(_MESSAGE_DIGEST, _tlv(0x04, digest)),
            self._signing_certificate,
        )

    def cms(self, attributes: bytes, signature: bytes) -> bytes:
        """The ContentInfo (DER) around ``attributes`` (from :meth:`attributes`) and the key's signature."""
        signer_info = _seq(
            _VERSION_1,
            self._sid,
            self._digest_alg,
            b"\xa0" + attributes[1:],  # [0] IMPLICIT: the same contents under the context tag
            self._signature_alg,
            _tlv(0x04, signature),
        )
        signed_data = _seq(
            _VERSION_1,
            _set(self._digest_alg),
            _seq(_DATA),
            _tlv(0xA0, self._cert),
            _set(signer_info),
        )
        return _seq(_SIGNED_DATA, _tlv(0xA0, signed_data))
