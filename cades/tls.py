"""One TLS context with the default trusted CAs per process.

httpx builds a new SSL context for every client, and loading the CA bundle into it costs about 50 ms of CPU: a
server made three at start-up (its own client, the portal's and the revocation fetcher's), a tenth of a second
of every start and restart. The context is only read after it is made, so one serves every client and thread.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def default_context() -> ssl.SSLContext:
    """What ``httpx`` uses for ``verify=True`` (its CA bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``), made once."""
    import httpx  # local: `klikdok-verify` without network options starts without loading httpx

    return httpx.create_ssl_context()
