"""The :class:`cades.validation.ValidationContext` the server checks signatures with, kept current while it runs.

What a verification may rely on comes from three places: ``[trust]`` files (roots, intermediates, CRLs), the
trust store in the database (the accredited CAs list and the admin's own roots, with the list's CRL addresses)
and the network fetcher with its cache. ``klikdok trust import|add|remove`` runs in another process and a CRL
file may be replaced on disk, so :meth:`TrustContext.current` compares a stamp before every acceptance: the
store's generation (one small read, moved by triggers on every store write) and the ``stat`` of the configured
files. Only when the stamp moved is the context rebuilt; a rebuild that fails (a CRL file caught half-written)
keeps the previous context and is tried again next time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from asn1crypto import x509

from cades.asn1 import MalformedInput
from cades.fetch import Fetcher
from cades.validation import ValidationContext
from server.config import Settings
from server.db import Database

from . import store

log = logging.getLogger(__name__)

__all__ = ["TrustContext", "build"]

_Stamp = tuple[int, tuple[tuple[str, int, int, int], ...]]


def build(
    settings: Settings,
    *,
    anchors: tuple[x509.Certificate, ...] = (),
    crl_urls: Mapping[str, tuple[str, ...]] | None = None,
    fetcher: Fetcher | None = None,
) -> ValidationContext:
    """The server's context: ``[trust]`` files, the store's ``anchors`` and CRL addresses, the fetcher and the
    grace period. (An unknown revocation status is ``indeterminate`` with ``revocation_unknown`` in any context;
    the workflow's policy decides what to do with it.)"""
    trust = settings.trust
    base = ValidationContext.from_paths(trust.roots, intermediates=trust.intermediates, crls=trust.crls)
    return dataclasses.replace(
        base,
        trust_roots=(*base.trust_roots, *anchors),
        fetcher=fetcher,
        crl_urls=dict(crl_urls or {}),
        grace=dt.timedelta(minutes=trust.grace_minutes),
    )


def _file_stamps(paths: list[str]) -> tuple[tuple[str, int, int, int], ...]:
    """(path, inode, mtime, size) of every configured file, a directory's files included."""
    out: list[tuple[str, int, int, int]] = []
    for raw in paths:
        path = Path(raw)
        try:
            if path.is_dir():
                st = os.stat(path)
                out.append((str(path), st.st_ino, st.st_mtime_ns, st.st_size))
                with os.scandir(path) as it:
                    for item in sorted(it, key=lambda e: e.name):
                        if item.is_file():
                            st = item.stat()
                            out.append((item.path, st.st_ino, st.st_mtime_ns, st.st_size))
            else:
                st = os.stat(path)
                out.append((str(path), st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(path), 0, 0, 0))
    return tuple(out)


class TrustContext:
    """Hands out the current context; rebuilt when the trust store or a ``[trust]`` file changed."""

    def __init__(self, settings: Settings, db: Database, fetcher: Fetcher | None = None) -> None:
        self.settings = settings
        self.db = db
        self.fetcher = fetcher
        self._lock = threading.Lock()
        self._stamp: _Stamp | None = None
        self._context: ValidationContext | None = None
        self.rebuilt = 0  # how many times the context was built (tests and logs)
        self.current()  # a broken [trust] file stops start-up, as it always did

    def _read_stamp(self) -> _Stamp:
        trust = self.settings.trust
        return self.db.read_sync(store.generation), _file_stamps([*trust.roots, *trust.intermediates, *trust.crls])

    def current(self) -> ValidationContext:
        stamp = self._read_stamp()
        with self._lock:
            if self._context is not None and stamp == self._stamp:
                return self._context
        # Stamp first, contents second: a change landing in between moves the stamp again and is re-read.
        try:
            ders, crl_urls = self.db.read_sync(lambda d: (store.anchor_ders(d), store.crl_address_map(d)))
            anchors = tuple(x509.Certificate.load(der) for der in ders)
            context = build(self.settings, anchors=anchors, crl_urls=crl_urls, fetcher=self.fetcher)
        except (OSError, MalformedInput, ValueError) as exc:
            with self._lock:
                previous = self._context
            if previous is None:
                raise
            log.warning("trust context not rebuilt; the previous one stays", extra={"error": str(exc)[:200]})
            return previous
        with self._lock:
            self._stamp, self._context = stamp, context
            self.rebuilt += 1
        if self.rebuilt > 1:
            log.info(
                "trust context rebuilt",
                extra={"anchors": len(context.trust_roots), "crls": len(context.crls), "generation": stamp[0]},
            )
        return context
