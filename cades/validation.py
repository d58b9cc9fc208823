"""Certificate path validation for GOST certificates: trust anchors, chain building, CRLs.

OpenSSL's and asn1crypto's validators do not know GOST signatures on certificates, so the path is built
and checked here: the shell model (every certificate valid at the validation time), basicConstraints and
keyUsage, GOST signatures of certificates and CRLs, revocation from CRLs that the caller supplies, that
ride in the signature (CAdES-X Long) or, when the caller gives one, fetched through a :class:`cades.fetch.Fetcher`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from asn1crypto import crl as asn1_crl
from asn1crypto import x509

from . import hashing
from .asn1 import GOST_KEY_OIDS, SIGNATURE_OIDS, MalformedInput, load_certificates, load_crl
from .certs import der_of, facts, names_equal
from .fetch import Fetcher
from .gost import PublicKey
from .gost import verify as gost_verify

__all__ = [
    "ChainOutcome",
    "ValidationContext",
    "signature_ok",
    "validate_chain",
]

MAX_CHAIN: Final = 10
_CERT_SUFFIXES: Final = {".pem", ".crt", ".cer", ".der", ".p7b"}


# --- the context --------------------------------------------------------------------------------------


def _cert_key(cert: x509.Certificate) -> tuple[bytes, bytes]:
    tbs = cert["tbs_certificate"]
    return tbs["subject"].dump(), tbs["subject_public_key_info"].dump()


@dataclass(frozen=True)
class ValidationContext:
    """Everything validation may rely on, fixed for the duration of a verification.

    ``at`` fixes the validation time; when None the trusted signing time (CAdES-T) is used, else now.
    ``fetcher`` None (the default) keeps verification offline: it never goes to the network by surprise.
    ``crl_urls`` adds CRL addresses per issuer (key: the issuer's subjectKeyIdentifier, upper-case hex), e.g. those
    of the accredited CA list, to the certificates' own distribution points. ``grace`` is the policy's grace
    period after the signing time within which a revocation may still be published.
    """

    trust_roots: tuple[x509.Certificate, ...] = ()
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[asn1_crl.CertificateList, ...] = ()
    at: dt.datetime | None = None
    fetcher: Fetcher | None = None
    crl_urls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    grace: dt.timedelta = dt.timedelta(0)
    require_revocation: bool = False
    _anchor_keys: frozenset[tuple[bytes, bytes]] = field(default=frozenset(), repr=False, compare=False)
    _anchor_ders: frozenset[bytes] = field(default=frozenset(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("validation time must be timezone-aware")
        object.__setattr__(self, "_anchor_keys", frozenset(_cert_key(c) for c in self.trust_roots))
        object.__setattr__(self, "_anchor_ders", frozenset(der_of(c) for c in self.trust_roots))

    @classmethod
    def from_paths(
        cls,
        trust: Iterable[str | Path] = (),
        *,
        intermediates: Iterable[str | Path] = (),
        crls: Iterable[str | Path] = (),
        at: dt.datetime | None = None,
        fetcher: Fetcher | None = None,
        require_revocation: bool = False,
    ) -> ValidationContext:
        """Load roots/intermediates/CRLs from files or directories the caller names."""
        return cls(
            trust_roots=tuple(_load_cert_paths(trust)),
            intermediates=tuple(_load_cert_paths(intermediates)),
            crls=tuple(load_crl(Path(p).read_bytes()) for p in _expand(crls, {".crl", ".pem", ".der"})),
            at=at,
            fetcher=fetcher,
            require_revocation=require_revocation,
        )

    def is_anchor(self, cert: x509.Certificate) -> bool:
        if not self.trust_roots:
            return False
        return der_of(cert) in self._anchor_ders or _cert_key(cert) in self._anchor_keys


def _expand(paths: Iterable[str | Path], suffixes: set[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(p for p in sorted(path.iterdir()) if p.is_file() and p.suffix.lower() in suffixes)
        else:
            out.append(path)
    return out


def _load_cert_paths(paths: Iterable[str | Path]) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for path in _expand(paths, _CERT_SUFFIXES):
        try:
            certs.extend(load_certificates(path.read_bytes()))
        except MalformedInput as exc:
            raise MalformedInput(f"{path.name}: {exc}") from exc
    return certs


# --- signatures on certificates and CRLs --------------------------------------------------------------

_KEY_CACHE: dict[bytes, PublicKey] = {}
_KEY_CACHE_LOCK = threading.Lock()


def public_key(cert: x509.Certificate) -> PublicKey:
    """The certificate's GOST public key, parsed once per distinct SubjectPublicKeyInfo."""
    spki = cert["tbs_certificate"]["subject_public_key_info"].dump()
    key = _KEY_CACHE.get(spki)
    if key is None:
        key = PublicKey.from_spki(spki)
        with _KEY_CACHE_LOCK:
            if len(_KEY_CACHE) > 4096:
                _KEY_CACHE.clear()
            _KEY_CACHE[spki] = key
    return key


def is_gost_key(cert: x509.Certificate) -> bool:
    try:
        return cert["tbs_certificate"]["subject_public_key_info"]["algorithm"]["algorithm"].dotted in GOST_KEY_OIDS
    except Exception:
        return False


def signature_ok(signed_der: bytes, sig_oid: str, signature: bytes, issuer: x509.Certificate) -> bool | None:
    """Check a GOST signature over DER bytes (a tbsCertificate or tbsCertList); None if unsupported."""
    digest_name = SIGNATURE_OIDS.get(sig_oid)
    if digest_name is None or not is_gost_key(issuer):
        return None
    try:
        key = public_key(issuer)
    except Exception:
        return None
    try:
        return bool(gost_verify(key, hashing.digest(digest_name, signed_der), signature))
    except Exception:
        return False


def _cert_signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    try:
        tbs = cert["tbs_certificate"].dump()
        sig_oid = cert["signature_algorithm"]["algorithm"].dotted
        sig = cert["signature_value"].native
    except Exception:
        return False
    return signature_ok(tbs, sig_oid, sig, issuer)


# --- path building ------------------------------------------------------------------------------------


@dataclass
class ChainOutcome:
    """The built path (signer first) and what went wrong with it, as result reason codes."""

    chain: list[x509.Certificate]
    trusted: bool
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    revocation: str = "not_checked"
    revocation_time: dt.datetime | None = None
    soft: set[str] = field(default_factory=set)


def _ski(cert: x509.Certificate) -> bytes | None:
    return facts(cert).ski


def _aki(cert: x509.Certificate) -> bytes | None:
    return facts(cert).aki


def _issuer_candidates(cert: x509.Certificate, pool: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    issuer_name = cert["tbs_certificate"]["issuer"]
    aki = _aki(cert)
    found = [c for c in pool if names_equal(c["tbs_certificate"]["subject"], issuer_name)]
    if aki is not None:
        # Prefer the key the AKI names; keep the others in case the AKI is wrong (it happens).
        found.sort(key=lambda c: _ski(c) != aki)
    return found


def _dedupe(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    seen: set[bytes] = set()
    out = []
    for cert in certs:
        der = der_of(cert)
        if der not in seen:
            seen.add(der)
            out.append(cert)
    return out


def validate_chain(
    leaf: x509.Certificate,
    *,
    context: ValidationContext,
    at: dt.datetime,
    extra_certs: Sequence[x509.Certificate] = (),
    extra_crls: Sequence[asn1_crl.CertificateList] = (),
    time_trusted: bool = True,
) -> ChainOutcome:
    """Build and check the path from ``leaf`` to a trust anchor at time ``at``.

    ``time_trusted`` False means ``at`` is only "now" for lack of a trusted signing time: an expired
    certificate then cannot be proven wrong (it may have been valid when the document was signed).
    """
    pool = _dedupe([*extra_certs, *context.intermediates, *context.trust_roots])
    chain = [leaf]
    outcome = ChainOutcome(chain=chain, trusted=False)
    current = leaf
    for _ in range(MAX_CHAIN):
        if context.is_anchor(current):
            outcome.trusted = True
            break
        in_chain = {der_of(x) for x in chain}
        candidates = [c for c in _issuer_candidates(current, pool) if der_of(c) not in in_chain]
        issuer = None
        unsupported = False
        for cand in candidates:
            ok = _cert_signed_by(current, cand)
            if ok:
                issuer = cand
                break
            if ok is None:
                unsupported = True
        if issuer is None:
            self_issued = names_equal(current["tbs_certificate"]["subject"], current["tbs_certificate"]["issuer"])
            if candidates:
                outcome.reasons.append("unsupported_algorithm" if unsupported else "bad_certificate_signature")
                outcome.details.append(
                    f"подпись на сертификате {current.subject.human_friendly!s:.120} не проверяется ключом издателя"
                )
            elif self_issued:
                ok = _cert_signed_by(current, current)
                if ok is False:
                    outcome.reasons.append("bad_certificate_signature")
                elif ok is None:
                    outcome.reasons.append("unsupported_algorithm")
                outcome.reasons.append("untrusted_root")
            else:
                outcome.reasons.append("chain_incomplete")
            break
        chain.append(issuer)
        current = issuer
    else:
        outcome.reasons.append("chain_incomplete")

    _check_validity(outcome, at, time_trusted)
    _check_constraints(outcome)
    _check_revocation(outcome, context, at, extra_crls)
    return outcome


def _check_validity(outcome: ChainOutcome, at: dt.datetime, time_trusted: bool) -> None:
    for cert in outcome.chain:
        try:
            validity = cert["tbs_certificate"]["validity"]
            not_before = validity["not_before"].chosen.native
            not_after = validity["not_after"].chosen.native
        except Exception:
            outcome.reasons.append("malformed")
            continue
        if at < not_before:
            if "not_yet_valid" not in outcome.reasons:
                outcome.reasons.append("not_yet_valid")
        elif at > not_after and "expired" not in outcome.reasons:
            outcome.reasons.append("expired")
            outcome.details.append(f"сертификат {_cn(cert)} действовал до {not_after:%Y-%m-%d %H:%M:%S} UTC")
    if not time_trusted and "expired" in outcome.reasons:
        # The shell-model verdict needs a trusted time; without it, an expiry proves nothing wrong:
        # the certificate may well have been valid when the document was signed.
        outcome.soft.add("expired")


def _cn(cert: x509.Certificate) -> str:
    return facts(cert).info.identity.get("common_name", "?")


def _check_constraints(outcome: ChainOutcome) -> None:
    chain = outcome.chain
    for position, cert in enumerate(chain):
        f = facts(cert)
        if not f.ok:
            outcome.reasons.append("malformed")
            continue
        usage_set, is_ca = f.key_usage, f.is_ca
        if position == 0:
            if usage_set is not None and not usage_set & {"digital_signature", "non_repudiation"}:
                outcome.reasons.append("key_usage")
            continue
        # An issuer.  A v1 trust anchor without extensions is accepted as a CA by convention.
        anchor_v1 = position == len(chain) - 1 and outcome.trusted and not f.has_basic_constraints
        if not is_ca and not anchor_v1:
            outcome.reasons.append("not_a_ca")
        if usage_set is not None and "key_cert_sign" not in usage_set:
            outcome.reasons.append("key_usage")


def _crl_urls(cert: x509.Certificate) -> list[str]:
    return list(facts(cert).crl_urls)


_CRL_CACHE: dict[bytes, tuple[bool | None, dict[int, tuple[dt.datetime, str | None]]]] = {}


def _crl_entries(
    crl: asn1_crl.CertificateList, issuer: x509.Certificate
) -> dict[int, tuple[dt.datetime, str | None]] | None:
    """Serial -> (revocation time, reason) of a CRL whose signature the issuer's key confirms."""
    key = crl.dump() + issuer["tbs_certificate"]["subject_public_key_info"].dump()
    cached = _CRL_CACHE.get(key)
    if cached is None:
        try:
            tbs = crl["tbs_cert_list"]
            ok = signature_ok(
                tbs.dump(), crl["signature_algorithm"]["algorithm"].dotted, crl["signature"].native, issuer
            )
            entries: dict[int, tuple[dt.datetime, str | None]] = {}
            if ok:
                for item in tbs["revoked_certificates"] or []:
                    reason = None
                    for ext in item["crl_entry_extensions"] or []:
                        if ext["extn_id"].native == "crl_reason":
                            reason = ext["extn_value"].native
                    entries[item["user_certificate"].native] = (item["revocation_date"].chosen.native, reason)
        except Exception:
            ok, entries = False, {}
        cached = (ok, entries)
        if len(_CRL_CACHE) > 256:
            _CRL_CACHE.clear()
        _CRL_CACHE[key] = cached
    ok, entries = cached
    return entries if ok else None


def _check_revocation(
    outcome: ChainOutcome,
    context: ValidationContext,
    at: dt.datetime,
    extra_crls: Sequence[asn1_crl.CertificateList],
) -> None:
    chain = outcome.chain
    statuses: list[str] = []
    for position, cert in enumerate(chain):
        if position + 1 >= len(chain):
            break  # the anchor (or the last cert found) has no issuer here to vouch for a CRL
        if context.is_anchor(cert):
            break
        issuer = chain[position + 1]
        issuer_name = cert["tbs_certificate"]["issuer"]
        serial = cert["tbs_certificate"]["serial_number"].native
        crls = [c for c in (*extra_crls, *context.crls) if _crl_issuer_matches(c, issuer_name)]
        if not crls and context.fetcher is not None:
            for url in _crl_urls(cert):
                body = context.fetcher.get(url, kind="crl")
                if body is None:
                    continue
                try:
                    crls.append(load_crl(body))
                except MalformedInput:
                    continue
        status = "not_checked"
        for crl in crls:
            entries = _crl_entries(crl, issuer)
            if entries is None:
                if "crl_unusable" not in outcome.warnings:
                    outcome.warnings.append("crl_unusable")
                continue
            status = "good"
            next_update = crl["tbs_cert_list"]["next_update"].native
            if (
                next_update is not None
                and next_update < dt.datetime.now(dt.UTC)
                and "crl_stale" not in outcome.warnings
            ):
                # Still evidence of what was revoked until it was issued, but newer revocations are unseen.
                outcome.warnings.append("crl_stale")
            hit = entries.get(serial)
            if hit is not None and hit[0] <= at and hit[1] != "remove_from_crl":
                status = "revoked"
                outcome.revocation_time = hit[0]
                outcome.details.append(
                    f"сертификат {_cn(cert)} отозван {hit[0]:%Y-%m-%d %H:%M:%S} UTC"
                    + (f" (причина: {hit[1]})" if hit[1] else "")
                )
                break
        statuses.append(status)
    if "revoked" in statuses:
        outcome.revocation = "revoked"
        outcome.reasons.append("revoked")
    elif statuses and all(s == "good" for s in statuses):
        outcome.revocation = "good"
    else:
        outcome.revocation = "not_checked" if statuses else outcome.revocation
        if statuses:
            if context.require_revocation:
                outcome.reasons.append("revocation_unknown")
            else:
                outcome.warnings.append("revocation_not_checked")


def _crl_issuer_matches(crl: asn1_crl.CertificateList, issuer_name: x509.Name) -> bool:
    try:
        return names_equal(crl["tbs_cert_list"]["issuer"], issuer_name)
    except Exception:
        return False
