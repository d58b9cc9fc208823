"""Outgoing e-mail: the SMTP sender (:mod:`.smtp`), the Russian messages (:mod:`.messages`) and the worker that
delivers the ``mail.*`` outbox kinds with retries (:mod:`.worker`)."""
