"""The document workflow: documents, routes, signatures, the state machine and the outbox worker.

Entry points: :class:`~server.workflow.service.Workflow` (what the API and pages call),
:func:`~server.workflow.signatures.accept_signature` (the one door every signature comes through) and
:mod:`~server.workflow.states` (the only module that changes a document's state).
"""
