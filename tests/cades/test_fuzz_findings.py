"""Inputs the fuzz harness (tests/fuzz) found, kept as regression tests of the parser they broke.

A certificate whose subject or issuer name is damaged inside (an attribute that is not a SEQUENCE, a UTF8String
that is not UTF-8) passed ``load_certificate``: asn1crypto parses names lazily, and ``touch_certificate`` only
re-dumped the name's bytes. Chain validation then raised ValueError/UnicodeDecodeError while naming the
certificate in a message, so ``load_certificate``'s promise (damage shows up here, as MalformedInput, not later)
did not hold.
"""

from __future__ import annotations

import pytest

from cades.asn1 import MalformedInput, load_certificate
from tests.fuzz.mutators import Node, parse_der, serialize
from tests.support.pki_fixtures import GostPki


def _damaged_name(der: bytes, field: int, damage: str) -> bytes:
    """The certificate with its first name attribute damaged (``field`` 3: issuer, 5: subject)."""
    cert = parse_der(der)[0]
    assert cert.children is not None and cert.children[0].children is not None
    name = cert.children[0].children[field]
    assert name.children is not None and name.children[0].children is not None
    attribute: Node = name.children[0].children[0]
    if damage == "tag":
        attribute.tag = b"\x18"  # a GeneralizedTime where an AttributeTypeAndValue SEQUENCE belongs
    else:
        assert attribute.children is not None
        attribute.children[1] = Node(tag=b"\x0c", content=b"\xff\xfe")  # UTF8String, not UTF-8
    return serialize([cert])


@pytest.mark.parametrize("field", [3, 5], ids=["issuer", "subject"])
@pytest.mark.parametrize("damage", ["tag", "utf8"])
def test_a_certificate_with_a_damaged_name_is_refused_when_loaded(gost_pki: GostPki, field: int, damage: str) -> None:
    der = _damaged_name(gost_pki.user256.cert_der, field, damage)
    assert der != gost_pki.user256.cert_der
    with pytest.raises(MalformedInput):
        load_certificate(der)


def test_the_genuine_certificate_still_loads(gost_pki: GostPki) -> None:
    cert = load_certificate(gost_pki.user256.cert_der)
    assert cert.subject.human_friendly and cert.issuer.human_friendly


def _indefinite_with_bad_algorithm(der: bytes) -> bytes:
    """The outer SEQUENCE in BER indefinite form (asn1crypto re-encodes such a value on ``dump()``) and the
    outer signatureAlgorithm turned into a NumericString: parsing is lazy, so only the re-encoding trips on it."""
    outer = parse_der(der)[0]
    assert outer.children is not None
    outer.length_form = "indefinite"
    outer.children[1].tag = b"\x12"
    return serialize([outer])


def test_a_certificate_that_cannot_be_re_encoded_is_refused_when_loaded(gost_pki: GostPki) -> None:
    """Found by the harness: ``load_certificate`` accepted it and the first ``der_of`` (in ``facts``) raised."""
    outer = parse_der(gost_pki.user256.cert_der)[0]
    assert outer.children is not None and outer.children[0].children is not None
    outer.length_form = "indefinite"
    extensions = outer.children[0].children[-1].children
    assert extensions is not None and extensions[0].children is not None
    first = extensions[0].children[0]
    assert first.children is not None
    first.children[0] = Node(tag=b"\x26", children=[])  # extnID: a constructed OBJECT IDENTIFIER
    with pytest.raises(MalformedInput):
        load_certificate(serialize([outer]))


def test_a_crl_that_cannot_be_re_encoded_is_refused_when_loaded(gost_pki: GostPki) -> None:
    """Found by the harness: ``load_crl`` accepted it and ``crl_index`` raised on the CRL's ``dump()``."""
    from cades.asn1 import load_crl

    crl = gost_pki.pki.run("crl", "-in", gost_pki.crl, "-outform", "DER")
    load_crl(crl)
    with pytest.raises(MalformedInput):
        load_crl(_indefinite_with_bad_algorithm(crl))
