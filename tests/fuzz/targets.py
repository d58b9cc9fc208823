"""The parsers the fuzz harness drives: each one's entry point, its documented refusal, and its oracle.

A target's ``setup()`` runs once in the worker process and returns ``run(data) -> (verdict, detail)``:
``accepted`` or ``refused`` (the parser's documented refusal type), or ``false_valid`` when the oracle catches
a mutated signature or document reported valid. Any other exception escapes ``run`` and is the harness's
"unhandled exception" finding. Entry points are the functions the server calls on outside input:

- ``cms``: :func:`cades.verify.verify_cms` (refusal ``MalformedInput``), with the test PKI trusted and its CRLs;
- ``document``: the same, with the seed signatures and a mutated document;
- ``certificate`` / ``crl``: :func:`cades.asn1.load_certificate` / ``load_crl`` (``MalformedInput``), then what
  the verifier reads from them (``facts``, ``validate_chain``, ``crl_index`` with the real issuer); a mutated
  certificate must not chain to the trusted root, a mutated CRL must not pass as signed by its issuer;
- ``ocsp``: :func:`cades.ocsp.check_response` (documented never to raise; a bad answer is ``unusable``); a mutated
  response must not be taken as the responder's ``good`` or ``revoked``;
- ``tsl``: :func:`cades.tsl.parse_tsl` (``TslError``); ``poa``: :func:`cades.poa.read_poa` (``PoaFormatError``);
- ``portal_form``: the real application in-process, installed on the portal emulator (``POST /b24/tab``,
  ``/b24/app``, ``/b24/events``), plus ``placement_entity`` and ``slider_create_entity`` on the decoded form: a
  5xx answer other than the documented 502 (portal unreachable) is a finding;
- ``jsonrpc``: ``POST /cryptoarm/json`` of the real application, live transactions among them; a 5xx or a
  JSON-RPC internal error (-32603, what the route answers for anything that escaped it) is a finding;
- ``frames``: the real hub over ``/agent/ws`` as a paired agent (an ``error``/``internal`` answer is a finding,
  ``bad_message`` the refusal), and the agent's reader :func:`common.agent_protocol.decode_server`
  (``msgspec.DecodeError``);
- ``upload_form``: :func:`server.routes.uploads.receive_form` behind a Litestar route as the public signing page
  uses it (``UploadRefused``); a temporary file left behind is a finding too.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import mutators

CORPUS = Path(__file__).with_name("corpus")
REPO = Path(__file__).resolve().parents[2]
POA_SAMPLES = REPO / "tests" / "poa" / "samples"
TC26_SAMPLES = REPO / "tests" / "cades" / "samples" / "tc26"

Run = Callable[[bytes], tuple[str, str]]


@dataclass(frozen=True)
class Target:
    name: str
    seeds: Callable[[], list[bytes]]
    mutate: mutators.Mutator
    setup: Callable[[], Run]
    what: str
    warm_up: bool = True  # run the seeds once, untimed, before the timed inputs (see harness._worker)


def _files(*patterns: str, base: Path = CORPUS) -> list[bytes]:
    out: list[bytes] = []
    for pattern in patterns:
        out.extend(p.read_bytes() for p in sorted(base.glob(pattern)))
    return out


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPUS / "manifest.json").read_text())
    return data


def _at() -> dt.datetime:
    return dt.datetime.fromisoformat(manifest()["at"])


def _context() -> Any:
    from cades.asn1 import load_certificate, load_crl
    from cades.validation import ValidationContext

    m = manifest()
    return ValidationContext(
        trust_roots=tuple(load_certificate((CORPUS / p).read_bytes()) for p in m["trust_roots"]),
        crls=tuple(load_crl((CORPUS / p).read_bytes()) for p in m["crls"]),
        at=_at(),
    )


# --- signatures -------------------------------------------------------------------------------------------


def _signer_key(parsed: Any, signer: Any, content: bytes | None) -> tuple[bytes, bytes, bytes | None]:
    """What a signer's validity rests on: the signature value, the DER of the signed attributes, and the content
    (None when signed attributes bind it through messageDigest)."""
    from cades.asn1 import ber_to_der

    attrs = ber_to_der(signer.signed_attrs_raw) if signer.signed_attrs_raw else b""
    return (bytes(signer.signature), attrs, content)


def setup_cms() -> Run:
    from cades.asn1 import MalformedInput
    from cades.cms import parse_signed_data
    from cades.verify import verify_cms

    m = manifest()
    document = (CORPUS / m["document"]).read_bytes()
    context = _context()
    genuine: set[tuple[bytes, bytes, bytes | None]] = set()
    for path in m["valid_signatures"]:
        blob = (CORPUS / path).read_bytes()
        parsed = parse_signed_data(blob)
        result = verify_cms(blob, None if parsed.content is not None else document, context=context)
        if result.status != "valid":
            raise AssertionError(
                f"seed {path} does not verify as valid ({result.signatures[0].reasons}): the oracle is void"
            )
        for signer in parsed.signers:
            genuine.add(_signer_key(parsed, signer, document))

    def run(data: bytes) -> tuple[str, str]:
        try:
            parsed = parse_signed_data(data)
            content = None if parsed.content is not None else document
            result = verify_cms(data, content, context=context)
        except MalformedInput:
            return "refused", ""
        valid = [s for s in result.signatures if s.status == "valid"]
        if not valid:
            return "accepted", result.status
        used = parsed.content if parsed.content is not None else document
        for sig in valid:
            key = _signer_key(parsed, parsed.signers[sig.index], used)
            if key not in genuine:
                return "false_valid", f"signer {sig.index} valid with altered signed data, signature or content"
            if sig.certificate is None or sig.signer is None:
                return "false_valid", f"signer {sig.index} valid without a certificate"
        return "accepted", "valid (only unsigned parts changed)"

    return run


def setup_document() -> Run:
    from cades.verify import verify_cms

    m = manifest()
    document = (CORPUS / m["document"]).read_bytes()
    context = _context()
    detached = [(CORPUS / p).read_bytes() for p in m["valid_signatures"] if "detached" in p]

    counter = iter(range(1 << 62))

    def run(data: bytes) -> tuple[str, str]:
        """Each input against one of the detached seed signatures in turn (CAdES-BES, no signed attributes,
        CAdES-T), so every signature kind meets every kind of change."""
        if data == document:
            return "accepted", "unchanged"
        blob = detached[next(counter) % len(detached)]
        result = verify_cms(blob, data, context=context)
        if result.status == "valid" or any(s.intact for s in result.signatures):
            return "false_valid", f"a changed document ({len(data)} bytes) verifies"
        return "refused", result.status

    return run


def setup_certificate() -> Run:
    from cades.asn1 import MalformedInput, load_certificate
    from cades.certs import der_of, facts
    from cades.validation import validate_chain

    context = _context()
    at = _at()
    genuine = {der_of(load_certificate(b)) for b in _files("certificate/*.cer")}

    def run(data: bytes) -> tuple[str, str]:
        try:
            cert = load_certificate(data)
        except MalformedInput:
            return "refused", ""
        info = facts(cert).info
        _ = (info.subject, info.issuer, info.identity, info.serial)
        chain = validate_chain(cert, context=context, at=at)
        # A trust anchor is its name and key (RFC 5280 §6.1.1): a root re-encoded around them is still the anchor.
        forged = der_of(cert) not in genuine and not context.is_anchor(cert)
        if not chain.reasons and forged and chain.chain and context.is_anchor(chain.chain[-1]):
            return "false_valid", "a mutated certificate chains to the trusted root without a reason"
        return "accepted", ""

    return run


def setup_crl() -> Run:
    from cades.asn1 import MalformedInput, load_certificate, load_crl
    from cades.revocation import crl_index

    issuers = [load_certificate(b) for b in _files("certificate/inter.cer", "certificate/root.cer")]
    genuine = {load_crl(b)["tbs_cert_list"].dump() for b in _files("crl/*.crl")}

    def run(data: bytes) -> tuple[str, str]:
        try:
            crl = load_crl(data)
        except MalformedInput:
            return "refused", ""
        for issuer in issuers:
            index = crl_index(crl, issuer)
            if index is not None and crl["tbs_cert_list"].dump() not in genuine:
                return "false_valid", "a mutated CRL is taken as signed by its issuer"
        return "accepted", ""

    return run


def setup_ocsp() -> Run:
    from asn1crypto import ocsp as asn1_ocsp

    from cades.asn1 import load_certificate
    from cades.ocsp import check_response

    m = manifest()
    at = _at()
    cases = []
    genuine: set[bytes] = set()
    for name, case in m["ocsp"].items():
        cert_path = CORPUS / case["cert"] if "/" in case["cert"] else CORPUS / "ocsp" / case["cert"]
        cert = load_certificate(cert_path.read_bytes())
        issuer = load_certificate((CORPUS / case["issuer"]).read_bytes())
        der = (CORPUS / "ocsp" / name).read_bytes()
        answer = check_response(der, cert, issuer, at=at, now=at, nonce=None)
        if answer.status != case["status"]:
            raise AssertionError(f"seed {name}: {answer.status} {answer.problem}, expected {case['status']}")
        basic = asn1_ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
        genuine.add(basic["tbs_response_data"].dump())
        cases.append((cert, issuer))

    def run(data: bytes) -> tuple[str, str]:
        verdicts = []
        for cert, issuer in cases:
            answer = check_response(data, cert, issuer, at=at, now=at, nonce=None)
            verdicts.append(answer.status)
            if answer.status in ("good", "revoked"):
                basic = asn1_ocsp.OCSPResponse.load(data)["response_bytes"]["response"].parsed
                if basic["tbs_response_data"].dump() not in genuine:
                    return "false_valid", f"a mutated OCSP response is trusted ({answer.status})"
        return ("refused" if set(verdicts) == {"unusable"} else "accepted"), ",".join(verdicts)

    return run


# --- XML --------------------------------------------------------------------------------------------------


def setup_tsl() -> Run:
    from cades.tsl import TslError, parse_tsl

    def run(data: bytes) -> tuple[str, str]:
        try:
            tsl = parse_tsl(data)
        except TslError:
            return "refused", ""
        _ = [(ca.name, ca.accredited, [k.certificates for k in ca.keys]) for ca in tsl.cas]
        return "accepted", ""

    return run


def setup_poa() -> Run:
    from cades.poa import PoaFormatError, read_poa

    def run(data: bytes) -> tuple[str, str]:
        try:
            poa = read_poa(data)
        except PoaFormatError:
            return "refused", ""
        _ = (poa.number, poa.principal, poa.representatives, poa.powers)
        return "accepted", ""

    return run


# --- the server's HTTP parsers, through the real application in-process ---------------------------------


class _App:
    """The real Litestar application (``server.app.create_app``) on a throw-away data folder, called in-process
    through its ASGI interface: the real routing, form and JSON parsing, handlers, database and error pages,
    without a socket (a socket would add a millisecond a request and nothing to what is parsed).

    With ``portal``, the Bitrix24 portal emulator (demo/portal_emulator.py) runs beside it on loopback and the app
    is installed on it the way the portal does it, so placement POSTs carrying the emulator's member_id,
    application token and a live AUTH_ID get past the token checks into the user lookup and the pages."""

    def __init__(self, *, portal: bool = False) -> None:
        from litestar.testing import TestClient

        from server.app import create_app
        from server.config import load_settings

        self._tmp = tempfile.TemporaryDirectory(prefix="klikdok-fuzz-app-")
        self.emulator: Any = None
        portal_url = "http://127.0.0.1:9"
        if portal:
            from demo.portal_emulator import EmulatorConfig, PortalEmulator

            self.emulator = PortalEmulator(EmulatorConfig(rate_per_second=100_000, burst=100_000)).start()
            portal_url = self.emulator.base_url
        settings = load_settings(
            None,
            environ={
                "KLIKDOK_STORAGE_DATA_DIR": self._tmp.name,
                "KLIKDOK_SERVER_PUBLIC_URL": "http://127.0.0.1:9",
                "KLIKDOK_PORTAL_URL": portal_url,
                "KLIKDOK_PORTAL_RATE_PER_SECOND": "100000",
                "KLIKDOK_PORTAL_BURST": "100000",
            },
        )
        self.settings = settings
        self.client = TestClient(create_app(settings), raise_server_exceptions=False, timeout=5)
        self.client.__enter__()
        if portal:
            self.install()

    def install(self) -> None:
        form = self.emulator.state.placement_form(1, "DEFAULT")
        response = self.client.post(f"/b24/install?{self.query()}", data=form)
        if response.status_code != 200:
            raise RuntimeError(f"install on the emulator failed: {response.status_code} {response.text[:300]}")

    def query(self) -> str:
        from urllib.parse import urlencode

        return urlencode({"DOMAIN": f"{self.emulator.host}:{self.emulator.port}", "PROTOCOL": "0", "APP_SID": "s"})

    def post(self, path: str, body: bytes, content_type: str) -> Any:
        return self.client.post(path, content=body, headers={"content-type": content_type})


def _server_error(response: Any, what: str) -> tuple[str, str] | None:
    if response.status_code >= 500:
        raise RuntimeError(f"{what} answered {response.status_code}: {response.text[:300]}")
    return None


# The seed forms carry these stand-ins; the runner puts the emulator's real values in after mutation, so a
# mutated form still holds live credentials wherever the mutation left them alone.
FORM_PLACEHOLDERS = {"m" * 32: "member_id", "t0k3n": "application_token", "a1b2c3d4e5": "auth_id"}


def setup_portal_form() -> Run:
    from urllib.parse import quote

    from server.bitrix24.phpquery import MalformedQuery, decode
    from server.portal.service import PortalRejected, placement_entity
    from server.routes.portal_pages import slider_create_entity

    app = _App(portal=True)
    paths = ["/b24/tab", "/b24/app", "/b24/events"]
    counter = iter(range(1 << 62))
    config = app.emulator.state.config

    def live(data: bytes) -> bytes:
        auth_id = app.emulator.state.placement_form(1, "DEFAULT")["AUTH_ID"]
        values = {"member_id": config.member_id, "application_token": config.application_token, "auth_id": auth_id}
        for placeholder, name in FORM_PLACEHOLDERS.items():
            data = data.replace(placeholder.encode(), quote(values[name]).encode())
        return data

    def run(data: bytes) -> tuple[str, str]:
        n = next(counter)
        path = paths[n % len(paths)]
        # One input in four carries live credentials into the page (user lookup, rendering: ~50 ms); the others
        # stop at the token checks, so the form decoding itself gets most of the inputs.
        body = live(data) if n % 4 == 0 else data
        response = app.post(f"{path}?{app.query()}", body, "application/x-www-form-urlencoded")
        # 502 is the page's documented answer when the portal does not answer (the emulator refusing a damaged
        # token is not that); anything else from 500 up is a failure of ours.
        if response.status_code >= 500 and response.status_code != 502:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
        if path == "/b24/events" and b"event accepted" in response.content:
            app.install()  # an accepted ONAPPUNINSTALL disabled the app: install it again for the next inputs
        if response.status_code == 413:
            # Refused for its size before the server decoded it; decoding tens of megabytes here to classify it
            # took seconds of the harness's own time, which the 2-second limit counted as the server's hang.
            return "refused", "413"
        try:
            form = decode(body)
        except MalformedQuery:
            return "refused", str(response.status_code)
        slider_create_entity(form)
        try:
            placement_entity(form)
        except PortalRejected:
            return "refused", str(response.status_code)
        return ("refused" if response.status_code >= 400 else "accepted"), str(response.status_code)

    run.__dict__["_keep"] = app
    return run


SEED_TRANSACTION = "8c1f0f5e-2f0b-4f5e-9c39-6f7e8f9a0b1c"


def setup_jsonrpc() -> Run:
    """Bodies for ``POST /cryptoarm/json``. One input in three is sent for a live transaction: a certificate
    binding for user 1 of the emulated portal, minted in the database and opened with a real
    ``signAndEncrypt.parameters`` call, so the results (base64, PEM, the CMS, the reported certificate) are read
    by the real handler. The route answers anything that escapes it with JSON-RPC -32603 and HTTP 200: that
    answer is the finding here, as a 5xx is."""
    from server.app import open_database
    from server.cryptoarm import transactions

    app = _App(portal=True)
    db = open_database(app.settings)
    counter = iter(range(1 << 62))

    def live_transaction() -> str:
        txn_id, _ = db.write_sync(
            lambda d: transactions.create(
                d,
                kind="certificate",
                targets=[],
                minutes=10,
                user_id=1,
                actor="user:1",
                secret=b"klikdok-certificate-registration user=1 nonce=fuzzfuzzfuzzfuzzfuzz",
            )
        )
        opened = app.post(
            "/cryptoarm/json",
            json.dumps({"jsonrpc": "2.0", "method": "signAndEncrypt.parameters", "id": txn_id}).encode(),
            "application/json",
        )
        if "result" not in opened.json():
            raise RuntimeError(f"the live transaction did not open: {opened.text[:300]}")
        return str(txn_id)

    def run(data: bytes) -> tuple[str, str]:
        n = next(counter)
        if n % 3 == 0:
            data = data.replace(SEED_TRANSACTION.encode(), live_transaction().encode())
        path = "/cryptoarm/json" + (f"?id={SEED_TRANSACTION}" if n % 3 == 1 else "")
        response = app.post(path, data, "application/json")
        _server_error(response, path)
        if response.status_code == 204:
            return "accepted", "204"
        try:
            body = response.json()
        except ValueError:
            return "refused", str(response.status_code)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("code") == -32603:
            raise RuntimeError(f"the handler failed (JSON-RPC internal error): {body}")
        if isinstance(error, dict):
            return "refused", str((error.get("data") or {}).get("code") or error.get("code"))
        return "accepted", str(response.status_code)

    run.__dict__["_keep"] = (app, db)
    return run


def _paired_agent(app: _App) -> str:
    """A device key for a paired agent of user 7, made the way pairing makes one (code issued, then redeemed)."""
    from server.agents import store as agent_store
    from server.app import open_database

    db = open_database(app.settings)
    try:
        code, _ = db.write_sync(lambda d: agent_store.create_pairing_code(d, user_id=7, member_id="m", minutes=10))
        _, key = db.write_sync(lambda d: agent_store.redeem_pairing_code(d, code=code, name="fuzz", platform="linux"))
    finally:
        db.close()
    return str(key)


def setup_frames() -> Run:
    """Each frame goes to the real hub over ``/agent/ws`` as a paired agent, followed by a ping: the hub handles
    a connection's frames in order, so everything it says before the pong is its answer to the frame. It answers
    a frame it cannot read with ``error``/``bad_message`` (the refusal) and one whose handling raised with
    ``error``/``internal``, the finding. The agent's own reader (``decode_server``) gets the frame too."""
    import msgspec

    from common.agent_protocol import decode_server

    app = _App()
    key = _paired_agent(app)
    ping = json.dumps({"type": "ping"})
    socket: list[Any] = []

    def connect() -> Any:
        ws = app.client.websocket_connect("/agent/ws", headers={"Authorization": f"Bearer {key}"}).__enter__()
        ws.send_text(ping)
        _answers(ws)  # hello and trust_anchors, up to the pong
        return ws

    def _answers(ws: Any) -> list[dict[str, Any]]:
        said = []
        while True:
            message = json.loads(ws.receive_text())
            if message.get("type") == "pong":
                return said
            said.append(message)

    def run(data: bytes) -> tuple[str, str]:
        try:
            decode_server(data)
            agent_side = "accepted"
        except msgspec.DecodeError:
            agent_side = "refused"
        if not socket:
            socket.append(connect())
        ws = socket[0]
        try:
            text = data.decode("utf-8")
            ws.send_text(text)
        except UnicodeDecodeError:
            ws.send_bytes(data)
        try:
            ws.send_text(ping)
            said = _answers(ws)
        except Exception as exc:  # the hub closed the connection: a frame too large, or the socket went away
            socket.clear()
            return "refused", f"connection closed ({type(exc).__name__})"
        codes = [m.get("code") for m in said if m.get("type") == "error"]
        if "internal" in codes:
            raise RuntimeError(f"the hub failed on a frame: {said}")
        hub_side = "refused" if codes else "accepted"
        return ("accepted" if "accepted" in (agent_side, hub_side) else "refused"), ",".join(map(str, codes))

    run.__dict__["_keep"] = app
    return run


def setup_upload_form() -> Run:
    from litestar import Litestar, Request, post
    from litestar.testing import TestClient

    from server.routes.uploads import Limits, UploadRefused, receive_form

    boundary = (CORPUS / "upload_form" / "BOUNDARY").read_bytes().decode()
    tmp = tempfile.TemporaryDirectory(prefix="klikdok-fuzz-upload-")
    data_dir = Path(tmp.name)
    limits = Limits(
        file_bytes=64 * 1024,
        total_bytes=1024 * 1024,
        file_too_large=lambda name: f"Файл {name} слишком большой.",
        total_too_large="Слишком много данных.",
    )

    @post("/c/{token:str}/sign", request_max_body_size=None, status_code=200)
    async def sign(request: Request[Any, Any, Any], token: str) -> dict[str, str]:
        """What the public signing page does with the form before it looks at the signatures."""
        try:
            async with receive_form(request, data_dir, limits) as form:
                for received in form.files:
                    if received.size:
                        received.read_bytes()
                fields = {k: len(v) for k, v in form.fields.items()}
        except UploadRefused as exc:
            return {"verdict": "refused", "detail": exc.code}
        return {"verdict": "accepted", "detail": str(len(fields))}

    client = TestClient(Litestar([sign]), raise_server_exceptions=True, timeout=5)
    client.__enter__()
    counter = iter(range(1 << 62))

    def run(data: bytes) -> tuple[str, str]:
        n = next(counter)
        chosen = boundary
        if n % 10 == 7:
            chosen = ["", "x", boundary[:-1], '"' + boundary + '"', boundary * 3, "a" * 200][n % 6]
        content_type = f"multipart/form-data; boundary={chosen}" if n % 50 else "multipart/form-data"
        response = client.post("/c/x/sign", content=data, headers={"content-type": content_type})
        _server_error(response, "upload form")
        answer = response.json()
        leftovers = list((data_dir / "uploads").glob("*")) if (data_dir / "uploads").exists() else []
        if leftovers:
            raise RuntimeError(f"temporary upload files left behind: {len(leftovers)}")
        return answer["verdict"], answer["detail"]

    run.__dict__["_keep"] = (tmp, client)  # the folder and the client live as long as the runner
    return run


def _poa_seeds() -> list[bytes]:
    return _files("poa/*.xml") + _files("*.xml", base=POA_SAMPLES)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target(
            "cms",
            lambda: _files("cms/*.p7s") + _files("*.p7s", base=TC26_SAMPLES),
            mutators.der,
            setup_cms,
            "CMS/CAdES verify_cms",
        ),
        Target("document", lambda: _files("cms/document.txt"), mutators.text_bytes, setup_document, "signed content"),
        Target("certificate", lambda: _files("certificate/*"), mutators.der, setup_certificate, "X.509 certificate"),
        Target("crl", lambda: _files("crl/*.crl"), mutators.der, setup_crl, "CRL"),
        Target("ocsp", lambda: _files("ocsp/*.der"), mutators.der, setup_ocsp, "OCSP response"),
        Target("tsl", lambda: _files("tsl/*.xml"), mutators.xml, setup_tsl, "accredited CA list (TSL XML)"),
        Target("poa", _poa_seeds, mutators.xml, setup_poa, "МЧД XML (read_poa)"),
        Target(
            "portal_form", lambda: _files("portal_form/*"), mutators.form, setup_portal_form, "placement/event POST"
        ),
        Target("jsonrpc", lambda: _files("jsonrpc/*"), mutators.jsonish, setup_jsonrpc, "CryptoARM JSON-RPC body"),
        Target("frames", lambda: _files("frames/*"), mutators.jsonish, setup_frames, "agent websocket frame"),
        Target(
            "upload_form",
            lambda: _files("upload_form/*.multipart"),
            mutators.multipart((CORPUS / "upload_form" / "BOUNDARY").read_bytes()),
            setup_upload_form,
            "public upload form (multipart)",
        ),
    ]
}
