"""KlikDok's shared signature core: GOST hashing and signatures, CMS/CAdES, certificate validation.

Imports nothing from ``server`` or ``agent`` and does no I/O beyond what a caller hands it.
"""
