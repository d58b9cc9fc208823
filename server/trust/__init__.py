"""The trust store: the Минцифры list of accredited CAs and the admin's own roots, kept in the database.

:mod:`server.trust.store` holds its SQL; :mod:`server.trust.service` imports a list, adds and removes own roots.
:mod:`server.trust.context` builds the :class:`cades.validation.ValidationContext` the server checks signatures
with and rebuilds it when the store or a ``[trust]`` file changes; :mod:`server.trust.revocation_cache` is the
network fetcher validation uses (CRLs and AIA certificates on disk, OCSP answers in memory) and
:mod:`server.trust.refresher` refetches cached CRLs before their nextUpdate. The list's file is parsed by
:mod:`cades.tsl` (the agent and the offline verifier can read it too).
"""
