"""Verifications in several threads at once give the verdict one thread gives (cades.exclusive).

The agent checks two signatures of one signer in two threads, the server verifies uploads in worker threads.
asn1crypto parses lazily and the verifier shares parsed certificates and CRLs between verifications and
memoises verdicts made from them: two threads parsing one object at once made "malformed" or
"bad_certificate_signature" verdicts, and the memo kept them for the life of the process (the agent then refused
every later signature of that signer; in CI, one job of eight failed about once in fifty runs).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from cades import certs, revocation, signatures
from cades.asn1 import load_certificate
from cades.exclusive import exclusive, released
from cades.hashing import digest
from cades.validation import ValidationContext
from cades.verify import verify_cms
from tests.support.pki_fixtures import GostPki

THREADS = 8
ROUNDS = 25


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads every microsecond instead of every 5 ms: a first parse is then nearly always interleaved."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_threads_verifying_one_signers_documents_agree_with_one_thread(gost_pki: GostPki, busy_switching: None) -> None:
    docs = [f"Договор №{n}".encode() for n in range(THREADS)]
    sigs = [gost_pki.pki.sign(gost_pki.user256, doc) for doc in docs]
    digests = [digest("streebog256", doc) for doc in docs]

    def context() -> ValidationContext:
        # Fresh parsed anchors, intermediate and CRLs each round: the objects the threads share.
        return ValidationContext.from_paths(
            [gost_pki.root.cert], intermediates=[gost_pki.inter.cert], crls=gost_pki.crl_files
        )

    def reasons(n: int, ctx: ValidationContext) -> tuple[str, ...]:
        result = verify_cms(sigs[n], content_digest={"streebog256": digests[n]}, context=ctx)
        return tuple(result.signatures[0].reasons) + (result.signatures[0].status,)

    alone = reasons(0, context())
    assert alone == ("valid",)  # the chain, the CRLs and the signature all check out in one thread

    for _ in range(ROUNDS):
        certs.clear_caches()
        signatures.clear_caches()
        revocation.clear_caches()
        ctx = context()
        start = threading.Barrier(THREADS)
        verdicts: list[tuple[str, ...]] = []

        def verify(n: int, ctx: ValidationContext, start: threading.Barrier, out: list[tuple[str, ...]]) -> None:
            start.wait()
            out.append(reasons(n, ctx))

        workers = [threading.Thread(target=verify, args=(n, ctx, start, verdicts)) for n in range(THREADS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert verdicts == [alone] * THREADS


def _contender() -> tuple[threading.Event, threading.Event, threading.Thread]:
    """Another thread that asks for the lock once told to: (tell it, it got in, the thread)."""
    go, got_in = threading.Event(), threading.Event()

    def contend() -> None:
        go.wait(5)
        with exclusive():
            got_in.set()

    thread = threading.Thread(target=contend)
    thread.start()
    return go, got_in, thread


def test_the_lock_is_given_up_around_the_network() -> None:
    """A verification waiting on an OCSP responder does not hold up the others."""
    go, got_in, other = _contender()
    with exclusive(), exclusive():  # nested, as the public functions call each other
        with released():
            go.set()
            assert got_in.wait(5)  # the other thread got the lock while this one was "on the network"
    other.join()


def test_the_lock_is_held_between_sections() -> None:
    go, got_in, other = _contender()
    with exclusive():
        go.set()
        assert not got_in.wait(0.3)  # held: the other thread waits
    other.join(5)
    assert got_in.is_set()


def test_parsed_certificates_are_not_shared_between_threads(gost_pki: GostPki) -> None:
    """What parse_signed_data hands out leaves the lock with the caller: another thread gets its own object."""
    from cades.cms import parse_signed_data

    sig = gost_pki.pki.sign(gost_pki.user256, b"x")
    mine = parse_signed_data(sig).certificates[0]
    theirs: list[object] = []
    worker = threading.Thread(target=lambda: theirs.append(parse_signed_data(sig).certificates[0]))
    worker.start()
    worker.join()
    assert theirs[0] is not mine
    assert parse_signed_data(sig).certificates[0] is mine  # within one thread the memo still serves
    assert load_certificate(mine.dump()).dump() == mine.dump()
