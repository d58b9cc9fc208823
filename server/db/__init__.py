"""Storage: the SQLite database, its migrations, the audit log and the outbox.

SQL is written only here and in one store module per table group (``tests/foundation/test_sql_homes.py`` checks
it). Each table has one owner that holds every statement writing it; a store may read other groups' tables in a
join when a question spans them (a job's holder, a link's document deadline). Services call store functions and
get typed rows back (msgspec Structs), not cursors.

Table owners (table group: tables -> store module):

- documents and files: documents, document_files, route_steps -> ``server/workflow/store.py``;
  disk_folders and the Disk ids of files and signatures -> ``server/workflow/disk_store.py``
- signatures: signatures -> ``server/workflow/signature_store.py``;
  signer_certificates, certificate_challenges -> ``server/workflow/certificate_store.py``
- jobs and agents: jobs -> ``server/workflow/job_store.py``;
  agents, agent_pairing_codes, job_deliveries, agent_results -> ``server/agents/store.py``;
  cryptoarm_transactions -> ``server/cryptoarm/transaction_store.py``
- counterparty links: counterparty_links -> ``server/counterparty/link_store.py``
- paper: a completed document's stamped copies and protocol on their way to Disk, paper_copies ->
  ``server/workflow/paper_copy_store.py``; public_verdicts (the id a copy's QR code carries) ->
  ``server/workflow/public_verdict_store.py``
- portal: portals -> ``server/portal/store.py``
- CRM status field and automation triggers: crm_status_fields, crm_status_values, crm_trigger_fires ->
  ``server/workflow/crm_status_store.py``
- trust store: trust_lists, trust_cas, trust_ca_statuses, trust_crl_addresses,
  trust_certificates -> ``server/trust/store.py``
- audit and outbox: audit_log, audit_head -> ``server/db/audit.py``; outbox -> ``server/db/outbox.py``
- the kept answers to Idempotency-Keys: idempotency_keys -> ``server/db/idempotency.py``
- schema: settings (unused so far), _sqlite_migrations -> ``server/db/migrations.py``

The connection itself (one writer thread, read-only readers) is :mod:`server.db.database`; probes that touch no
table (the watchdog's ping, doctor's integrity check) are :mod:`server.db.checks`.
"""

from server.db.database import Database, DatabaseClosedError, inserted_id, read_snapshot

__all__ = ["Database", "DatabaseClosedError", "inserted_id", "read_snapshot"]
