"""The document workflow: documents, routes, signatures, the state machine and the outbox worker.

Services, one reason to change each (built and wired by ``server.app.workflow_services``): :mod:`.directory`
(the portal's people and caches), :mod:`.queries` (visibility, lists, detail), :mod:`.intake` (new documents),
:mod:`.transitions` (what users do to a document), :mod:`.downloads` (a document's bytes), :mod:`.reports` and
:mod:`.packaging` (the verification report and the signed ZIP), :mod:`.registration` (signing certificates),
:mod:`.expiry` (deadlines). :func:`~server.workflow.signatures.accept_signature` is the one door every signature
comes through and :mod:`~server.workflow.states` the only module that changes a document's state.
"""
