"""The revocation status of one certificate of a path, and where it came from.

Sources are asked in a fixed order and the first conclusive answer (good or revoked) wins: values embedded in
the signature (CAdES-X Long, CAdES-A: OCSP answers, then CRLs), the admin's CRL files, then, only with a
:class:`cades.fetch.Fetcher`, OCSP by the certificate's AIA address and CRLs by its distribution points (plus the
addresses the accredited CA list gives for the issuer), with a delta CRL applied on top. An OCSP answer "unknown"
or one that cannot be used falls through to the CRLs. Material at hand is always tried before the network,
so a verification whose answer is embedded, supplied or cached makes no call.

This module only says what a source states; :mod:`cades.validation` judges it against the signing time.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509

from . import ocsp
from .asn1 import MalformedInput, load_crl
from .certs import facts, name_text, names_equal
from .fetch import Fetcher, Kind, Origin, fetch_with_origin, post_ocsp_with_origin
from .result import RevocationOrigin, RevocationSource
from .signatures import signature_ok

__all__ = [
    "CrlIndex",
    "EmbeddedValues",
    "Finding",
    "crl_index",
    "find_status",
    "remember_location",
    "source_line",
]

FoundStatus = Literal["good", "revoked", "unknown"]

_CACHE_LIMIT: Final = 256


@dataclass(frozen=True)
class Finding:
    """What the sources say about one certificate. ``issued`` is when the deciding information was issued
    (a CRL's thisUpdate, an OCSP answer's producedAt): the grace period compares with it."""

    status: FoundStatus
    source: RevocationSource | None = None
    revoked_at: dt.datetime | None = None
    reason: str | None = None
    issued: dt.datetime | None = None


@dataclass(frozen=True)
class EmbeddedValues:
    """Revocation values that ride in the signature: the SignedData's CRL bag and CAdES-X revocationValues."""

    crls: Sequence[asn1_crl.CertificateList] = ()
    ocsp: Sequence[asn1_ocsp.BasicOCSPResponse] = ()


@dataclass
class Lookup:
    """One certificate's question with everything the sources need; warnings and report lines (``notes``: why
    a source could not answer) collect across sources. ``pool`` may hold a delegated OCSP responder."""

    cert: x509.Certificate
    issuer: x509.Certificate
    at: dt.datetime
    now: dt.datetime
    pool: Sequence[x509.Certificate] = ()
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def serial(self) -> int:
        return int(self.cert["tbs_certificate"]["serial_number"].native)

    def warn(self, code: str) -> None:
        if code not in self.warnings:
            self.warnings.append(code)


# --- CRLs: parsed once, indexed once ------------------------------------------------------------------


@dataclass(frozen=True)
class CrlIndex:
    """A CRL whose signature the issuer's key confirmed, reduced to what a lookup needs."""

    entries: dict[int, tuple[dt.datetime, str | None]]
    this_update: dt.datetime | None
    next_update: dt.datetime | None
    number: int | None
    delta_base: int | None  # deltaCRLIndicator: set on a delta CRL only
    issuer: str


_MISSING: Final = object()  # a cached None means "looked at, unusable"
_INDEX_CACHE: dict[tuple[bytes, bytes], CrlIndex | None] = {}
_PARSED_CACHE: dict[bytes, asn1_crl.CertificateList | None] = {}
_CACHE_LOCK = threading.Lock()


def _crl_der(crl: asn1_crl.CertificateList) -> bytes:
    """The CRL's DER, remembered on the object: a large CRL's ``dump()`` copies megabytes on every call."""
    der = crl.__dict__.get("_klikdok_der")
    if der is None:
        der = crl.dump()
        crl.__dict__["_klikdok_der"] = der
    return der


def _remember(cache: dict[object, object], key: object, value: object) -> None:
    with _CACHE_LOCK:
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        cache[key] = value


def crl_index(crl: asn1_crl.CertificateList, issuer: x509.Certificate) -> CrlIndex | None:
    """The entries of a CRL signed by ``issuer`` (serial -> revocation time, reason); None when the signature
    does not verify with the issuer's key. Built once per distinct (CRL, issuer key)."""
    key = (_crl_der(crl), issuer["tbs_certificate"]["subject_public_key_info"].dump())
    hit = _INDEX_CACHE.get(key, _MISSING)
    if hit is not _MISSING:
        return hit  # type: ignore[return-value]  # the sentinel was ruled out just above
    index: CrlIndex | None
    try:
        tbs = crl["tbs_cert_list"]
        ok = signature_ok(tbs.dump(), crl["signature_algorithm"]["algorithm"].dotted, crl["signature"].native, issuer)
        if not ok:
            index = None
        else:
            entries: dict[int, tuple[dt.datetime, str | None]] = {}
            for item in tbs["revoked_certificates"] or []:
                reason = None
                for ext in item["crl_entry_extensions"] or []:
                    if ext["extn_id"].native == "crl_reason":
                        reason = ext["extn_value"].native
                entries[item["user_certificate"].native] = (item["revocation_date"].chosen.native, reason)
            index = CrlIndex(
                entries=entries,
                this_update=tbs["this_update"].native,
                next_update=tbs["next_update"].native,
                number=crl.crl_number_value.native if crl.crl_number_value is not None else None,
                delta_base=crl.delta_crl_indicator_value.native if crl.delta_crl_indicator_value is not None else None,
                issuer=name_text(tbs["issuer"]),
            )
    except Exception:
        index = None
    _remember(_INDEX_CACHE, key, index)  # type: ignore[arg-type]  # the cache's own key/value types
    return index


def _parse_crl(body: bytes) -> asn1_crl.CertificateList | None:
    """A fetched CRL body parsed once: a warm cache hands the same bytes to every verification."""
    hit = _PARSED_CACHE.get(body, _MISSING)
    if hit is not _MISSING:
        return hit
    try:
        crl: asn1_crl.CertificateList | None = load_crl(body)
    except MalformedInput:
        crl = None
    _remember(_PARSED_CACHE, body, crl)  # type: ignore[arg-type]  # the cache's own key/value types
    return crl


def clear_caches() -> None:
    """Forget parsed and indexed CRLs (benchmarks measure the cold path)."""
    with _CACHE_LOCK:
        _INDEX_CACHE.clear()
        _PARSED_CACHE.clear()


def _covers(crl: asn1_crl.CertificateList, cert: x509.Certificate) -> bool:
    try:
        return names_equal(crl["tbs_cert_list"]["issuer"], cert["tbs_certificate"]["issuer"])
    except Exception:
        return False


def _crl_finding(
    lookup: Lookup,
    crl: asn1_crl.CertificateList,
    *,
    origin: RevocationOrigin,
    location: str,
    delta: CrlIndex | None = None,
) -> Finding | None:
    """What one CRL (with an optional delta on top) proves; None when it proves nothing either way.

    A CRL must be signed by the issuer and already issued; one past its nextUpdate still proves a revocation
    it lists, but not that a certificate it does not list is good (newer revocations are unseen).
    """
    if not _covers(crl, lookup.cert):
        return None
    index = crl_index(crl, lookup.issuer)
    if index is None or (index.this_update is not None and index.this_update > lookup.now):
        lookup.warn("crl_unusable")
        return None
    if index.delta_base is not None:
        return None  # a delta CRL lists only changes: never read as a complete CRL (RFC 5280, 5.2.4)
    freshest = delta or index
    source = RevocationSource(
        kind="crl",
        origin=origin,
        location=location,
        issuer=index.issuer,
        this_update=freshest.this_update,
        next_update=freshest.next_update,
        delta=delta is not None,
    )
    serial = lookup.serial
    hit = index.entries.get(serial)
    if delta is not None and serial in delta.entries:
        hit = delta.entries[serial]
    stale = freshest.next_update is not None and freshest.next_update < lookup.now
    if stale:
        lookup.warn("crl_stale")
    if hit is not None and hit[1] != "remove_from_crl":
        return Finding("revoked", source, revoked_at=hit[0], reason=hit[1], issued=freshest.this_update)
    if stale:
        return None
    return Finding("good", source, issued=freshest.this_update)


def _offline_crls(
    lookup: Lookup, crls: Iterable[asn1_crl.CertificateList], origin: RevocationOrigin
) -> Iterator[Finding]:
    for crl in crls:
        found = _crl_finding(lookup, crl, origin=origin, location=_crl_label(crl))
        if found is not None:
            yield found


def _crl_label(crl: asn1_crl.CertificateList) -> str:
    """A supplied CRL is named by the file it came from when the loader noted it."""
    return str(crl.__dict__.get("_klikdok_location", ""))


def remember_location(crl: asn1_crl.CertificateList, location: str) -> asn1_crl.CertificateList:
    """Note where a supplied CRL was read from, for the report."""
    crl.__dict__["_klikdok_location"] = location
    return crl


# --- network CRLs -------------------------------------------------------------------------------------


def _network_crls(lookup: Lookup, fetcher: Fetcher, extra_urls: Sequence[str]) -> Iterator[Finding]:
    cert_facts = facts(lookup.cert)
    urls = list(dict.fromkeys([*cert_facts.crl_urls, *extra_urls]))
    delta: CrlIndex | None = None
    delta_loaded = False
    for url in urls:
        body, origin = fetch_with_origin(fetcher, url, kind="crl")
        if body is None:
            continue
        crl = _parse_crl(body)
        if crl is None or not _covers(crl, lookup.cert):
            if crl is None:
                lookup.warn("crl_unusable")
            continue
        base = crl_index(crl, lookup.issuer)
        if base is not None and cert_facts.delta_crl_urls and not delta_loaded:
            delta_loaded = True
            delta = _fetch_delta(lookup, fetcher, cert_facts.delta_crl_urls, base)
        usable_delta = delta if delta is not None and base is not None and _delta_applies(base, delta) else None
        found = _crl_finding(lookup, crl, origin=origin, location=url, delta=usable_delta)
        if found is not None:
            yield found


def _delta_applies(base: CrlIndex, delta: CrlIndex) -> bool:
    """RFC 5280, 5.2.4: the complete CRL's number is at least the delta's BaseCRLNumber and below its own."""
    if base.number is None or delta.delta_base is None or delta.number is None:
        return False
    return delta.delta_base <= base.number < delta.number


def _fetch_delta(lookup: Lookup, fetcher: Fetcher, urls: Sequence[str], base: CrlIndex) -> CrlIndex | None:
    for url in urls:
        body, _ = fetch_with_origin(fetcher, url, kind="crl")
        if body is None:
            continue
        crl = _parse_crl(body)
        if crl is None or not _covers(crl, lookup.cert):
            continue
        index = crl_index(crl, lookup.issuer)
        if index is None or index.delta_base is None:
            lookup.warn("crl_unusable")
            continue
        if index.this_update is not None and index.this_update > lookup.now:
            lookup.warn("crl_unusable")
            continue
        if _delta_applies(base, index):
            return index
    return None


# --- OCSP ---------------------------------------------------------------------------------------------


def _ocsp_finding(lookup: Lookup, answer: ocsp.OcspAnswer, origin: RevocationOrigin) -> Finding | None:
    """A good or revoked answer decides; unknown and unusable fall through to the next source (CRLs).

    The answer's own verdict is judged at ``lookup.at``; a revocation time it names is passed on as such, so that
    validation applies the same time rules to OCSP as to CRLs (revoked after a claimed time: no proof).
    """
    where = answer.url or "из подписи"
    if answer.status in ("unknown", "unusable"):
        problem = answer.problem or "ответчик не знает этот сертификат"
        lookup.notes.append(f"OCSP {where}: {problem}")
        return None
    source = RevocationSource(
        kind="ocsp",
        origin=origin,
        location=answer.url,
        issuer=answer.responder,
        this_update=answer.this_update,
        next_update=answer.next_update,
        produced_at=answer.produced_at,
    )
    issued = answer.produced_at or answer.this_update
    if answer.revocation_time is not None:
        return Finding("revoked", source, revoked_at=answer.revocation_time, reason=answer.reason, issued=issued)
    return Finding("good", source, issued=issued)


def _embedded_ocsp(lookup: Lookup, values: Sequence[asn1_ocsp.BasicOCSPResponse]) -> Iterator[Finding]:
    for basic in values:
        answer = ocsp.check_basic(basic, lookup.cert, lookup.issuer, at=lookup.at, now=lookup.now, pool=lookup.pool)
        if answer.status == "unusable" and answer.problem == ocsp.NOT_THIS_CERT:
            continue  # a value about another certificate of the path
        found = _ocsp_finding(lookup, answer, "embedded")
        if found is not None:
            yield found


class _OriginNoting(Fetcher):
    """Passes ``ocsp.query``'s POST through the fetcher's origin-aware call and keeps the origin (one per query)."""

    def __init__(self, inner: Fetcher) -> None:
        self.inner = inner
        self.origin: Origin = "network"

    def get(self, url: str, *, kind: Kind) -> bytes | None:
        body, self.origin = fetch_with_origin(self.inner, url, kind=kind)
        return body

    def post_ocsp(self, url: str, request: bytes) -> bytes | None:
        body, self.origin = post_ocsp_with_origin(self.inner, url, request)
        return body


def _network_ocsp(lookup: Lookup, fetcher: Fetcher) -> Iterator[Finding]:
    for url in facts(lookup.cert).ocsp_urls:
        noting = _OriginNoting(fetcher)
        answer = ocsp.query(
            noting, url, lookup.cert, lookup.issuer, at=lookup.at, now=lookup.now, pool=lookup.pool,
            use_nonce=not fetcher.stores_ocsp_answers,
        )  # fmt: skip
        found = _ocsp_finding(lookup, answer, noting.origin)
        if found is not None:
            yield found


# --- the order ----------------------------------------------------------------------------------------


def _issuer_crl_urls(issuer: x509.Certificate, table: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    ski = facts(issuer).ski
    if ski is None:
        return ()
    return tuple(table.get(ski.hex().upper(), ()))


def find_status(
    lookup: Lookup,
    *,
    embedded: EmbeddedValues,
    supplied: Sequence[asn1_crl.CertificateList],
    fetcher: Fetcher | None,
    crl_urls: Mapping[str, Sequence[str]] | None = None,
) -> Finding:
    """The first conclusive answer from the sources in order, else ``unknown``. Lazy: a source after the one
    that decided is never read, so material at hand spares the network."""
    sources: list[Iterable[Finding]] = [
        _embedded_ocsp(lookup, embedded.ocsp),
        _offline_crls(lookup, embedded.crls, "embedded"),
        _offline_crls(lookup, supplied, "supplied"),
    ]
    if fetcher is not None:
        sources.append(_network_ocsp(lookup, fetcher))
        sources.append(_network_crls(lookup, fetcher, _issuer_crl_urls(lookup.issuer, crl_urls or {})))
    for found in itertools.chain.from_iterable(sources):
        return found
    return Finding("unknown")


# --- for people ---------------------------------------------------------------------------------------


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "?"
    if moment.utcoffset():
        moment = moment.astimezone(dt.UTC)
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {moment.hour:02d}:{moment.minute:02d} UTC"


_ORIGIN_WORDS: Final = {"embedded": "из подписи", "supplied": "из файла", "network": "загружен", "cache": "из кэша"}


def source_line(subject_cn: str, source: RevocationSource) -> str:
    """«статус отзыва …: OCSP http://… ответ от …» / «… CRL http://… выпущен …» for the report's details."""
    where = source.location or _ORIGIN_WORDS.get(source.origin, source.origin)
    if source.kind == "ocsp":
        what = f"OCSP {where} ответ от {_when(source.produced_at or source.this_update)}"
    else:
        what = f"CRL {where} выпущен {_when(source.this_update)}"
        if source.delta:
            what += " (с дельта-CRL)"
    if source.origin in ("embedded", "cache") and source.location:
        what += f" ({_ORIGIN_WORDS[source.origin]})"
    return f"статус отзыва сертификата {subject_cn}: {what}"
