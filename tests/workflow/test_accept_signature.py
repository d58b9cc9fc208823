"""accept_signature in-process on a real SQLite file: the counterparty's step (for the exchange issue), the
"warn" policy, and the checks that run again inside the transaction."""

from __future__ import annotations

import json

import msgspec
import pytest
import sqlite_utils

from server.config import Settings
from server.db import Database
from server.workflow import states
from server.workflow.files import digests
from server.workflow.signatures import (
    FixedValidation,
    SignatureDeps,
    SignatureRefused,
    SignerClaim,
    accept_signature,
    validation_context,
)
from tests.support.pki_fixtures import GostPki
from tests.workflow.conftest import DIRECTOR, MANAGER, People

DATA = "Договор подряда".encode()


def settings_for(pki: GostPki, *, revocation: str = "require", **policy: object) -> Settings:
    """The test CA trusted, with the CRLs of both its CAs: every certificate's revocation status is known."""
    base = msgspec.to_builtins(Settings())
    base["trust"]["roots"] = [str(pki.root.cert)]
    base["trust"]["intermediates"] = [str(pki.inter.cert)]
    base["trust"]["crls"] = [str(pki.crl), str(pki.root_crl)]
    base["trust"]["revocation"] = revocation
    base["trust"]["fetch"] = False
    base["policy"].update(policy)
    return msgspec.convert(base, Settings)


def make_document(d: sqlite_utils.Database, *, inn: str = "7712345678", ogrn: str = "1027700000001") -> int:
    d256, d512 = digests(DATA)
    doc_id = states.create_draft(
        d,
        title="Подряд",
        entity_type="deal",
        entity_id=1,
        company_id=2,
        author_id=MANAGER,
        author_name="Морозова",
        department_id=4,
        files=[
            {
                "name": "p.pdf",
                "size": len(DATA),
                "content_type": "application/pdf",
                "streebog256": d256,
                "streebog512": d512,
            }
        ],
        signers=[(DIRECTOR, "Соколов")],
        counterparty={"name": "ООО «Ромашка»", "inn": inn, "ogrn": ogrn},
        disk_folder_id=None,
    )
    states.send(d, doc_id, actor_id=MANAGER, counterparty_days=14)
    return doc_id


async def register_director(db: Database, people: People) -> None:
    await db.write(
        lambda d: d.execute(
            "INSERT INTO signer_certificates (user_id, issuer, serial, subject, der, registered_by, registered_at)"
            " SELECT ?, ?, ?, '', x'00', ?, '' ",
            [DIRECTOR, *certificate_key(people, DIRECTOR), DIRECTOR],
        )
    )


async def sign_internally(deps: SignatureDeps, people: People, doc_id: int) -> None:
    await register_director(deps.db, people)
    accepted = await accept_signature(
        deps,
        document_id=doc_id,
        file_id=1,
        cms=people.sign(DIRECTOR, DATA),
        claim=SignerClaim("internal", user_id=DIRECTOR),
        source="agent",
    )
    assert accepted.document_state == "awaiting_counterparty"


def certificate_key(people: People, user_id: int) -> tuple[str, str]:
    from asn1crypto import x509

    from cades.certs import cert_info

    info = cert_info(x509.Certificate.load(people.certs[user_id].cert_der))
    return info.issuer, info.serial.lower()


async def test_the_counterparty_step_checks_the_crm_inn_and_completes(db: Database, people: People) -> None:
    pki = people.pki
    deps = SignatureDeps(
        db=db, settings=settings_for(pki), validation=FixedValidation(validation_context(settings_for(pki)))
    )
    doc_id = await db.write(make_document)
    await sign_internally(deps, people, doc_id)
    # An employee cannot sign in the counterparty's place, and a certificate of another organisation is refused.
    with pytest.raises(SignatureRefused) as internal:
        await accept_signature(
            deps,
            document_id=doc_id,
            file_id=1,
            cms=pki.pki.sign(pki.user256, DATA),
            claim=SignerClaim("internal", user_id=DIRECTOR),
            source="upload",
        )
    assert internal.value.code == "not_current_signer"
    with pytest.raises(SignatureRefused) as foreign:
        await accept_signature(
            deps,
            document_id=doc_id,
            file_id=1,
            cms=people.sign(DIRECTOR, DATA),
            claim=SignerClaim("counterparty", label="link:7"),
            source="counterparty",
        )
    assert foreign.value.code == "wrong_signer" and "7712345678" in foreign.value.message
    # The organisation's own certificate (ИНН ЮЛ 7712345678, ОГРН 1027700000001) completes the document.
    done = await accept_signature(
        deps,
        document_id=doc_id,
        file_id=1,
        cms=pki.pki.sign(pki.user256, DATA),
        claim=SignerClaim("counterparty", label="link:7"),
        source="counterparty",
    )
    assert done.document_state == "completed" and done.step_completed
    rows = await db.read(lambda d: d.execute("SELECT kind FROM outbox ORDER BY id").fetchall())
    assert [r[0] for r in rows].count("disk.signature") == 2
    actors = await db.read(
        lambda d: d.execute(
            "SELECT actor, action FROM audit_log WHERE action LIKE 'signature.%' ORDER BY id"
        ).fetchall()
    )
    assert actors[-1] == ("counterparty:link:7", "signature.accepted")


async def test_warn_policy_accepts_a_mismatch_and_marks_the_document(db: Database, people: People) -> None:
    pki = people.pki
    # The identity mismatch alone: the МЧД this person's certificate would need is another policy's (issue 18,
    # tests/workflow/test_poa_internal.py), whose "warn" would add its own warning here.
    settings = settings_for(pki, internal_identity_mismatch="warn", internal_poa="off")
    deps = SignatureDeps(db=db, settings=settings, validation=FixedValidation(validation_context(settings)))
    doc_id = await db.write(make_document)
    accepted = await accept_signature(
        deps,
        document_id=doc_id,
        file_id=1,
        cms=pki.pki.sign(pki.user512, DATA),
        claim=SignerClaim("internal", user_id=DIRECTOR),
        source="upload",
    )
    assert accepted.warning and "Соколов" in accepted.warning
    warnings = await db.read(lambda d: d.execute("SELECT warnings FROM documents").fetchone()[0])
    assert "Соколов" in json.loads(warnings)[0]
    stored = await db.read(lambda d: d.execute("SELECT identity_warning, status FROM signatures").fetchone())
    assert stored[0] == accepted.warning and stored[1] == "valid"


async def test_untrusted_expired_and_revoked_certificates_are_refused(db: Database, people: People) -> None:
    pki = people.pki
    settings = settings_for(pki, internal_identity_mismatch="warn")
    doc_id = await db.write(make_document)
    untrusted = SignatureDeps(db=db, settings=settings, validation=FixedValidation(validation_context(Settings())))
    with pytest.raises(SignatureRefused) as no_root:
        await accept_signature(
            untrusted,
            document_id=doc_id,
            file_id=1,
            cms=people.sign(DIRECTOR, DATA),
            claim=SignerClaim("internal", user_id=DIRECTOR),
            source="upload",
        )
    assert no_root.value.code == "unverifiable" and "chain_incomplete" in no_root.value.details["reasons"]
    deps = SignatureDeps(db=db, settings=settings, validation=FixedValidation(validation_context(settings)))
    with pytest.raises(SignatureRefused) as expired:
        await accept_signature(
            deps,
            document_id=doc_id,
            file_id=1,
            cms=pki.pki.sign(pki.expired, DATA),
            claim=SignerClaim("internal", user_id=DIRECTOR),
            source="upload",
        )
    assert expired.value.code in ("invalid_signature", "unverifiable")
    assert "expired" in expired.value.details["reasons"]
    with_crl = settings_for(pki, internal_identity_mismatch="warn")
    with_crl = msgspec.structs.replace(with_crl, trust=msgspec.structs.replace(with_crl.trust, crls=[str(pki.crl)]))
    crl_deps = SignatureDeps(db=db, settings=with_crl, validation=FixedValidation(validation_context(with_crl)))
    with pytest.raises(SignatureRefused) as revoked:
        await accept_signature(
            crl_deps,
            document_id=doc_id,
            file_id=1,
            cms=pki.pki.sign(pki.revoked, DATA),
            claim=SignerClaim("internal", user_id=DIRECTOR),
            source="upload",
        )
    assert revoked.value.code == "invalid_signature" and "отозван" in revoked.value.message
    with pytest.raises(SignatureRefused) as too_big:
        await accept_signature(
            deps,
            document_id=doc_id,
            file_id=1,
            cms=b"0" * (1024 * 1024 + 1),
            claim=SignerClaim("internal", user_id=DIRECTOR),
            source="upload",
        )
    assert too_big.value.code == "too_large"
    assert await db.read(lambda d: d.execute("SELECT count(*) FROM signatures").fetchone()[0]) == 0
    assert await db.read(lambda d: d.execute("SELECT state FROM documents").fetchone()[0]) == "awaiting_internal"


def without_root_crl(settings: Settings) -> Settings:
    """Only the issuing CA's CRL: the intermediate's own revocation status (the root's CRL) stays unknown."""
    trust = msgspec.structs.replace(settings.trust, crls=[c for c in settings.trust.crls if "root" not in c])
    return msgspec.structs.replace(settings, trust=trust)


async def test_the_fixture_settings_leave_no_revocation_status_unknown(db: Database, people: People) -> None:
    """The settings every test here uses supply both CAs' CRLs, so accepted signatures are fully checked."""
    settings = settings_for(people.pki)
    deps = SignatureDeps(db=db, settings=settings, validation=FixedValidation(validation_context(settings)))
    await register_director(db, people)
    doc_id = await db.write(make_document)
    accepted = await accept_signature(
        deps,
        document_id=doc_id,
        file_id=1,
        cms=people.sign(DIRECTOR, DATA),
        claim=SignerClaim("internal", user_id=DIRECTOR),
        source="upload",
    )
    assert accepted.status == "valid" and accepted.warning == ""
    stored = await db.read(lambda d: d.execute("SELECT verification FROM signatures").fetchone()[0])
    certificate = json.loads(stored)["signatures"][0]["certificate"]
    assert certificate["revocation"] == "good"


async def test_unknown_revocation_is_refused_under_require(db: Database, people: People) -> None:
    settings = without_root_crl(settings_for(people.pki, revocation="require"))
    deps = SignatureDeps(db=db, settings=settings, validation=FixedValidation(validation_context(settings)))
    await register_director(db, people)
    doc_id = await db.write(make_document)
    with pytest.raises(SignatureRefused) as refused:
        await accept_signature(
            deps,
            document_id=doc_id,
            file_id=1,
            cms=people.sign(DIRECTOR, DATA),
            claim=SignerClaim("internal", user_id=DIRECTOR),
            source="upload",
        )
    assert refused.value.code == "unverifiable"
    assert refused.value.details["reasons"] == ["revocation_unknown"]
    assert "не отозван ли сертификат" in refused.value.message and 'revocation = "warn"' in refused.value.message
    assert await db.read(lambda d: d.execute("SELECT count(*) FROM signatures").fetchone()[0]) == 0
    audited = await db.read(
        lambda d: d.execute("SELECT details FROM audit_log WHERE action = 'signature.refused'").fetchone()[0]
    )
    assert json.loads(audited)["code"] == "unverifiable"


async def test_unknown_revocation_is_accepted_with_a_warning_under_warn(db: Database, people: People) -> None:
    settings = without_root_crl(settings_for(people.pki, revocation="warn"))
    deps = SignatureDeps(db=db, settings=settings, validation=FixedValidation(validation_context(settings)))
    await register_director(db, people)
    doc_id = await db.write(make_document)
    accepted = await accept_signature(
        deps,
        document_id=doc_id,
        file_id=1,
        cms=people.sign(DIRECTOR, DATA),
        claim=SignerClaim("internal", user_id=DIRECTOR),
        source="upload",
    )
    assert accepted.status == "indeterminate"
    assert accepted.warning == "статус отзыва сертификата не проверен"
    warnings = await db.read(lambda d: d.execute("SELECT warnings FROM documents").fetchone()[0])
    assert json.loads(warnings) == ["p.pdf: статус отзыва сертификата не проверен"]
    stored = await db.read(lambda d: d.execute("SELECT status, identity_warning FROM signatures").fetchone())
    assert tuple(stored) == ("indeterminate", "")
    audited = await db.read(
        lambda d: d.execute("SELECT details FROM audit_log WHERE action = 'signature.accepted'").fetchone()[0]
    )
    assert json.loads(audited)["revocation_warning"] == "статус отзыва сертификата не проверен"


async def test_warn_never_accepts_a_revoked_or_untrusted_signature(db: Database, people: People) -> None:
    """ "warn" forgives only the unknown revocation status, nothing the verification proved or could not anchor."""
    pki = people.pki
    settings = settings_for(pki, revocation="warn", internal_identity_mismatch="warn")
    doc_id = await db.write(make_document)
    deps = SignatureDeps(db=db, settings=settings, validation=FixedValidation(validation_context(settings)))
    with pytest.raises(SignatureRefused) as revoked:
        await accept_signature(
            deps,
            document_id=doc_id,
            file_id=1,
            cms=pki.pki.sign(pki.revoked, DATA),
            claim=SignerClaim("internal", user_id=DIRECTOR),
            source="upload",
        )
    assert revoked.value.code == "invalid_signature"
    foreign = SignatureDeps(db=db, settings=settings, validation=FixedValidation(validation_context(Settings())))
    with pytest.raises(SignatureRefused) as untrusted:
        await accept_signature(
            foreign,
            document_id=doc_id,
            file_id=1,
            cms=people.sign(DIRECTOR, DATA),
            claim=SignerClaim("internal", user_id=DIRECTOR),
            source="upload",
        )
    assert untrusted.value.code == "unverifiable" and "chain_incomplete" in untrusted.value.details["reasons"]
