"""Certificate path validation for GOST certificates: trust anchors, chain building, validity, revocation.

OpenSSL's and asn1crypto's validators do not know GOST signatures on certificates, so the path is built
and checked here: the shell model (every certificate valid at the validation time), basicConstraints and
keyUsage, GOST signatures of certificates, and the revocation status of every certificate below the trust
anchor (sources in :mod:`cades.revocation`). A missing intermediate is fetched by its AIA caIssuers address
when the caller gives a :class:`cades.fetch.Fetcher`.

The verdict is exactly as strong as what was checked: a certificate whose revocation status no source could
give makes the signature ``indeterminate`` (``revocation_unknown``), whatever the caller's policy; the policy
(accept such a signature with a warning or not) is the server's, through
:func:`cades.result.only_revocation_unknown`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from asn1crypto import cms, x509
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp

from .asn1 import MalformedInput, decode_armour, load_certificate, load_certificates, load_crl
from .certs import der_of, facts, name_key, names_equal
from .exclusive import exclusive, exclusively
from .fetch import Fetcher, fetch_with_origin
from .result import RevocationSource
from .revocation import EmbeddedValues, Finding, Lookup, find_status, remember_location, source_line
from .signatures import cert_signed_by, is_gost_key, public_key, signature_ok

__all__ = [
    "CertRevocation",
    "ChainOutcome",
    "ValidationContext",
    "is_gost_key",
    "public_key",
    "signature_ok",
    "validate_chain",
]

MAX_CHAIN: Final = 10
MAX_AIA_FETCHES: Final = 3  # issuer certificates fetched by AIA caIssuers per path: bounded, whatever the input
_CERT_SUFFIXES: Final = {".pem", ".crt", ".cer", ".der", ".p7b"}


# --- the context --------------------------------------------------------------------------------------


def _cert_key(cert: x509.Certificate) -> tuple[bytes, bytes]:
    """Subject and key, remembered on the object: every path step asks whether a certificate is an anchor."""
    key = cert.__dict__.get("_klikdok_anchor_key")
    if key is None:
        tbs = cert["tbs_certificate"]
        key = (tbs["subject"].dump(), tbs["subject_public_key_info"].dump())
        cert.__dict__["_klikdok_anchor_key"] = key
    return key


@dataclass(frozen=True)
class ValidationContext:
    """Everything validation may rely on, fixed for the duration of a verification.

    ``at`` fixes the validation time (taken as trusted); when None the trusted signing time (CAdES-T) is used,
    else the claimed signingTime, else now. ``fetcher`` None (the default) keeps verification offline: it never
    goes to the network by surprise; with one, OCSP (AIA), CRLs (distribution points) and missing issuer
    certificates (AIA caIssuers) are fetched when the material at hand does not decide. ``crl_urls`` adds CRL
    addresses per issuer (key: the issuer's subjectKeyIdentifier, upper-case hex), e.g. those of the accredited
    CA list, to the certificates' own distribution points. ``grace`` is the policy's grace period after the
    signing time within which a revocation may still be published: until it has passed, "good" is not final.
    """

    trust_roots: tuple[x509.Certificate, ...] = ()
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[asn1_crl.CertificateList, ...] = ()
    at: dt.datetime | None = None
    fetcher: Fetcher | None = None
    crl_urls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    grace: dt.timedelta = dt.timedelta(0)
    _anchor_keys: frozenset[tuple[bytes, bytes]] = field(default=frozenset(), repr=False, compare=False)
    _anchor_ders: frozenset[bytes] = field(default=frozenset(), repr=False, compare=False)
    _by_subject: Mapping[str, tuple[x509.Certificate, ...]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("validation time must be timezone-aware")
        with exclusive():  # the anchors may be another context's, in use by a verification in another thread
            self._index()

    def _index(self) -> None:
        object.__setattr__(self, "_anchor_keys", frozenset(_cert_key(c) for c in self.trust_roots))
        object.__setattr__(self, "_anchor_ders", frozenset(der_of(c) for c in self.trust_roots))
        # The accredited list brings thousands of CA certificates: a path step looks its issuer up by name
        # instead of comparing names with all of them.
        index: dict[str, list[x509.Certificate]] = {}
        for cert in _dedupe([*self.intermediates, *self.trust_roots]):
            try:
                index.setdefault(name_key(cert["tbs_certificate"]["subject"]), []).append(cert)
            except Exception:
                continue
        object.__setattr__(self, "_by_subject", {k: tuple(v) for k, v in index.items()})

    def certificates_named(self, name: x509.Name) -> tuple[x509.Certificate, ...]:
        """The context's intermediates and anchors whose subject is ``name`` (RFC 5280 comparison)."""
        if not self._by_subject:
            return ()
        try:
            return self._by_subject.get(name_key(name), ())
        except Exception:
            return ()

    @classmethod
    def from_paths(
        cls,
        trust: Iterable[str | Path] = (),
        *,
        intermediates: Iterable[str | Path] = (),
        crls: Iterable[str | Path] = (),
        at: dt.datetime | None = None,
        fetcher: Fetcher | None = None,
        grace: dt.timedelta = dt.timedelta(0),
    ) -> ValidationContext:
        """Load roots/intermediates/CRLs from files or directories the caller names."""
        return cls(
            trust_roots=tuple(_load_cert_paths(trust)),
            intermediates=tuple(_load_cert_paths(intermediates)),
            crls=tuple(
                remember_location(load_crl(p.read_bytes()), p.name) for p in _expand(crls, {".crl", ".pem", ".der"})
            ),
            at=at,
            fetcher=fetcher,
            grace=grace,
        )

    @exclusively
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


# --- path building ------------------------------------------------------------------------------------

RevocationWord = Literal["good", "revoked", "unknown", "not_checked"]


@dataclass
class CertRevocation:
    """One certificate's revocation status as judged for this signature, and the source that gave it."""

    status: RevocationWord = "not_checked"
    source: RevocationSource | None = None
    revoked_at: dt.datetime | None = None


@dataclass
class ChainOutcome:
    """The built path (signer first) and what went wrong with it, as result reason codes.

    ``revocations`` runs parallel to ``chain``; ``revocation`` sums it up for the whole path (revoked if any
    certificate is, good only if every checked one is).
    """

    chain: list[x509.Certificate]
    trusted: bool
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    revocation: RevocationWord = "not_checked"
    revocation_time: dt.datetime | None = None
    revocations: list[CertRevocation] = field(default_factory=list)
    soft: set[str] = field(default_factory=set)


def _ski(cert: x509.Certificate) -> bytes | None:
    return facts(cert).ski


def _aki(cert: x509.Certificate) -> bytes | None:
    return facts(cert).aki


def _issuer_candidates(
    cert: x509.Certificate, pool: Sequence[x509.Certificate], context: ValidationContext
) -> list[x509.Certificate]:
    """Certificates named as ``cert``'s issuer: from the signature's own (small) pool by comparison, from the
    context's (possibly large) store by its index."""
    issuer_name = cert["tbs_certificate"]["issuer"]
    aki = _aki(cert)
    found = _dedupe(
        [
            *(c for c in pool if names_equal(c["tbs_certificate"]["subject"], issuer_name)),
            *context.certificates_named(issuer_name),
        ]
    )
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


def issuer_certificates(body: bytes) -> list[x509.Certificate]:
    """The certificates an AIA caIssuers address serves: one DER or PEM certificate, or a PKCS#7 certs-only
    bundle (RFC 5280, 4.2.2.1), DER or PEM. Whatever does not parse is dropped: the bytes are hostile."""
    try:
        return load_certificates(body)
    except MalformedInput:
        pass
    try:
        info = cms.ContentInfo.load(decode_armour(body, max_size=1024 * 1024), strict=True)
        if info["content_type"].native != "signed_data":
            return []
        out = []
        for choice in info["content"]["certificates"] or []:
            if choice.name == "certificate":
                try:
                    out.append(load_certificate(choice.chosen.dump()))
                except MalformedInput:
                    continue
        return out
    except Exception:
        return []


class _AiaBudget:
    """How many caIssuers fetches one path may still make, and which addresses it already tried."""

    def __init__(self, limit: int = MAX_AIA_FETCHES) -> None:
        self.left = limit
        self.tried: set[str] = set()


def _fetch_issuers(cert: x509.Certificate, fetcher: Fetcher, budget: _AiaBudget) -> list[x509.Certificate]:
    found: list[x509.Certificate] = []
    for url in facts(cert).ca_issuer_urls:
        if budget.left <= 0:
            break
        if url in budget.tried:
            continue
        budget.tried.add(url)
        budget.left -= 1
        body, _ = fetch_with_origin(fetcher, url, kind="certificate")
        if body is not None:
            found.extend(issuer_certificates(body))
        if found:
            break
    return found


@exclusively
def validate_chain(
    leaf: x509.Certificate,
    *,
    context: ValidationContext,
    at: dt.datetime,
    extra_certs: Sequence[x509.Certificate] = (),
    extra_crls: Sequence[asn1_crl.CertificateList] = (),
    extra_ocsp: Sequence[asn1_ocsp.BasicOCSPResponse] = (),
    time_trusted: bool = True,
    time_claimed: bool = False,
    now: dt.datetime | None = None,
) -> ChainOutcome:
    """Build and check the path from ``leaf`` to a trust anchor at time ``at``.

    ``time_trusted`` False with ``time_claimed`` True: ``at`` is the signer's own signingTime, which nothing
    confirms; with ``time_claimed`` False too, ``at`` is only "now" for lack of any signing time. An untrusted
    time cannot prove a certificate was valid or unrevoked when the document was signed (see ``_check_validity``
    and ``_judge``). ``extra_crls`` and ``extra_ocsp`` are the revocation values that ride in the signature.
    """
    now = now or dt.datetime.now(dt.UTC)
    # The signature's own certificates; the context's are looked up through its index (see _issuer_candidates).
    pool = _dedupe(extra_certs)
    chain = [leaf]
    outcome = ChainOutcome(chain=chain, trusted=False)
    budget = _AiaBudget()
    current = leaf
    for _ in range(MAX_CHAIN):
        if context.is_anchor(current):
            outcome.trusted = True
            break
        in_chain = {der_of(x) for x in chain}
        candidates = [c for c in _issuer_candidates(current, pool, context) if der_of(c) not in in_chain]
        self_issued = names_equal(current["tbs_certificate"]["subject"], current["tbs_certificate"]["issuer"])
        if not candidates and not self_issued and context.fetcher is not None:
            fetched = _fetch_issuers(current, context.fetcher, budget)
            if fetched:
                pool = _dedupe([*pool, *fetched])
                candidates = [c for c in _issuer_candidates(current, pool, context) if der_of(c) not in in_chain]
        issuer = None
        unsupported = False
        for cand in candidates:
            ok = cert_signed_by(current, cand)
            if ok:
                issuer = cand
                break
            if ok is None:
                unsupported = True
        if issuer is None:
            if candidates:
                outcome.reasons.append("unsupported_algorithm" if unsupported else "bad_certificate_signature")
                outcome.details.append(
                    f"подпись на сертификате {current.subject.human_friendly!s:.120} не проверяется ключом издателя"
                )
            elif self_issued:
                ok = cert_signed_by(current, current)
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

    _check_validity(outcome, at, now, time_trusted=time_trusted, time_claimed=time_claimed)
    _check_constraints(outcome)
    embedded = EmbeddedValues(crls=tuple(extra_crls), ocsp=tuple(extra_ocsp))
    # A delegated OCSP responder's certificate may be one of the admin's intermediates (anchors never are one).
    responders = _dedupe([*pool, *context.intermediates])
    _check_revocation(outcome, context, at, now, embedded, responders, time_trusted=time_trusted)
    return outcome


def _check_validity(
    outcome: ChainOutcome, at: dt.datetime, now: dt.datetime, *, time_trusted: bool, time_claimed: bool
) -> None:
    """The shell model at ``at``.

    Out of validity at ``at`` is ``invalid``, except when ``at`` is only "now" for lack of any signing time: then
    an expiry proves nothing wrong (the document may have been signed long ago) and stays ``indeterminate``.
    Valid at a claimed (unconfirmed) signing time but expired since: nothing proves the claim, ``indeterminate``.
    """
    hard = soft = False
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
            continue
        if at > not_after:
            proven = time_trusted or time_claimed
        elif not time_trusted and now > not_after:
            proven = False
        else:
            continue
        hard, soft = hard or proven, soft or not proven
        if "expired" not in outcome.reasons:
            outcome.reasons.append("expired")
            outcome.details.append(f"сертификат {_cn(cert)} действовал до {not_after:%Y-%m-%d %H:%M:%S} UTC")
    if soft and not hard:
        # Nothing proves the certificate was out of validity when the document was signed.
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


# --- revocation ---------------------------------------------------------------------------------------


def _check_revocation(
    outcome: ChainOutcome,
    context: ValidationContext,
    at: dt.datetime,
    now: dt.datetime,
    embedded: EmbeddedValues,
    pool: Sequence[x509.Certificate],
    *,
    time_trusted: bool,
) -> None:
    """Every certificate below the anchor, each with its issuer's CRL or OCSP answer.

    The network is asked only for a path that reaches a trust anchor: for any other the verdict is already
    ``indeterminate`` and a fetch would only cost time. A self-issued certificate at the top of an untrusted
    path is a root: roots are not revocation-checked.
    """
    chain = outcome.chain
    fetcher = context.fetcher if outcome.trusted else None
    outcome.revocations = [CertRevocation() for _ in chain]
    for position, cert in enumerate(chain):
        if context.is_anchor(cert):
            break
        entry = outcome.revocations[position]
        if position + 1 >= len(chain):
            self_issued = names_equal(cert["tbs_certificate"]["subject"], cert["tbs_certificate"]["issuer"])
            if not self_issued:
                entry.status = "unknown"
            break
        lookup = Lookup(cert=cert, issuer=chain[position + 1], at=at, now=now, pool=pool)
        found = find_status(
            lookup, embedded=embedded, supplied=context.crls, fetcher=fetcher, crl_urls=context.crl_urls
        )
        for code in lookup.warnings:
            if code not in outcome.warnings:
                outcome.warnings.append(code)
        if found.status == "unknown":
            outcome.details.extend(lookup.notes)
        _judge(outcome, entry, cert, found, at, now, context.grace, time_trusted=time_trusted)

    statuses = [r.status for r in outcome.revocations]
    if "revoked" in statuses:
        outcome.revocation = "revoked"
    elif "unknown" in statuses:
        outcome.revocation = "unknown"
        outcome.reasons.append("revocation_unknown")
    elif "good" in statuses:
        outcome.revocation = "good"


def _judge(
    outcome: ChainOutcome,
    entry: CertRevocation,
    cert: x509.Certificate,
    found: Finding,
    at: dt.datetime,
    now: dt.datetime,
    grace: dt.timedelta,
    *,
    time_trusted: bool,
) -> None:
    """What a source's answer means for this signature, at its validation time.

    Revoked at or before ``at``: ``revoked``. Revoked later: fine when ``at`` is trusted (the signature provably
    came first), ``revoked_no_poe`` when it is only claimed. Good: final only once the grace period after ``at``
    has passed, or when the information was issued after it.
    """
    name = _cn(cert)
    entry.source = found.source
    if found.source is not None:
        outcome.details.append(source_line(name, found.source))
    if found.status == "unknown":
        entry.status = "unknown"
        return
    if found.status == "revoked":
        revoked_at = found.revoked_at or at  # a source that names no time is read as "revoked already"
        when = f"{revoked_at:%Y-%m-%d %H:%M:%S} UTC" + (f" (причина: {found.reason})" if found.reason else "")
        if revoked_at <= at or not time_trusted:
            entry.status, entry.revoked_at = "revoked", revoked_at
            code = "revoked" if revoked_at <= at else "revoked_no_poe"
            if code not in outcome.reasons:
                outcome.reasons.append(code)
            if outcome.revocation_time is None:
                outcome.revocation_time = revoked_at
            outcome.details.append(f"сертификат {name} отозван {when}")
            return
        outcome.details.append(f"сертификат {name} отозван {when}, после подтверждённого времени подписания")
        entry.status = "good"
        return
    final_after = at + grace
    if grace and now < final_after and (found.issued is None or found.issued < final_after):
        entry.status = "unknown"
        outcome.details.append(
            f"статус отзыва сертификата {name} станет окончательным после {final_after:%Y-%m-%d %H:%M} UTC "
            "(период ожидания публикации отзыва)"
        )
        return
    entry.status = "good"
