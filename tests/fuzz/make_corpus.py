"""Regenerate the fuzz harness's seed corpus (``tests/fuzz/corpus/``) from a fresh test PKI.

Run by hand (``python -m tests.fuzz.make_corpus``) when the seeds need to change; the output is checked in, so
``make test`` and ``make fuzz`` read fixed bytes and never need openssl. The PKI is made with the real ``openssl``
and the gost engine (tests/support/openssl_pki.py); private keys stay in a temporary folder and are thrown away.
Everything is small (a few KB a file) and ours: made here, signed by a throw-away CA.

``manifest.json`` records the validation time the signatures were valid at, so the harness's oracle ("a mutated
signature never verifies as valid") can first prove that the unmutated seed *does* verify as valid, whatever day
the harness runs on.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from tests.support.mchd import build_mchd
from tests.support.openssl_pki import OpenSSLPki, add_unsigned_attributes
from tests.support.pki_fixtures import QUALIFIED_SUBJECT
from tests.support.tsl_files import TslCaSpec, tsl_xml

CORPUS = Path(__file__).with_name("corpus")
DOCUMENT = "Договор поставки № 17/2026. Поставщик передаёт, покупатель принимает и оплачивает товар.\n".encode()


def _write(kind: str, name: str, data: bytes) -> None:
    folder = CORPUS / kind
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def _ocsp_response(pki: OpenSSLPki, ca_name: str, ca_cert: Path, ca_key: Path, cert: Path, out: Path) -> bytes:
    """A real OCSPResponse from ``openssl ocsp`` acting as the responder on its own request (no socket)."""
    index = pki.root / f"ca-{ca_name}" / "index.txt"
    pki.run(
        "ocsp", "-index", index, "-CA", ca_cert, "-rsigner", ca_cert, "-rkey", ca_key, "-issuer", ca_cert,
        "-cert", cert, "-respout", out, "-ndays", "3650", "-no_nonce",
    )  # fmt: skip
    return out.read_bytes()


def main() -> None:
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    with tempfile.TemporaryDirectory(prefix="klikdok-fuzz-corpus-") as tmp:
        pki = OpenSSLPki(Path(tmp))
        root = pki.root_ca("root", days=7300)
        inter = pki.issue(root, "inter", subject=pki.subject(C="RU", O="Тестовый УЦ", CN="Test GOST CA"),
                          algorithm="gost2012_256", profile="v3_ca",
                          not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=7000))  # fmt: skip
        user = pki.issue(inter, "user", subject=QUALIFIED_SUBJECT)
        revoked = pki.issue(inter, "revoked", subject=pki.subject(C="RU", CN="Отозванный Пётр"))
        pki.revoke(revoked)
        tsa = pki.issue(inter, "tsa", subject=pki.subject(C="RU", CN="Test TSA"), profile="v3_tsa")
        at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=10)

        chain = [inter.cert]
        detached = pki.sign(user, DOCUMENT, certfile=chain)
        attached = pki.sign(user, DOCUMENT, attached=True, certfile=chain)
        noattr = pki.sign(user, DOCUMENT, noattr=True, certfile=chain)
        token = pki.timestamp_token(tsa, _signature_value(detached), chain=[tsa.cert, inter.cert])
        cades_t = add_unsigned_attributes(detached, [("1.2.840.113549.1.9.16.2.14", [token])])
        _write("cms", "detached-cades-bes.p7s", detached)
        _write("cms", "attached-cades-bes.p7s", attached)
        _write("cms", "detached-no-signed-attrs.p7s", noattr)
        _write("cms", "detached-cades-t.p7s", cades_t)
        _write("cms", "document.txt", DOCUMENT)

        for issued in (root, inter, user, tsa):
            _write("certificate", f"{issued.name}.cer", issued.cert_der)
        _write("certificate", "user.pem", issued_pem(user.cert))
        inter_crl = pki.crl_der(inter)
        root_crl = pki.crl_der(root)
        _write("crl", "inter.crl", inter_crl)
        _write("crl", "root.crl", root_crl)

        good = _ocsp_response(pki, "inter", inter.cert, inter.key, user.cert, pki.root / "good.ocsp")
        bad = _ocsp_response(pki, "inter", inter.cert, inter.key, revoked.cert, pki.root / "revoked.ocsp")
        _write("ocsp", "good.der", good)
        _write("ocsp", "revoked.der", bad)

        date = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
        _write("tsl", "list.xml", tsl_xml(7, date, [TslCaSpec("Тестовый УЦ", (root, inter)),
                                                   TslCaSpec("Бывший УЦ", (tsa,), status="Прекращена")],
                                        signature=True))  # fmt: skip
        _write("poa", "built.xml", build_mchd())

        _write_forms()
        _write_jsonrpc(detached, user.cert_der)
        _write_frames(detached, user.cert_der)
        _write_uploads(detached)
        manifest = {
            "at": at.isoformat(),
            "document": "cms/document.txt",
            "valid_signatures": [
                "cms/detached-cades-bes.p7s",
                "cms/attached-cades-bes.p7s",
                "cms/detached-no-signed-attrs.p7s",
                "cms/detached-cades-t.p7s",
            ],
            "trust_roots": ["certificate/root.cer"],
            "crls": ["crl/inter.crl", "crl/root.crl"],
            "ocsp": {
                "good.der": {"cert": "certificate/user.cer", "issuer": "certificate/inter.cer", "status": "good"},
                "revoked.der": {"cert": "revoked.cer", "issuer": "certificate/inter.cer", "status": "revoked"},
            },
        }
        _write("ocsp", "revoked.cer", revoked.cert_der)
        (CORPUS / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


def issued_pem(path: Path) -> bytes:
    return path.read_bytes()


def _signature_value(cms_der: bytes) -> bytes:
    from asn1crypto import cms

    import cades.asn1  # noqa: F401  (OID registration)

    return bytes(cms.ContentInfo.load(cms_der)["content"]["signer_infos"][0]["signature"].native)


def _write_forms() -> None:
    """Placement, app-page and event POSTs as the portal sends them (PHP bracket keys)."""
    auth = {"AUTH_ID": "a1b2c3d4e5", "AUTH_EXPIRES": "3600", "REFRESH_ID": "r1", "member_id": "m" * 32,
            "status": "L", "PLACEMENT": "CRM_DEAL_DETAIL_TAB", "PLACEMENT_OPTIONS": '{"ID":"17"}',
            "APPLICATION_TOKEN": "t0k3n"}  # fmt: skip
    _write("portal_form", "tab.form", urlencode(auth).encode())
    app = {
        **auth,
        "PLACEMENT": "DEFAULT",
        "PLACEMENT_OPTIONS": '{"klikdok":"create","entity_type":"deal","entity_id":5}',
    }
    _write("portal_form", "app-slider.form", urlencode(app).encode())
    event = [
        ("event", "ONCRMDEALUPDATE"), ("event_handler_id", "3"), ("data[FIELDS][ID]", "17"),
        ("ts", "1764500000"), ("auth[domain]", "portal.example.ru"), ("auth[client_endpoint]", "https://portal.example.ru/rest/"),
        ("auth[member_id]", "m" * 32), ("auth[application_token]", "t0k3n"), ("auth[scope]", "crm"),
    ]  # fmt: skip
    _write("portal_form", "event.form", urlencode(event).encode())
    uninstall = [("event", "ONAPPUNINSTALL"), ("data[CLEAN]", "0"), ("auth[member_id]", "m" * 32),
                 ("auth[application_token]", "t0k3n")]  # fmt: skip
    _write("portal_form", "uninstall.form", urlencode(uninstall).encode())


def _write_jsonrpc(signature: bytes, cert: bytes) -> None:
    """CryptoARM GOST's JSON-RPC bodies (shared/reference/cryptoarm-api.md §1.4)."""
    txn = "8c1f0f5e-2f0b-4f5e-9c39-6f7e8f9a0b1c"
    bodies = {
        "parameters.json": {"jsonrpc": "2.0", "method": "signAndEncrypt.parameters", "id": txn},
        "results.json": {
            "jsonrpc": "2.0",
            "method": "signAndEncrypt.outDirectResults",
            "params": {
                "id": txn,
                "directResults": [
                    {
                        "id": "challenge",
                        "out": base64.b64encode(signature).decode(),
                        "signers": [{"x509": base64.b64encode(cert).decode()}],
                    }
                ],
            },
        },
        "results-pem.json": {
            "jsonrpc": "2.0",
            "method": "signAndEncrypt.outDirectResults",
            "params": {
                "id": txn,
                "directResults": [
                    {
                        "id": "challenge",
                        "out": base64.b64encode(
                            b"-----BEGIN CMS-----\n" + base64.encodebytes(signature) + b"-----END CMS-----\n"
                        ).decode(),
                    }
                ],
            },
        },
        "canceled.json": {
            "jsonrpc": "2.0",
            "method": "signAndEncrypt.outDirectResults",
            "params": {"id": txn, "status": "Canceled"},
        },  # fmt: skip
    }
    for name, body in bodies.items():
        _write("jsonrpc", name, json.dumps(body, ensure_ascii=False).encode())


def _write_frames(signature: bytes, cert: bytes) -> None:
    """One websocket frame of each kind, both directions (common/agent_protocol.py)."""
    sig = base64.b64encode(signature).decode()
    frames = {
        "agent-ack.json": {"type": "ack", "job_id": 5, "delivery_id": 1},
        "agent-nack.json": {"type": "nack", "job_id": 5, "delivery_id": 1, "reason": "queue_full"},
        "agent-result.json": {
            "type": "result",
            "job_id": 5,
            "result_id": "r1",
            "signatures": [{"file_id": 9, "cms": sig}],
        },  # fmt: skip
        "agent-failure.json": {"type": "failure", "job_id": 5, "result_id": "r2", "code": "declined", "message": "нет"},
        "agent-ping.json": {"type": "ping"},
        "agent-certificates.json": {
            "type": "certificates",
            "request_id": "q1",
            "certificates": [base64.b64encode(cert).decode()],
            "signing_thumbprint": "AB" * 20,
        },
        "agent-key-proof.json": {
            "type": "key_proof",
            "request_id": "q2",
            "cms": sig,
            "certificate": base64.b64encode(cert).decode(),
        },  # fmt: skip
        "server-hello.json": {
            "type": "hello",
            "agent_id": 1,
            "user_id": 7,
            "heartbeat_seconds": 20.0,
            "server_time": "2026-12-07T21:00:00+00:00",
        },  # fmt: skip
        "server-job.json": {
            "type": "job",
            "job_id": 5,
            "delivery_id": 1,
            "document_id": 3,
            "title": "Договор",
            "files": [
                {"id": 9, "name": "dogovor.pdf", "size": 10, "streebog256": "00" * 32, "url": "/agent/jobs/5/files/9"}
            ],
        },  # fmt: skip
        "server-trust-anchors.json": {"type": "trust_anchors", "anchors": [base64.b64encode(cert).decode()]},
        "server-prove-key.json": {
            "type": "prove_key",
            "request_id": "q2",
            "challenge": "KlikDok: привязка",
            "thumbprint": "AB" * 20,
        },  # fmt: skip
    }
    for name, frame in frames.items():
        _write("frames", name, json.dumps(frame, ensure_ascii=False).encode())


def _write_uploads(signature: bytes) -> None:
    """The counterparty's signing form (multipart, as a browser sends it): two .sig files and a text field."""
    boundary = "----KlikDokFuzzBoundary7MA4YWxkTrZu0gW"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="comment"\r\n\r\nПодписано\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="sig_9"; filename="dogovor.pdf.sig"\r\n'
        "Content-Type: application/pkcs7-signature\r\n\r\n".encode()
        + signature
        + b"\r\n",
        f'--{boundary}\r\nContent-Disposition: form-data; name="sig_10"; filename="akt.pdf.sig"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + base64.b64encode(signature)
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    _write("upload_form", "sign.multipart", b"".join(parts))
    _write("upload_form", "BOUNDARY", boundary.encode())


if __name__ == "__main__":
    subprocess.run(["openssl", "version"], check=True, capture_output=True)
    main()
