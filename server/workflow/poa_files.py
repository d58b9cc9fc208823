"""Where МЧД come from (issue 18): uploaded on «Мои сертификаты» for a registered certificate, or on the
counterparty's public page for one document.

An upload is an МЧД XML and its detached signature (.sig), both bounded by the route. It is read at once
(:func:`cades.poa.read_poa`: a file that is not an МЧД of the ФНС format, fails the schema or tries entity tricks
is refused with the reader's Russian message, nothing kept) and, for a certificate, checked against it right away
so the page can show the verdict as of now. That verdict is a preview: the one that counts is made for each
signature by :mod:`.poa_policy` at its signing time. Who may upload for a certificate: its owner, or the portal's
admin for anyone; both may remove it (the row stays for the signatures that relied on it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import msgspec

from cades.asn1 import MalformedInput, decode_armour, load_certificate
from server.config import Settings
from server.db import Database, audit

from . import certificate_store, poa_policy, poa_store
from .permissions import PermissionDenied
from .signatures import ValidationProvider
from .states import TransitionRefused
from .store import now_iso

# An МЧД is a few tens of kilobytes (the ФНС samples: 8-40 KB); this leaves room for long power lists.
MAX_XML_BYTES = 1024 * 1024


class PoaRefused(TransitionRefused):
    """An upload that is not an МЧД pair (``bad_poa``), with the reader's Russian reason."""


class ListedPoa(msgspec.Struct, kw_only=True):
    """An МЧД as «Мои сертификаты» and the admin's list show it."""

    id: int
    certificate_id: int | None
    file_name: str
    number: str
    principal_name: str
    principal_inn: str
    representative: str
    valid_from: str
    valid_until: str
    status: str  # the check at upload: valid | invalid | indeterminate
    status_text: str
    summary: str
    uploaded_at: str


def listed(row: poa_store.PoaRow) -> ListedPoa:
    return ListedPoa(
        id=row.id,
        certificate_id=row.certificate_id,
        file_name=row.file_name,
        number=row.number,
        principal_name=row.principal_name,
        principal_inn=row.principal_inn,
        representative=row.representative,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        status=row.upload_status,
        status_text=poa_policy.STATUS_WORDS.get(row.upload_status, ""),
        summary=row.upload_summary,
        uploaded_at=row.uploaded_at,
    )


def read_pair(xml: bytes, sig: bytes, max_sig: int) -> tuple[Any, bytes]:
    """(the read МЧД, the signature as DER), or PoaRefused saying what is wrong with the pair."""
    from cades.poa import PoaFormatError, read_poa  # the XML libraries load on the first МЧД, not at start

    if not xml.strip():
        raise PoaRefused("bad_poa", "Приложите файл МЧД (XML).")
    if not sig.strip():
        raise PoaRefused("bad_poa", "Приложите файл подписи МЧД (.sig): МЧД без подписи доверителя не действует.")
    if len(xml) > MAX_XML_BYTES:
        raise PoaRefused(
            "too_large", f"Файл МЧД больше {MAX_XML_BYTES // 1024} КБ: это не машиночитаемая доверенность."
        )
    try:
        poa = read_poa(xml)
    except PoaFormatError as exc:
        raise PoaRefused("bad_poa", f"Файл не принят как МЧД: {exc.message}") from None
    try:
        der = decode_armour(sig, max_size=max_sig)
    except MalformedInput:
        raise PoaRefused("bad_poa", "Файл подписи МЧД не является подписью CMS (PKCS#7).") from None
    return poa, der


class PoaFiles:
    """Uploads, lists and removals of МЧД; built per request from the running server's pieces."""

    def __init__(
        self,
        db: Database,
        *,
        settings: Settings,
        validation: ValidationProvider,
        own_inns: poa_policy.OwnInns | None = None,
        registry: Any = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.validation = validation
        self.own_inns = own_inns
        self.registry = registry

    @property
    def max_sig(self) -> int:
        return self.settings.limits.max_signature_kb * 1024

    async def _owned(self, user_id: int, admin: bool, certificate_id: int) -> tuple[int, bytes]:
        found = await self.db.read(lambda d: poa_store.certificate_owner(d, certificate_id))
        if found is None:
            raise TransitionRefused("not_found", "Сертификат не найден.")
        owner, _status, der = found
        if owner != user_id and not admin:
            raise PermissionDenied(
                "not_owner", "Загрузить МЧД к сертификату может его владелец или администратор портала."
            )
        return owner, der

    async def upload_for_certificate(
        self, *, user_id: int, admin: bool, certificate_id: int, xml: bytes, sig: bytes, file_name: str
    ) -> ListedPoa:
        """Bind an МЧД to a registered certificate (its owner or the admin); checked now for the page."""
        owner, der = await self._owned(user_id, admin, certificate_id)
        poa, sig_der = await asyncio.to_thread(read_pair, xml, sig, self.max_sig)
        facts = poa_policy.poa_facts(poa)
        status, summary = await self._preview(xml, sig_der, der, facts["principal_inn"])
        now = now_iso()

        def write(d: Any) -> int:
            poa_id = poa_store.insert(
                d,
                _new_poa(
                    facts,
                    scope="certificate",
                    certificate_id=certificate_id,
                    xml=xml,
                    sig=sig_der,
                    file_name=file_name,
                    upload_status=status,
                    upload_summary=summary,
                    uploaded_by=f"user:{user_id}",
                    uploaded_at=now,
                ),
            )
            audit.append(
                d,
                actor=f"user:{user_id}",
                action="poa.uploaded",
                object_type="certificate",
                object_id=certificate_id,
                details={"poa_id": poa_id, "number": facts["number"], "owner": owner, "status": status},
            )
            return poa_id

        poa_id = await self.db.write(write)
        row = await self.db.read(lambda d: poa_store.one(d, poa_id))
        assert row is not None
        return listed(row)

    async def _preview(self, xml: bytes, sig_der: bytes, cert_der: bytes, principal_inn: str) -> tuple[str, str]:
        """The check as of now with the certificate the МЧД is bound to (no power asked: that depends on the
        document); what the page shows beside the uploaded МЧД."""
        try:
            certificate = load_certificate(cert_der)
        except MalformedInput:
            return "indeterminate", "Сертификат не прочитан: МЧД будет проверена при подписании."
        inns = await poa_policy.own_company_inns(self.settings, self.own_inns)
        verdict = await asyncio.to_thread(
            poa_policy.run_check,
            xml,
            sig_der,
            certificate=certificate,
            signing_time=dt.datetime.now(dt.UTC),
            principal_inn=poa_policy.expected_inn(inns, principal_inn),
            powers=(),
            context=self.validation.current(),
            registry=(self.registry or poa_policy.registry_for(self.settings))
            if self.settings.mchd.registry_check
            else None,
            accept_revocation_unknown=self.settings.trust.revocation == "warn",
        )
        reasons = "; ".join(poa_policy.failed_checks(verdict))
        return verdict.status, verdict.summary() + (f" — {reasons}" if reasons else "")

    async def keep_for_document(
        self, *, document_id: int, xml: bytes, sig: bytes, file_name: str, actor: str
    ) -> poa_store.PoaRow:
        """The counterparty's МЧД for this document (the public page's upload); checked with each signature."""
        poa, sig_der = await asyncio.to_thread(read_pair, xml, sig, self.max_sig)
        facts = poa_policy.poa_facts(poa)
        now = now_iso()

        def write(d: Any) -> int:
            poa_id = poa_store.insert(
                d,
                _new_poa(
                    facts,
                    scope="document",
                    document_id=document_id,
                    xml=xml,
                    sig=sig_der,
                    file_name=file_name,
                    uploaded_by=actor,
                    uploaded_at=now,
                ),
            )
            audit.append(
                d,
                actor=actor,
                action="poa.uploaded",
                object_type="document",
                object_id=document_id,
                details={"poa_id": poa_id, "number": facts["number"]},
            )
            return poa_id

        poa_id = await self.db.write(write)
        row = await self.db.read(lambda d: poa_store.one(d, poa_id))
        assert row is not None
        return row

    async def of_user(self, user_id: int) -> list[ListedPoa]:
        def read(d: Any) -> list[poa_store.PoaRow]:
            ids = [int(r["id"]) for r in certificate_store.of_user(d, user_id)]
            return poa_store.of_certificates(d, ids)

        return [listed(r) for r in await self.db.read(read)]

    async def of_all(self) -> list[ListedPoa]:
        return [listed(r) for r in await self.db.read(poa_store.all_bound)]

    async def remove(self, *, user_id: int, admin: bool, poa_id: int) -> None:
        row = await self.db.read(lambda d: poa_store.one(d, poa_id))
        if row is None or row.removed_at is not None or row.certificate_id is None:
            raise TransitionRefused("not_found", "МЧД не найдена.")
        certificate_id = row.certificate_id
        await self._owned(user_id, admin, certificate_id)
        now = now_iso()

        def write(d: Any) -> None:
            if poa_store.remove(d, poa_id, now=now):
                audit.append(
                    d,
                    actor=f"user:{user_id}",
                    action="poa.removed",
                    object_type="certificate",
                    object_id=certificate_id,
                    details={"poa_id": poa_id, "number": row.number},
                )

        await self.db.write(write)


def _new_poa(facts: dict[str, str], *, file_name: str, **where: Any) -> poa_store.NewPoa:
    """The row of an uploaded МЧД: where it belongs and who sent it (``where``), what it says (``facts``)."""
    return poa_store.NewPoa(
        file_name=file_name or f"{facts['number'] or 'mchd'}.xml",
        number=facts["number"],
        principal_name=facts["principal_name"],
        principal_inn=facts["principal_inn"],
        representative=facts["representative"],
        valid_from=facts["valid_from"],
        valid_until=facts["valid_until"],
        **where,
    )
