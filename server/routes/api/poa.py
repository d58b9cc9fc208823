"""``/api/v1``: машиночитаемые доверенности (МЧД) bound to registered certificates (issue 18).

«Мои сертификаты» lists the session user's МЧД and uploads one for their certificate (multipart: ``xml`` and
``sig``, streamed and bounded like every upload); the admin's «Администрирование» lists everyone's and uploads or
removes for anyone. The МЧД is read at once (a file that is not an МЧД is refused with the reason) and checked
against the certificate as of now; the verdict that counts is made for each signature (server.workflow.poa_policy).
"""

from __future__ import annotations

import asyncio

from litestar import Request, get, post

from server.portal.sessions import Session
from server.workflow.permissions import PermissionDenied
from server.workflow.poa_files import MAX_XML_BYTES, ListedPoa, PoaFiles

from ..dependencies import Services
from ..errors import ApiProblem
from ..uploads import Limits, receive_form
from .documents import audited

FORM_OVERHEAD = 64 * 1024


def poa_files(services: Services) -> PoaFiles:
    signatures = services.signatures
    return PoaFiles(
        services.db,
        settings=services.settings,
        validation=signatures.validation,
        own_inns=signatures.own_inns,
        registry=signatures.poa_registry,
    )


def poa_limits(services: Services) -> Limits:
    sig = services.settings.limits.max_signature_kb * 1024
    message = (
        f"Файл МЧД больше {MAX_XML_BYTES // 1024} КБ или файл подписи больше "
        f"{services.settings.limits.max_signature_kb} КБ: такие файлы не принимаются."
    )
    return Limits(
        file_bytes=max(sig, MAX_XML_BYTES),
        total_bytes=MAX_XML_BYTES + sig + FORM_OVERHEAD,
        file_too_large=lambda _name: message,
        total_too_large=message,
    )


@get("/api/v1/me/poa", operation_id="my_poa", summary="The МЧД bound to the session user's certificates, newest first")
async def my_poa(session: Session, services: Services) -> list[ListedPoa]:
    return await poa_files(services).of_user(session.user_id)


@get(
    "/api/v1/admin/poa",
    operation_id="admin_poa",
    summary="Every МЧД bound to an employee's certificate (the portal admin)",
    opt=audited("admin_poa"),
)
async def admin_poa(session: Session, services: Services) -> list[ListedPoa]:
    if not session.admin:
        raise PermissionDenied("not_admin", "МЧД всех сотрудников видит только администратор портала Битрикс24.")
    return await poa_files(services).of_all()


@post(
    "/api/v1/certificates/{certificate_id:int}/poa",
    operation_id="upload_poa",
    status_code=201,
    request_max_body_size=None,
    summary="Bind an МЧД to a registered certificate (multipart: xml = the МЧД, sig = its detached signature); "
    "the certificate's owner, or the portal admin for anyone",
    opt=audited("upload_poa", object_type="certificate", object="certificate_id"),
)
async def upload_poa(request: Request, session: Session, services: Services, certificate_id: int) -> ListedPoa:
    async with receive_form(request, services.settings.storage.path, poa_limits(services)) as form:
        xml_part = next((f for f in form.files if f.field == "xml"), None)
        sig_part = next((f for f in form.files if f.field == "sig"), None)
        if xml_part is None or sig_part is None:
            raise ApiProblem(400, "bad_poa", "Приложите оба файла МЧД: сам XML и файл его подписи (.sig).")
        xml = await asyncio.to_thread(xml_part.read_bytes)
        sig = await asyncio.to_thread(sig_part.read_bytes)
        name = xml_part.filename
    return await poa_files(services).upload_for_certificate(
        user_id=session.user_id,
        admin=session.admin,
        certificate_id=certificate_id,
        xml=xml,
        sig=sig,
        file_name=name,
    )


@post(
    "/api/v1/poa/{poa_id:int}/remove",
    operation_id="remove_poa",
    status_code=200,
    request_max_body_size=16 * 1024,
    summary="Remove an МЧД from its certificate (the owner or the admin); signatures made with it keep showing it",
    opt=audited("remove_poa", object_type="poa", object="poa_id"),
)
async def remove_poa(session: Session, services: Services, poa_id: int) -> dict[str, bool]:
    await poa_files(services).remove(user_id=session.user_id, admin=session.admin, poa_id=poa_id)
    return {"removed": True}


ROUTES = [my_poa, admin_poa, upload_poa, remove_poa]
