"""The trust store: the Минцифры list of accredited CAs and the admin's own roots, kept in the database.

:mod:`server.trust.store` holds its SQL; :mod:`server.trust.service` imports a list, adds and removes own roots and
builds the :class:`cades.validation.ValidationContext` the server and ``klikdok verify`` check signatures with.
The list's file is parsed by :mod:`cades.tsl` (the agent and the offline verifier can read it too).
"""
