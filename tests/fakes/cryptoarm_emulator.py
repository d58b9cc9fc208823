"""A stand-in for the CryptoARM GOST desktop app: follows a ``cryptoarm://`` link exactly as the app does.

What the real app (КриптоАРМ ГОСТ 2.5+, /work/shared/reference/cryptoarm-api.md §1) does, step by step, and
so does this emulator, over real HTTP:

1. parse ``cryptoarm://<command>/<URL>?id=<id>``: the command is matched case-insensitively, the rest of the
   path (query included) must be an **https** URL: the app refuses ``http:``. ``allow_http=True`` lifts that
   for tests on loopback only;
2. ``GET`` the origin root (the app reads the server certificate there for its trust prompt; no 200 → no
   prompt → nothing happens);
3. ``POST`` ``signAndEncrypt.parameters`` (JSON-RPC 2.0, request id = the transaction id, a ``diagnostic``
   object with the personal certificates' thumbprints) to the URL;
4. ``GET`` every ``files[].url`` with ``?accessToken=<extra.token>``;
5. sign each file with ``openssl cms -sign -cades`` and the gost engine: detached when ``extra.signType == 1``
   (loose, so "1" counts), attached otherwise; the "user's encoding setting" is ``der`` or ``pem``
   (then ``out`` is base64 of PEM text, as the app sends it);
6. ``POST`` ``signAndEncrypt.outDirectResults`` to ``props.uploader`` (a notification: no id) with
   ``directResults[] = {id, out, signers}``; or, when the "user" presses «Отмена», ``status: "Canceled"``
   to the command URL.

Used in tests as the agent's link opener (``python -m tests.fakes.cryptoarm_emulator ... LINK``) and as
the counterparty's app. Every exchange is recorded in :class:`Run` (and written as JSON with ``--log``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx

from agent.backends.openssl import engine_config

ENGINE_SO = "/usr/lib/x86_64-linux-gnu/engines-3/gost.so"
COMMANDS = {
    "signandencrypt": "signAndEncrypt",
    "certificates": "certificates",
    "diagnostics": "diagnostics",
    "startview": "startView",
}


class LinkError(Exception):
    """The app would not act on this link (it shows "not supported" / "http error")."""


@dataclass
class Exchange:
    method: str
    url: str
    status: int
    request: Any = None
    response: Any = None


@dataclass
class Run:
    link: str
    command: str = ""
    txn_id: str = ""
    url: str = ""
    exchanges: list[Exchange] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = ""  # "uploaded", "cancelled", "refused:<reason>"
    upload_status: int = 0
    upload_body: Any = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, default=str, indent=1)


def parse_link(link: str, *, allow_http: bool = False) -> tuple[str, str, str]:
    """(command, JSON-RPC URL with its query, transaction id), as ``parseUrlCommandApiV7`` reads them."""
    parts = urlsplit(link)
    if parts.scheme != "cryptoarm":
        raise LinkError("not a cryptoarm: link")
    command = COMMANDS.get(parts.netloc.lower())
    if command is None:
        raise LinkError("not supported")
    rest = link.split("://", 1)[1].split("/", 1)[1] if "/" in link.split("://", 1)[1] else ""
    target = urlsplit(rest)
    if target.scheme == "http" and not allow_http:
        raise LinkError("http error")
    if target.scheme not in ("https", "http") or not target.netloc:
        raise LinkError("not supported")
    txn_id = (parse_qs(target.query).get("id") or parse_qs(parts.query).get("id") or [""])[0]
    if not txn_id:
        raise LinkError("no id")
    return command, rest, txn_id


class CryptoArmEmulator:
    def __init__(
        self,
        cert: Path,
        key: Path,
        *,
        encoding: Literal["der", "pem"] = "der",
        action: Literal["sign", "cancel", "close"] = "sign",
        allow_http: bool = False,
        engine: str = ENGINE_SO,
        timeout: float = 60.0,
        include_certificate: bool = True,
        reported_cert: Path | None = None,
    ) -> None:
        # include_certificate=False: the signature carries no certificate (the app's "без сертификата" setting);
        # reported_cert: what ``signers[].x509`` says instead of the signing certificate (a lying client).
        self.include_certificate = include_certificate
        self.reported_cert = Path(reported_cert) if reported_cert else None
        self.cert = Path(cert)
        self.key = Path(key)
        self.encoding = encoding
        self.action = action
        self.allow_http = allow_http
        self.timeout = timeout
        self._tmp = Path(tempfile.mkdtemp(prefix="cryptoarm-emu-"))
        (self._tmp / "openssl.cnf").write_text(engine_config(engine))
        self._env = dict(os.environ, OPENSSL_CONF=str(self._tmp / "openssl.cnf"))

    # -- openssl --------------------------------------------------------------------------------------------

    def _openssl(self, *args: str | Path) -> bytes:
        proc = subprocess.run(["openssl", *map(str, args)], capture_output=True, env=self._env, check=False)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.decode(errors="replace"))
        return proc.stdout

    def _cert_der(self, cert: Path | None = None) -> bytes:
        return self._openssl("x509", "-in", cert or self.cert, "-outform", "DER")

    def _md(self) -> str:
        text = self._openssl("x509", "-in", self.cert, "-noout", "-text").decode(errors="replace")
        return "md_gost12_512" if "GOST R 34.10-2012 with 512" in text or "gost2012_512" in text else "md_gost12_256"

    def sign(self, data: bytes, *, detached: bool) -> bytes:
        """The bytes of the ``.sig`` file the app would write (DER, or PEM text for the BASE64 setting)."""
        src = self._tmp / f"in-{hashlib.sha256(data).hexdigest()[:12]}"
        src.write_bytes(data)
        args: list[str | Path] = [
            "cms",
            "-sign",
            "-binary",
            "-in",
            src,
            "-signer",
            self.cert,
            "-inkey",
            self.key,
            "-md",
            self._md(),
            "-cades",
            "-nosmimecap",
            "-outform",
            "PEM" if self.encoding == "pem" else "DER",
        ]
        if not detached:
            args.append("-nodetach")
        if not self.include_certificate:
            args.append("-nocerts")
        return self._openssl(*args)

    def _diagnostic(self) -> dict[str, Any]:
        der = self._cert_der()
        return {
            "PERSONALCERTIFICATES": [
                {
                    "hash": hashlib.sha1(der).hexdigest(),
                    "rootCAMinComSvyaz": False,
                    "status": True,
                    "pubKeyAlg": "1.2.643.7.1.1.1.1",
                }
            ],
            "VERSIONS": {"cryptoarm": "emulator"},
        }

    def _signers(self) -> list[dict[str, Any]]:
        cert = self.reported_cert or self.cert
        der = self._cert_der(cert)
        subject = self._openssl("x509", "-in", cert, "-noout", "-subject", "-nameopt", "utf8").decode().strip()
        return [
            {
                "subjectName": subject.removeprefix("subject="),
                "x509": base64.b64encode(der).decode(),
                "digestAlgorithm": self._md(),
            }
        ]

    # -- the flow -------------------------------------------------------------------------------------------

    def follow(self, link: str) -> Run:
        run = Run(link=link)
        try:
            run.command, run.url, run.txn_id = parse_link(link, allow_http=self.allow_http)
        except LinkError as exc:
            run.outcome = f"refused:{exc}"
            return run
        if run.command != "signAndEncrypt":
            run.outcome = "refused:command not emulated"
            return run
        with httpx.Client(timeout=self.timeout, follow_redirects=True) as http:
            target = urlsplit(run.url)
            origin = f"{target.scheme}://{target.netloc}/"
            root = http.get(origin)
            run.exchanges.append(Exchange("GET", origin, root.status_code))
            if root.status_code != 200:
                run.outcome = "refused:no server certificate (GET / was not 200)"
                return run
            request = {
                "jsonrpc": "2.0",
                "method": "signAndEncrypt.parameters",
                "id": run.txn_id,
                "diagnostic": self._diagnostic(),
            }
            resp = self._post(http, run, run.url, request)
            body = self._json(resp)
            if resp.status_code != 200 or not isinstance(body, dict) or "result" not in body:
                run.outcome = f"refused:parameters {resp.status_code} {json.dumps(body, ensure_ascii=False)[:300]}"
                return run
            props = body["result"].get("props", {})
            extra = props.get("extra", {})
            uploader = props.get("uploader")
            if not uploader:
                run.outcome = "refused:no uploader"  # v2.5.12 no longer falls back to the command URL
                return run
            if self.action == "close":  # the user closed the window: nothing is ever posted back
                run.outcome = "closed"
                return run
            if self.action == "cancel":
                cancel = {
                    "jsonrpc": "2.0",
                    "method": "signAndEncrypt.outDirectResults",
                    "params": {"id": run.txn_id, "status": "Canceled", "error": None, "errorDescription": None},
                }
                done = self._post(http, run, run.url, cancel)
                run.upload_status, run.upload_body = done.status_code, self._json(done)
                run.outcome = "cancelled"
                return run
            detached = str(extra.get("signType", "")) == "1"
            token = extra.get("token", "")
            results = []
            for f in props.get("files", []):
                sep = "&" if "?" in f["url"] else "?"
                got = http.get(f"{f['url']}{sep}accessToken={token}")
                run.exchanges.append(Exchange("GET", f["url"], got.status_code))
                if got.status_code != 200:
                    run.outcome = f"refused:download {got.status_code}"
                    return run
                sig = self.sign(got.content, detached=detached)
                run.files.append(
                    {
                        "id": f["id"],
                        "name": f["name"],
                        "size": len(got.content),
                        "sha256": hashlib.sha256(got.content).hexdigest(),
                    }
                )
                results.append({"id": f["id"], "out": base64.b64encode(sig).decode(), "signers": self._signers()})
            notification = {
                "jsonrpc": "2.0",
                "method": "signAndEncrypt.outDirectResults",
                "params": {"directResults": results, "id": run.txn_id},
            }
            done = self._post(http, run, uploader, notification)
            run.upload_status, run.upload_body = done.status_code, self._json(done)
            run.outcome = "uploaded"
        return run

    def _post(self, http: httpx.Client, run: Run, url: str, payload: dict[str, Any]) -> httpx.Response:
        resp = http.post(
            url,
            content=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        run.exchanges.append(Exchange("POST", url, resp.status_code, payload.get("method"), self._json(resp)))
        return resp

    @staticmethod
    def _json(resp: httpx.Response) -> Any:
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            return resp.text[:500]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CryptoARM GOST emulator: follow a cryptoarm:// link (tests only)")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--encoding", choices=["der", "pem"], default="der")
    parser.add_argument("--action", choices=["sign", "cancel", "close"], default="sign")
    parser.add_argument("--allow-http", action="store_true", help="accept http:// endpoints (tests on loopback)")
    parser.add_argument("--log", help="append the run as JSON to this file")
    parser.add_argument("link")
    args = parser.parse_args(argv)
    run = CryptoArmEmulator(
        Path(args.cert), Path(args.key), encoding=args.encoding, action=args.action, allow_http=args.allow_http
    ).follow(args.link)
    if args.log:
        with open(args.log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(run), ensure_ascii=False, default=str) + "\n")
    return 0 if run.outcome in ("uploaded", "cancelled", "closed") else 1


if __name__ == "__main__":
    sys.exit(main())
