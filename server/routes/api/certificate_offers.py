"""``/api/v1/me/certificates/offers``: the signer accepts the offer to bind the certificate of a refused signature.

The offer itself comes with the refusal (``bind_offer`` beside the error's message, see
:mod:`server.workflow.certificate_offers`); accepting it binds the certificate and accepts that signature again.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import post

from server.workflow.offer_acceptance import OfferAcceptance
from server.workflow.permissions import Viewer
from server.workflow.registration import CertificateRegistration
from server.workflow.signatures import AcceptedSignature

from ..dependencies import Services


class OfferAccepted(msgspec.Struct, kw_only=True):
    certificate: dict[str, Any]  # the registration's answer: serial, subject, issuer, status, message
    signature: AcceptedSignature | None  # the refused signature, accepted now (None: it was not)
    message: str


@post(
    "/api/v1/me/certificates/offers/{token:str}/accept",
    operation_id="accept_certificate_offer",
    status_code=200,
    summary="Bind the certificate of a signature refused as unbound (the offer's one-time token, valid an hour); "
    "the signature is then accepted without signing again",
    opt={"audit_action": "accept_certificate_offer"},
)
async def accept_certificate_offer(
    viewer: Viewer, registration: CertificateRegistration, services: Services, token: str
) -> OfferAccepted:
    offers = OfferAcceptance(services.db, registration, services.signatures)
    certificate, signature, message = await offers.accept(viewer, token)
    return OfferAccepted(certificate=certificate, signature=signature, message=message)


ROUTES = [accept_certificate_offer]
