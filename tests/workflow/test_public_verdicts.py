"""The public id a stamped copy's QR code carries (issue 16): one per document, random, looked up by its index."""

from __future__ import annotations

import sqlite_utils

from server.db import Database
from server.workflow import public_verdict_store, states
from server.workflow.public_verdicts import PublicVerdicts


def draft(d: sqlite_utils.Database) -> int:
    return states.create_draft(
        d,
        title="Подряд",
        entity_type="deal",
        entity_id=1,
        company_id=2,
        author_id=1,
        author_name="Морозова",
        department_id=4,
        files=[
            {
                "name": "p.pdf",
                "size": 1,
                "content_type": "application/pdf",
                "streebog256": "0" * 64,
                "streebog512": "0" * 128,
            }
        ],
        signers=[(3, "Соколов")],
        counterparty={"name": "ООО «Ромашка»", "inn": "7712345678", "ogrn": "1027700000001"},
        disk_folder_id=None,
    )


async def test_one_id_per_document_made_on_first_need_and_resolved_back(db: Database) -> None:
    first, second = await db.write(draft), await db.write(draft)
    verdicts = PublicVerdicts(db, public_url="https://edo.example.ru/")
    assert await db.read(lambda d: public_verdict_store.existing_id(d, first)) is None
    url = await verdicts.url_for(first)
    assert url.startswith("https://edo.example.ru/v/")
    public_id = url.rsplit("/", 1)[1]
    assert public_verdict_store.ID_PATTERN.fullmatch(public_id)
    assert await verdicts.url_for(first) == url  # the same page for every copy printed
    other = (await verdicts.url_for(second)).rsplit("/", 1)[1]
    assert other != public_id
    assert await verdicts.document_for(public_id) == first
    assert await verdicts.document_for(other) == second


async def test_a_forged_or_malformed_id_names_no_document(db: Database) -> None:
    doc = await db.write(draft)
    public_id = (await PublicVerdicts(db, public_url="http://x").url_for(doc)).rsplit("/", 1)[1]
    forged = ("A" if public_id[0] != "A" else "B") + public_id[1:]
    for candidate in (forged, public_id[:-1], public_id + "A", "", "' OR 1=1 --", public_id.upper() + "/.."):
        assert await PublicVerdicts(db, public_url="http://x").document_for(candidate) is None
