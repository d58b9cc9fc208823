"""Numbered schema migrations: the only way the schema changes.

Migrations run in registration order, each in one transaction together with its record in
``_sqlite_migrations`` (sqlite-utils' ``Migrations``), so a crash mid-migration leaves the previous
schema intact. Add new ones at the bottom with the next number; never edit an applied one.
"""

from __future__ import annotations

import re

from sqlite_utils import Database as SqliteUtilsDatabase
from sqlite_utils.migrations import Migrations

migrations = Migrations("klikdok")


@migrations(name="0001_core")
def m0001_core(db: SqliteUtilsDatabase) -> None:
    db.execute("""
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            object_type TEXT NOT NULL DEFAULT '',
            object_id TEXT NOT NULL DEFAULT '',
            details TEXT NOT NULL DEFAULT '{}',
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        )""")
    db.execute("CREATE INDEX audit_log_object ON audit_log(object_type, object_id)")
    # The chain head is kept apart from the rows so that cutting rows off the end is detected too.
    db.execute("""
        CREATE TABLE audit_head (
            one INTEGER PRIMARY KEY CHECK (one = 1),
            last_id INTEGER NOT NULL,
            last_hash TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""")
    db.execute("""
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""")
    db.execute("""
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            dedupe_key TEXT UNIQUE,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT NOT NULL DEFAULT '',
            delivered_at TEXT
        )""")
    db.execute("CREATE INDEX outbox_due ON outbox(status, next_attempt_at)")


def pending(db: SqliteUtilsDatabase) -> list[str]:
    return [m.name for m in migrations.pending(db)]


def check(db: SqliteUtilsDatabase) -> tuple[int, int]:
    """Whether the database answers at all, then how many migrations are applied and how many pending."""
    db.execute("SELECT 1").fetchone()
    return len(migrations.applied(db)), len(migrations.pending(db))


def apply(db: SqliteUtilsDatabase) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    todo = pending(db)
    migrations.apply(db)
    return todo


@migrations(name="0002_portals")
def m0002_portals(db: SqliteUtilsDatabase) -> None:
    # OAuth tokens are kept in clear because they must be reused; the application token is only ever
    # compared, so only its hash is kept.
    db.execute("""
        CREATE TABLE portals (
            member_id TEXT PRIMARY KEY,
            domain TEXT NOT NULL,
            client_endpoint TEXT NOT NULL,
            server_endpoint TEXT NOT NULL DEFAULT '',
            access_token TEXT NOT NULL DEFAULT '',
            refresh_token TEXT NOT NULL DEFAULT '',
            expires_at REAL,
            scope TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT '',
            application_token_hash TEXT NOT NULL DEFAULT '',
            installed_by INTEGER,
            installed_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1,
            disk_storage_id TEXT NOT NULL DEFAULT '',
            disk_root_folder_id INTEGER
        )""")


@migrations(name="0003_workflow")
def m0003_workflow(db: SqliteUtilsDatabase) -> None:
    # Documents (a package of one or more files signed together) and their routes. State changes only in
    # server/workflow/states.py; every change commits together with its audit row and outbox messages.
    db.execute("""
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'awaiting_internal',
                'awaiting_counterparty', 'completed', 'rejected_internal', 'rejected_counterparty',
                'withdrawn', 'expired', 'deleted')),
            entity_type TEXT NOT NULL CHECK (entity_type IN ('deal', 'company')),
            entity_id INTEGER NOT NULL,
            company_id INTEGER,
            author_id INTEGER NOT NULL,
            author_name TEXT NOT NULL DEFAULT '',
            department_id INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            finished_at TEXT,
            deadline TEXT,
            current_step INTEGER NOT NULL DEFAULT 0,
            reason TEXT NOT NULL DEFAULT '',
            counterparty_name TEXT NOT NULL DEFAULT '',
            counterparty_inn TEXT NOT NULL DEFAULT '',
            counterparty_ogrn TEXT NOT NULL DEFAULT '',
            counterparty_email TEXT NOT NULL DEFAULT '',
            disk_folder_id INTEGER,
            search TEXT NOT NULL DEFAULT '',
            warnings TEXT NOT NULL DEFAULT '[]'
        )""")
    db.execute("CREATE INDEX documents_entity ON documents(entity_type, entity_id, id)")
    db.execute("CREATE INDEX documents_author ON documents(author_id, id)")
    db.execute("CREATE INDEX documents_department ON documents(department_id, id)")
    db.execute("CREATE INDEX documents_state ON documents(state, deadline)")
    db.execute("""
        CREATE TABLE document_files (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            content_type TEXT NOT NULL DEFAULT 'application/octet-stream',
            streebog256 TEXT NOT NULL,
            streebog512 TEXT NOT NULL,
            disk_file_id INTEGER,
            UNIQUE (document_id, position)
        )""")
    # kind 'internal': a Bitrix24 user signs; kind 'counterparty': the CRM company's signer (issue 7).
    db.execute("""
        CREATE TABLE route_steps (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            position INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('internal', 'counterparty')),
            user_id INTEGER,
            display_name TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL DEFAULT 'waiting'
                CHECK (state IN ('waiting', 'current', 'signed', 'rejected', 'cancelled')),
            acted_at TEXT,
            reason TEXT NOT NULL DEFAULT '',
            UNIQUE (document_id, position)
        )""")
    db.execute("CREATE INDEX route_steps_user ON route_steps(user_id, state)")
    db.execute("""
        CREATE TABLE signatures (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            file_id INTEGER NOT NULL REFERENCES document_files(id),
            step_id INTEGER NOT NULL REFERENCES route_steps(id),
            signer_kind TEXT NOT NULL,
            signer_user_id INTEGER,
            source TEXT NOT NULL,
            cms BLOB NOT NULL,
            cms_sha256 TEXT NOT NULL,
            status TEXT NOT NULL,
            signer TEXT NOT NULL DEFAULT '{}',
            certificate_serial TEXT NOT NULL DEFAULT '',
            certificate_issuer TEXT NOT NULL DEFAULT '',
            identity_warning TEXT NOT NULL DEFAULT '',
            verification TEXT NOT NULL,
            accepted_at TEXT NOT NULL,
            disk_file_id INTEGER,
            UNIQUE (file_id, step_id)
        )""")
    db.execute("CREATE INDEX signatures_document ON signatures(document_id)")
    # Certificates registered for Bitrix24 users: an internal signature must come from one of them.
    db.execute("""
        CREATE TABLE signer_certificates (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL,
            issuer TEXT NOT NULL,
            serial TEXT NOT NULL,
            subject TEXT NOT NULL,
            inn TEXT NOT NULL DEFAULT '',
            snils TEXT NOT NULL DEFAULT '',
            not_after TEXT,
            der BLOB NOT NULL,
            registered_by INTEGER NOT NULL,
            registered_at TEXT NOT NULL,
            revoked_at TEXT,
            UNIQUE (user_id, issuer, serial)
        )""")
    # Signing jobs: one per (signer, document) request; the agent / CryptoARM endpoint picks them up and the
    # resulting signatures arrive through accept_signature(job_id=...).
    db.execute("""
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            step_id INTEGER NOT NULL REFERENCES route_steps(id),
            user_id INTEGER NOT NULL,
            channel TEXT NOT NULL DEFAULT 'any',
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'delivered', 'done', 'failed', 'cancelled')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            error TEXT NOT NULL DEFAULT ''
        )""")
    db.execute("CREATE INDEX jobs_user ON jobs(user_id, status)")
    db.execute("CREATE UNIQUE INDEX jobs_open ON jobs(step_id) WHERE status IN ('pending', 'delivered')")


@migrations(name="0004_agents_cryptoarm")
def m0004_agents_cryptoarm(db: SqliteUtilsDatabase) -> None:
    # Paired signing agents (issue 6). The device key is stored only as its SHA-256; revoking sets revoked_at.
    db.execute("""
        CREATE TABLE agents (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL,
            member_id TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL DEFAULT '',
            platform TEXT NOT NULL DEFAULT '',
            key_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            last_seen_at TEXT,
            backend TEXT NOT NULL DEFAULT '',
            revoked_at TEXT
        )""")
    db.execute("CREATE INDEX agents_user ON agents(user_id)")
    # One-time pairing codes (hashed), valid for minutes; used_at/agent_id record the trade.
    db.execute("""
        CREATE TABLE agent_pairing_codes (
            id INTEGER PRIMARY KEY,
            code_hash TEXT NOT NULL UNIQUE,
            user_id INTEGER NOT NULL,
            member_id TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            agent_id INTEGER
        )""")
    # Which agent a job was pushed to, and when it acknowledged it.
    db.execute("""
        CREATE TABLE job_deliveries (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL,
            agent_id INTEGER NOT NULL,
            sent_at TEXT NOT NULL,
            acked_at TEXT
        )""")
    db.execute("CREATE INDEX job_deliveries_job ON job_deliveries(job_id)")
    # Results an agent sent, by the agent's result id: a repeated upload (after a dropped connection) gets the
    # recorded answer instead of being applied again.
    db.execute("""
        CREATE TABLE agent_results (
            result_id TEXT PRIMARY KEY,
            job_id INTEGER NOT NULL,
            agent_id INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            code TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT '',
            received_at TEXT NOT NULL
        )""")
    # CryptoARM GOST transactions (/cryptoarm/json): the id from the cryptoarm:// link and the file access
    # token are stored hashed; kind picks the handler ("job", "counterparty_link"), targets is its JSON list
    # of ids. Single-use: open -> parameters_sent -> completed | cancelled | failed; expires_at bounds it.
    db.execute("""
        CREATE TABLE cryptoarm_transactions (
            id INTEGER PRIMARY KEY,
            txn_hash TEXT NOT NULL UNIQUE,
            token_hash TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            targets TEXT NOT NULL,
            user_id INTEGER,
            agent_id INTEGER,
            state TEXT NOT NULL DEFAULT 'open'
                CHECK (state IN ('open', 'parameters_sent', 'completed', 'cancelled', 'failed')),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            finished_at TEXT,
            files TEXT NOT NULL DEFAULT '[]',
            outcome TEXT NOT NULL DEFAULT '{}'
        )""")


@migrations(name="0005_counterparty_links")
def m0005_counterparty_links(db: SqliteUtilsDatabase) -> None:
    # Personal links for the counterparty (issue 7). The token is never stored: token_hash is its SHA-256 and
    # the token is HMAC(link.key in the data directory, nonce). At most one live (not revoked) link per
    # document; resending revokes the old one. answer: '' | 'signed' | 'rejected'.
    db.execute("""
        CREATE TABLE counterparty_links (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            step_id INTEGER,
            token_hash TEXT NOT NULL UNIQUE,
            nonce TEXT NOT NULL,
            recipient_email TEXT NOT NULL,
            recipient_name TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked_at TEXT,
            revoked_reason TEXT NOT NULL DEFAULT '',
            first_opened_at TEXT,
            last_opened_at TEXT,
            opened_count INTEGER NOT NULL DEFAULT 0,
            answered_at TEXT,
            answer TEXT NOT NULL DEFAULT '',
            mail_status TEXT NOT NULL DEFAULT 'pending'
                CHECK (mail_status IN ('pending', 'sent', 'retrying', 'failed')),
            mail_error TEXT NOT NULL DEFAULT '',
            mail_sent_at TEXT
        )""")
    db.execute("CREATE INDEX counterparty_links_document ON counterparty_links(document_id, id)")
    db.execute(
        "CREATE UNIQUE INDEX counterparty_links_live ON counterparty_links(document_id) WHERE revoked_at IS NULL"
    )


@migrations(name="0006_portal_generation")
def m0006_portal_generation(db: SqliteUtilsDatabase) -> None:
    # Issue 11: every install, re-install and uninstall bumps the portal's generation; page sessions carry the
    # generation they were issued in and die when it moves on.
    db.execute("ALTER TABLE portals ADD COLUMN generation INTEGER NOT NULL DEFAULT 0")


@migrations(name="0007_disk_ids")
def m0007_disk_ids(db: SqliteUtilsDatabase) -> None:
    # Bitrix24.Disk ids the server has learned (issue 11): a folder is looked up by name once per portal, not once
    # per upload. scope names the portal and storage; parent_id 0 holds the storage's root folder under its key.
    db.execute("""
        CREATE TABLE disk_folders (
            scope TEXT NOT NULL,
            parent_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            folder_id INTEGER NOT NULL,
            PRIMARY KEY (scope, parent_id, name)
        )""")
    # The name a document file got on Disk (the portal may add " (1)" to keep names unique in a folder): its
    # signatures are stored next to it as "<disk name>.sig".
    db.execute("ALTER TABLE document_files ADD COLUMN disk_name TEXT")


@migrations(name="0008_certificate_challenges")
def m0008_certificate_challenges(db: SqliteUtilsDatabase) -> None:
    # Proof of possession for certificate registration (issue 11): a user asks for a challenge, signs it with
    # the certificate's key, and registers the certificate with that signature. Only the SHA-256 of the
    # challenge is stored; it belongs to one user, expires, and is spent by the first registration that
    # names it, whatever the outcome.
    db.execute("""
        CREATE TABLE certificate_challenges (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL,
            challenge_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        )""")
    db.execute("CREATE INDEX certificate_challenges_user ON certificate_challenges(user_id, id)")


@migrations(name="0009_documents_vocabularies_unchecked", transactional=False)
def m0009_documents_vocabularies_unchecked(db: SqliteUtilsDatabase) -> None:
    # Issue 12: document states live in server/workflow/docstate.py and CRM entity kinds in
    # server/bitrix24/entities.py, and Python checks both, so adding a state or a kind must not need a table
    # rebuild. SQLite cannot drop a CHECK in place; this is the one rebuild that removes the two: the table is
    # recreated from its own current SQL minus those CHECKs (columns added by later migrations stay), every row is
    # copied with its id, and its indexes and triggers are created again. SQLite's procedure for that needs
    # foreign keys off, which cannot change inside a transaction; so this one runs its own transaction, and
    # finding no such CHECK (a crash after its commit, before the record) is success.
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'documents'").fetchone()[0]
    check = re.compile(r"\s+CHECK\s*\(\s*(state|entity_type)\s+IN\s*\([^()]*\)\s*\)", re.IGNORECASE)
    columns = [m.group(1).lower() for m in check.finditer(sql)]
    if not columns:
        return
    if len(columns) != len(set(columns)):
        raise RuntimeError("documents: more than one CHECK on one column")
    rebuilt = check.sub("", sql)
    rebuilt = re.sub(r"^\s*CREATE TABLE\s+\"?documents\"?", "CREATE TABLE documents_rebuilt", rebuilt, count=1)
    keys_on = db.execute("PRAGMA foreign_keys").fetchone()[0]
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            extras = [
                r[0]
                for r in db.execute(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'documents' AND"
                    " type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name"
                )
            ]
            db.execute(rebuilt)
            db.execute("INSERT INTO documents_rebuilt SELECT * FROM documents")
            db.execute("DROP TABLE documents")
            db.execute("ALTER TABLE documents_rebuilt RENAME TO documents")
            for statement in extras:
                db.execute(statement)
            if any(row[2] == "documents" for row in db.execute("PRAGMA foreign_key_check").fetchall()):
                raise RuntimeError("documents: foreign keys broken by the rebuild")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.execute(f"PRAGMA foreign_keys = {'ON' if keys_on else 'OFF'}")


@migrations(name="0010_trust_store")
def m0010_trust_store(db: SqliteUtilsDatabase) -> None:
    # Issue 13: the trust store. trust_lists keeps every imported Минцифры list of accredited CAs (version, its
    # date, the file's SHA-256); the CAs, their keys' CRL addresses and their certificates are those of the
    # newest list only, replaced in one transaction by a newer list. origin 'admin' rows are the admin's own
    # roots (`klikdok trust add`), which no list import touches. Thumbprints: SHA-1 of the DER, upper-case hex.
    db.execute("""
        CREATE TABLE trust_lists (
            id INTEGER PRIMARY KEY,
            version INTEGER NOT NULL,
            issued_at TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            signed INTEGER NOT NULL DEFAULT 0,
            file_name TEXT NOT NULL DEFAULT '',
            ca_count INTEGER NOT NULL,
            certificate_count INTEGER NOT NULL,
            imported_at TEXT NOT NULL,
            imported_by TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE trust_cas (
            id INTEGER PRIMARY KEY,
            registry_number TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL,
            short_name TEXT NOT NULL DEFAULT '',
            inn TEXT NOT NULL DEFAULT '',
            ogrn TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT '',
            status_since TEXT
        )""")
    # The accreditation history as the list gives it: whether a CA was accredited when a document was signed.
    db.execute("""
        CREATE TABLE trust_ca_statuses (
            ca_id INTEGER NOT NULL REFERENCES trust_cas(id),
            status TEXT NOT NULL,
            since TEXT
        )""")
    db.execute("""
        CREATE TABLE trust_crl_addresses (
            ca_id INTEGER NOT NULL REFERENCES trust_cas(id),
            key_id TEXT NOT NULL,
            url TEXT NOT NULL,
            PRIMARY KEY (key_id, url, ca_id)
        )""")
    db.execute("""
        CREATE TABLE trust_certificates (
            id INTEGER PRIMARY KEY,
            origin TEXT NOT NULL CHECK (origin IN ('list', 'admin')),
            ca_id INTEGER REFERENCES trust_cas(id),
            key_id TEXT NOT NULL DEFAULT '',
            thumbprint TEXT NOT NULL,
            subject TEXT NOT NULL,
            issuer TEXT NOT NULL,
            serial TEXT NOT NULL,
            not_before TEXT NOT NULL,
            not_after TEXT NOT NULL,
            self_signed INTEGER NOT NULL,
            der BLOB NOT NULL,
            added_at TEXT NOT NULL,
            added_by TEXT NOT NULL,
            UNIQUE (origin, thumbprint)
        )""")


@migrations(name="0011_trust_generation")
def m0011_trust_generation(db: SqliteUtilsDatabase) -> None:
    # Issue 13: a running server notices trust store changes made by `klikdok trust import|add|remove` (another
    # process) by reading one number before each acceptance. The triggers move it on every write to the tables
    # its ValidationContext is built from, so no writer can forget to. refresh_requested is moved by
    # `klikdok trust refresh`: the server's refresher then refetches every cached CRL at once.
    db.execute("""
        CREATE TABLE trust_state (
            one INTEGER PRIMARY KEY CHECK (one = 1),
            generation INTEGER NOT NULL DEFAULT 0,
            refresh_requested INTEGER NOT NULL DEFAULT 0
        )""")
    db.execute("INSERT INTO trust_state (one) VALUES (1)")
    for table in ("trust_certificates", "trust_cas", "trust_crl_addresses"):
        for event in ("INSERT", "UPDATE", "DELETE"):
            db.execute(f"""
                CREATE TRIGGER {table}_{event.lower()}_generation AFTER {event} ON {table}
                BEGIN UPDATE trust_state SET generation = generation + 1 WHERE one = 1; END""")


@migrations(name="0012_certificate_status")
def m0012_certificate_status(db: SqliteUtilsDatabase) -> None:
    # Issue 14: a registered certificate is not always good for signing at once. One whose organisation ИНН is
    # not the company's, or whose owner's name is not the Bitrix24 user's, waits for an admin ("pending"); the
    # admin approves it ("active"), refuses it with a reason ("refused") or later revokes it ("revoked").
    # `proof` says how possession of the key was shown (the channel), `decided_*` who settled a pending one.
    # Rows registered before this migration were bound by proof and stay good; revoked ones say so.
    db.execute(
        "ALTER TABLE signer_certificates ADD COLUMN status TEXT NOT NULL DEFAULT 'active'"
        " CHECK (status IN ('active', 'pending', 'refused', 'revoked'))"
    )
    db.execute("ALTER TABLE signer_certificates ADD COLUMN proof TEXT NOT NULL DEFAULT 'challenge'")
    db.execute("ALTER TABLE signer_certificates ADD COLUMN why_pending TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE signer_certificates ADD COLUMN decided_by INTEGER")
    db.execute("ALTER TABLE signer_certificates ADD COLUMN decided_at TEXT")
    db.execute("ALTER TABLE signer_certificates ADD COLUMN reason TEXT NOT NULL DEFAULT ''")
    db.execute("UPDATE signer_certificates SET status = 'revoked' WHERE revoked_at IS NOT NULL")
    db.execute("CREATE INDEX signer_certificates_status ON signer_certificates(status, id)")
    db.execute("CREATE INDEX signer_certificates_snils ON signer_certificates(snils) WHERE snils != ''")


@migrations(name="0013_cryptoarm_sealed")
def m0013_cryptoarm_sealed(db: SqliteUtilsDatabase) -> None:
    # Issue 14: a transaction may carry a secret its files are made from (a certificate registration challenge
    # that CryptoARM downloads and signs). It is never stored in clear: `sealed` holds it sealed under keys
    # derived from the link's transaction id and from the file access token, which themselves are stored only
    # as hashes (server.cryptoarm.sealing). It is emptied when the transaction finishes.
    db.execute("ALTER TABLE cryptoarm_transactions ADD COLUMN sealed TEXT NOT NULL DEFAULT '{}'")


@migrations(name="0014_certificate_offers")
def m0014_certificate_offers(db: SqliteUtilsDatabase) -> None:
    # Issue 14: an internal signature refused because its certificate is bound to nobody offers the signer to
    # bind it, the proof being that very signature (verified over the document, on the signer's own step). The
    # offer is short-lived, one-time, the user's own; only the token's SHA-256 is stored. The CMS is kept so
    # that accepting the offer also accepts the refused signature, without signing again.
    db.execute("""
        CREATE TABLE certificate_offers (
            id INTEGER PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            user_id INTEGER NOT NULL,
            issuer TEXT NOT NULL,
            serial TEXT NOT NULL,
            subject TEXT NOT NULL,
            der BLOB NOT NULL,
            document_id INTEGER NOT NULL,
            file_id INTEGER NOT NULL,
            step_id INTEGER NOT NULL,
            job_id INTEGER,
            source TEXT NOT NULL,
            cms BLOB NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        )""")
    db.execute("CREATE INDEX certificate_offers_user ON certificate_offers(user_id, id)")


@migrations(name="0015_timeline_comments")
def m0015_timeline_comments(db: SqliteUtilsDatabase) -> None:
    # Issue 15: a timeline comment carries no visible marker any more. A repeated delivery finds its comment on
    # the card by its exact text instead, and this table says which comment each delivered message posted, so two
    # messages with the same text never claim the same comment (server.workflow.timeline_store).
    db.execute("""
        CREATE TABLE timeline_comments (
            outbox_id INTEGER PRIMARY KEY,
            comment_id INTEGER NOT NULL UNIQUE
        )""")


@migrations(name="0016_document_create_options")
def m0016_document_create_options(db: SqliteUtilsDatabase) -> None:
    # Issue 15: what the create form adds to a document. `due_at`: the deadline the author picked (the end of the
    # chosen day in the portal's zone, UTC; NULL keeps [workflow] counterparty_days from sending). `message`: the
    # author's plain-text message to the counterparty (the invitation's body and their page). `contact_id`,
    # `contact_name`: the CRM contact person the invitation is addressed to (their e-mail is in counterparty_email).
    db.execute("ALTER TABLE documents ADD COLUMN due_at TEXT")
    db.execute("ALTER TABLE documents ADD COLUMN message TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE documents ADD COLUMN contact_id INTEGER")
    db.execute("ALTER TABLE documents ADD COLUMN contact_name TEXT NOT NULL DEFAULT ''")


@migrations(name="0017_idempotency_keys")
def m0017_idempotency_keys(db: SqliteUtilsDatabase) -> None:
    # Issue 15: the first answer to an Idempotency-Key, kept for a day (server/db/idempotency.py). A key belongs
    # to its sender (a portal user, a counterparty link's token hash) and to one method and path; the request it
    # answered is remembered by its fingerprint, so the same key with another request is refused, never replayed.
    db.execute("""
        CREATE TABLE idempotency_keys (
            id INTEGER PRIMARY KEY,
            owner TEXT NOT NULL,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            key TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done')),
            request_hash TEXT NOT NULL DEFAULT '',
            request_bytes INTEGER NOT NULL DEFAULT 0,
            request_complete INTEGER NOT NULL DEFAULT 1,
            status INTEGER NOT NULL DEFAULT 0,
            headers TEXT NOT NULL DEFAULT '[]',
            body BLOB,
            created_at TEXT NOT NULL,
            UNIQUE (owner, method, path, key)
        )""")
    db.execute("CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at)")


@migrations(name="0018_public_verdicts")
def m0018_public_verdicts(db: SqliteUtilsDatabase) -> None:
    # Issue 16: the id in a stamped copy's QR code. `/v/<public_id>` shows the verdict KlikDok keeps for the
    # document (file names, digests, the signatures' summary; never a file's contents). The id is random and
    # printed on paper, so it is no secret from whoever holds the copy, but it must not be guessable from another
    # one: 128 bits from `secrets` (server/workflow/public_verdict_store.py). One id per document, made on first
    # need, so every copy printed of a document points to the same page.
    db.execute("""
        CREATE TABLE public_verdicts (
            document_id INTEGER PRIMARY KEY REFERENCES documents(id),
            public_id TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL
        )""")


@migrations(name="0019_paper_copies")
def m0019_paper_copies(db: SqliteUtilsDatabase) -> None:
    # Issue 16: the stamped copies and the verification protocol of a completed document, stored on Bitrix24.Disk
    # beside the original (server/workflow/paper_copies.py, the outbox's `disk.paper`). A copy is made once and
    # its bytes kept here until the portal has it: a PDF carries its own creation time, so a copy made again
    # after a crash would differ from the one the portal may already hold, and only the same bytes let a repeated
    # upload find that file instead of adding a second. `kind`: 'stamped' (one per file, `file_id` set) or
    # 'protocol' (one per document). `data` is dropped once `disk_file_id` is recorded.
    db.execute("""
        CREATE TABLE paper_copies (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            kind TEXT NOT NULL CHECK (kind IN ('stamped', 'protocol')),
            file_id INTEGER REFERENCES document_files(id),
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            streebog256 TEXT NOT NULL,
            data BLOB,
            disk_file_id INTEGER,
            created_at TEXT NOT NULL,
            UNIQUE (document_id, position)
        )""")
    db.execute("CREATE INDEX paper_copies_disk ON paper_copies(disk_file_id)")


@migrations(name="0020_crm_status")
def m0020_crm_status(db: SqliteUtilsDatabase) -> None:
    # Issue 17 (crm-status): the «Статус ЭДО (KlikDok)» list field on each CRM kind's cards and the automation
    # triggers (server/workflow/crm_status.py). `crm_status_values` maps a document state to the enumeration item
    # the portal gave it at install, per kind (`entity_type` is the entity registry's code); the card's field is
    # set to that item id. `crm_trigger_fires` holds one row per document and event: `state` moves
    # pending -> sending in the same transaction as the outbox claim, so a restart never calls
    # `crm.automation.trigger.execute` twice for one event (at most once after the portal may have acted).
    db.execute("""
        CREATE TABLE crm_status_fields (
            entity_type TEXT PRIMARY KEY,
            field_id INTEGER NOT NULL,
            field_name TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE crm_status_values (
            entity_type TEXT NOT NULL REFERENCES crm_status_fields(entity_type),
            state TEXT NOT NULL,
            item_id INTEGER NOT NULL,
            PRIMARY KEY (entity_type, state)
        )""")
    db.execute("""
        CREATE TABLE crm_trigger_fires (
            document_id INTEGER NOT NULL REFERENCES documents(id),
            event TEXT NOT NULL,
            code TEXT NOT NULL,
            owner_type_id INTEGER NOT NULL,
            owner_id INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'unknown')),
            last_error TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL,
            PRIMARY KEY (document_id, event)
        )""")


@migrations(name="0021_robot_calls")
def m0021_robot_calls(db: SqliteUtilsDatabase) -> None:
    # Issue 17 (robots): a call of one of KlikDok's automation robots (server/workflow/robots.py). The portal
    # posts each call once per EVENT_TOKEN but may repeat the POST (a timeout on its side), so the token is the
    # key: a second POST finds the row and changes nothing. `state`: 'queued' (accepted, its work in the outbox),
    # 'waiting' (the wait robot, until the document completes, is rejected, withdrawn or expires), 'answered'
    # (its answer is in the outbox, enqueued in the same transaction as what it reports). `answer` is the
    # RETURN_VALUES sent, kept for the audit of what the automation was told.
    db.execute("""
        CREATE TABLE robot_calls (
            id INTEGER PRIMARY KEY,
            event_token TEXT NOT NULL UNIQUE,
            code TEXT NOT NULL,
            entity_type TEXT NOT NULL,
            entity_id INTEGER NOT NULL,
            user_id INTEGER,
            properties TEXT NOT NULL DEFAULT '{}',
            document_id INTEGER REFERENCES documents(id),
            state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'waiting', 'answered')),
            answer TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            answered_at TEXT
        )""")
    db.execute("CREATE INDEX robot_calls_waiting ON robot_calls(document_id) WHERE state = 'waiting'")


@migrations(name="0022_document_versions")
def m0022_document_versions(db: SqliteUtilsDatabase) -> None:
    # Issue 17: «Новая версия» of a rejected, withdrawn or expired document. `version` counts from 1 along a chain
    # of documents on the same CRM card; `previous_id` is the version it replaces. The next version is the row
    # whose `previous_id` is this one: the unique index lets a version have one successor only, so two clicks on
    # «Новая версия» at once make one version 2, not two.
    db.execute("ALTER TABLE documents ADD COLUMN version INTEGER NOT NULL DEFAULT 1")
    db.execute("ALTER TABLE documents ADD COLUMN previous_id INTEGER REFERENCES documents(id)")
    db.execute("CREATE UNIQUE INDEX documents_previous ON documents(previous_id) WHERE previous_id IS NOT NULL")


@migrations(name="0024_bulk_send")
def m0024_bulk_send(db: SqliteUtilsDatabase) -> None:
    # Issue 17, templates: a bulk send makes one document per deal from a document generator template
    # (server/workflow/templates.py). One row per (job, deal) holds where that deal stands, so a retry or a restart
    # continues where it stopped. `floor_id` is the newest generator document of that template and deal before
    # ours was asked for and `generated_id` the one the portal made for us: a lost `document.add` answer is found
    # again above `floor_id` instead of making a second one, and the unique index keeps two rows from claiming
    # the same generator document. `document_id` is written in the transaction that creates the KlikDok
    # document, so the row and the document exist together or not at all.
    db.execute("""
        CREATE TABLE bulk_jobs (
            id INTEGER PRIMARY KEY,
            author_id INTEGER NOT NULL,
            template_id INTEGER NOT NULL,
            template_name TEXT NOT NULL,
            signers TEXT NOT NULL DEFAULT '[]',
            message TEXT NOT NULL DEFAULT '',
            due_date TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE bulk_items (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES bulk_jobs(id),
            entity_type TEXT NOT NULL,
            entity_id INTEGER NOT NULL,
            position INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'generating', 'generated', 'done', 'failed')),
            floor_id INTEGER,
            generated_id INTEGER,
            document_id INTEGER REFERENCES documents(id),
            error TEXT NOT NULL DEFAULT '',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at REAL NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL,
            UNIQUE (job_id, entity_type, entity_id)
        )""")
    db.execute("CREATE UNIQUE INDEX bulk_items_generated ON bulk_items(generated_id) WHERE generated_id IS NOT NULL")
    db.execute("CREATE INDEX bulk_items_open ON bulk_items(state, next_at) WHERE state NOT IN ('done', 'failed')")


@migrations(name="0025_approvals")
def m0025_approvals(db: SqliteUtilsDatabase) -> None:
    # Issue 17: согласование before signing and observers («копия») (server/workflow/approval.py).
    # `document_approval`: one row per document that has approvers: the order (`sequential` one after another,
    # `parallel` all at once) and the round, which grows each time the author sends a returned document again.
    # `approval_steps`: the approvers of each round (a new round copies the list, so the comments of an earlier
    # round stay in the history); `state` is waiting / current / approved / sent_back / cancelled.
    # `document_observers`: people told of the outcome, who may read the document and do nothing else.
    db.execute("""
        CREATE TABLE document_approval (
            document_id INTEGER PRIMARY KEY REFERENCES documents(id),
            mode TEXT NOT NULL CHECK (mode IN ('sequential', 'parallel')),
            round INTEGER NOT NULL DEFAULT 0
        )""")
    db.execute("""
        CREATE TABLE approval_steps (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            round INTEGER NOT NULL,
            position INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            display_name TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL DEFAULT 'waiting'
                CHECK (state IN ('waiting', 'current', 'approved', 'sent_back', 'cancelled')),
            acted_at TEXT,
            comment TEXT NOT NULL DEFAULT '',
            UNIQUE (document_id, round, position)
        )""")
    db.execute("CREATE INDEX approval_steps_user ON approval_steps(user_id, state)")
    db.execute("""
        CREATE TABLE document_observers (
            document_id INTEGER NOT NULL REFERENCES documents(id),
            user_id INTEGER NOT NULL,
            display_name TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (document_id, user_id)
        )""")
    db.execute("CREATE INDEX document_observers_user ON document_observers(user_id)")


@migrations(name="0026_poa")
def m0026_poa(db: SqliteUtilsDatabase) -> None:
    # Issue 18: машиночитаемые доверенности (МЧД) and their verdicts (server/workflow/poa_store.py).
    # `poa_files`: an МЧД (XML + its detached .sig, both bounded by the upload route) bound either to an internal
    # user's registered certificate (`scope = 'certificate'`: applies to every signature of that certificate while
    # it is valid) or to one document's counterparty signature (`scope = 'document'`: uploaded on the public
    # page). What was read from the XML at upload (number, principal, validity, representative) is kept in
    # columns for the lists; the check at upload (`upload_status`, `upload_summary`) is a preview, the verdict
    # that counts is the one made for each signature. Removing keeps the row (`removed_at`): a signature that
    # relied on it still shows it.
    # `signature_poa`: the МЧД verdict stored with each accepted signature: which МЧД (none when the signer had
    # none), under which policy, the status (valid / invalid / indeterminate / missing / head / skipped), the
    # Russian one-line summary and the whole verdict as JSON.
    db.execute("""
        CREATE TABLE poa_files (
            id INTEGER PRIMARY KEY,
            scope TEXT NOT NULL CHECK (scope IN ('certificate', 'document')),
            certificate_id INTEGER REFERENCES signer_certificates(id),
            document_id INTEGER REFERENCES documents(id),
            xml BLOB NOT NULL,
            sig BLOB NOT NULL,
            file_name TEXT NOT NULL,
            number TEXT NOT NULL DEFAULT '',
            principal_name TEXT NOT NULL DEFAULT '',
            principal_inn TEXT NOT NULL DEFAULT '',
            representative TEXT NOT NULL DEFAULT '',
            valid_from TEXT NOT NULL DEFAULT '',
            valid_until TEXT NOT NULL DEFAULT '',
            upload_status TEXT NOT NULL DEFAULT '',
            upload_summary TEXT NOT NULL DEFAULT '',
            uploaded_by TEXT NOT NULL,
            uploaded_at TEXT NOT NULL,
            removed_at TEXT,
            CHECK ((scope = 'certificate') = (certificate_id IS NOT NULL)),
            CHECK ((scope = 'document') = (document_id IS NOT NULL))
        )""")
    db.execute("CREATE INDEX poa_files_certificate ON poa_files(certificate_id) WHERE removed_at IS NULL")
    db.execute("CREATE INDEX poa_files_document ON poa_files(document_id) WHERE removed_at IS NULL")
    db.execute("""
        CREATE TABLE signature_poa (
            signature_id INTEGER PRIMARY KEY REFERENCES signatures(id),
            poa_id INTEGER REFERENCES poa_files(id),
            policy TEXT NOT NULL CHECK (policy IN ('require', 'warn', 'off')),
            status TEXT NOT NULL
                CHECK (status IN ('valid', 'invalid', 'indeterminate', 'missing', 'head', 'skipped')),
            summary TEXT NOT NULL DEFAULT '',
            verdict TEXT NOT NULL DEFAULT '{}'
        )""")


@migrations(name="0028_template_attempts")
def m0028_template_attempts(db: SqliteUtilsDatabase) -> None:
    # Issue 17: a single «Создать из шаблона» asks the portal's generator for a document before the KlikDok
    # document exists. If the server dies in between (or the PDF is not ready yet), the user's next click for the
    # same card and template takes that generator document instead of making a second one: the attempt keeps
    # `floor_id` (the newest generator document of that template and card before ours, so a lost `add` answer is
    # found above it, as bulk_items does) and `generated_id`; `document_id` is written in the transaction that
    # creates the KlikDok document. One open attempt per user, card and template.
    db.execute("""
        CREATE TABLE template_attempts (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL,
            entity_type TEXT NOT NULL,
            entity_id INTEGER NOT NULL,
            template_id INTEGER NOT NULL,
            floor_id INTEGER NOT NULL,
            generated_id INTEGER,
            document_id INTEGER REFERENCES documents(id),
            created_at TEXT NOT NULL
        )""")
    db.execute(
        "CREATE UNIQUE INDEX template_attempts_open ON template_attempts(user_id, entity_type, entity_id, template_id)"
        " WHERE document_id IS NULL"
    )
    db.execute(
        "CREATE UNIQUE INDEX template_attempts_generated ON template_attempts(generated_id)"
        " WHERE generated_id IS NOT NULL"
    )


@migrations(name="0029_archive_checks")
def m0029_archive_checks(db: SqliteUtilsDatabase) -> None:
    # Issue 19: an auditor uploads a ZIP of signed documents and every signature in it is checked on the server
    # (server/workflow/archive_checks.py). The check and each signature's verdict are kept as they come, so the page
    # shows progress from here, and a server restarted mid-check goes on where it stopped: a signature with its
    # row (`position` in the archive's sorted list) is not checked again. The ZIP itself lives in
    # <data_dir>/archive-checks only until its check ends.
    db.execute("""
        CREATE TABLE archive_checks (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL,
            file_name TEXT NOT NULL,
            size INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
            total INTEGER NOT NULL DEFAULT 0,
            unsigned TEXT NOT NULL DEFAULT '[]',
            error TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            seconds REAL NOT NULL DEFAULT 0
        )""")
    db.execute("""
        CREATE TABLE archive_check_items (
            check_id INTEGER NOT NULL REFERENCES archive_checks(id),
            position INTEGER NOT NULL,
            signature TEXT NOT NULL,
            document TEXT,
            verdict TEXT NOT NULL CHECK (verdict IN ('valid', 'invalid', 'indeterminate', 'unusable')),
            headline TEXT NOT NULL,
            checked_at TEXT NOT NULL,
            PRIMARY KEY (check_id, position)
        )""")
    db.execute("CREATE INDEX archive_checks_open ON archive_checks(state) WHERE state IN ('queued', 'running')")
