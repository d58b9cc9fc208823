"""CryptoARM GOST's link protocol: the ``/cryptoarm/json`` JSON-RPC endpoint and its transactions.

How it fits together
--------------------
A **transaction** is one run of the CryptoARM GOST app: the server mints it and hands out the link
``cryptoarm://signAndEncrypt/<public_url>/cryptoarm/json?id=<txn>``; the app POSTs
``signAndEncrypt.parameters``, downloads the offered files with ``?accessToken=``, and POSTs
``signAndEncrypt.outDirectResults`` (signatures, or ``status: "Canceled"``).

The ``cryptoarm_transactions`` table holds, per transaction: the SHA-256 of the id (the id itself is never
stored), the SHA-256 of the file access token (minted when the parameters are answered), ``kind``,
``targets`` (a JSON list of ids the kind's handler understands), the user/agent it was made for, ``state``
(``open`` → ``parameters_sent`` → ``completed`` | ``cancelled`` | ``failed``: each step once, so an id is
single-use and a replay is refused; the user's page may also end an unfinished one as ``cancelled``),
``expires_at``, the offered ``files``, the ``outcome``, and ``sealed``: a secret the kind's files are made
from, kept only sealed under the id and the token (:mod:`.sealing`) until the transaction finishes.

**Handlers** (``handlers.HANDLERS``, keyed by ``kind``) decide everything kind-specific:

- ``offer(services, txn)`` → the files to offer (key, name, size) and the header text, or
  ``TransactionRefused`` when the targets are no longer open;
- ``open_file(services, txn, key)`` → the bytes of one offered file;
- ``accept(services, txn, results)`` → what to do with the returned signatures (each is normalised to DER
  first, with the certificate the app reports); must go through the workflow (``accept_signature``, or the
  certificate registration);
- ``cancelled(services, txn)`` → what to do when the user pressed «Отмена».

Kind ``"job"`` (:mod:`.job_handler`, issue 6): targets are signing job ids of one user; signatures are
accepted as that user's; the user's agents hear the outcome over ``/agent/ws``. Kind
``"counterparty_link"`` (issue 7) only has to add a handler: ``handlers.register(MyHandler())`` and mint
transactions with ``transactions.create(db, kind="counterparty_link", targets=[link_id], ...)``. Kind
``"certificate"`` (:mod:`.certificate_handler`, issue 14): no targets; the one file is the user's certificate
registration code (the sealed secret), and the signature binds its certificate through the workflow's
``CertificateRegistration.register``; the page polls the outcome.

The real app only talks HTTPS (its parser rejects ``http:`` command URLs) and reads the server certificate
from ``GET /`` of the origin, which :mod:`.endpoint` answers with 200. Tests run everything over plain HTTP
on loopback with the emulator in ``tests/fakes/cryptoarm_emulator.py``, which allows http for tests only.
"""
