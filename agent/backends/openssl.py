"""``openssl``: OpenSSL with the gost engine and a key file (Linux software keys; real signatures in tests).

The engine is loaded through a private config file (``OPENSSL_CONF``) so the user's own OpenSSL setup is
left alone. The key may be a PEM (optionally encrypted: the password comes from ``backend.pin_file``) or a
PKCS#12 file (``.p12``/``.pfx``), whose certificate is then taken from the bundle when none is configured.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from asn1crypto import x509

from cades import building

from .base import Availability, Backend, BackendError, CertificateInfo, certificate_info, read_secret, to_der

ENGINE_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/engines-3/gost.so",
    "/usr/lib/aarch64-linux-gnu/engines-3/gost.so",
    "/usr/lib64/engines-3/gost.so",
    "/usr/local/lib/engines-3/gost.so",
)
_GOST_KEY_BITS = {"1.2.643.7.1.1.1.1": 256, "1.2.643.7.1.1.1.2": 512, "1.2.643.2.2.19": 256}


def engine_config(engine: str, *, oids: dict[str, str] | None = None) -> str:
    """An openssl.cnf that loads the gost engine from ``engine`` (and names extra OIDs for -subj).

    OpenSSL 3.0's command-line tools reach GOST keys and CMS only through the engine, so every caller that
    runs ``openssl`` with GOST keys (this backend, and the test PKI and CryptoARM emulator) uses this file.
    """
    oid_lines = "".join(f"{name} = {oid}\n" for name, oid in (oids or {}).items())
    oid_section = f"oid_section = new_oids\n[new_oids]\n{oid_lines}" if oids else ""
    return (
        f"openssl_conf = openssl_init\n{oid_section}[openssl_init]\nproviders = provider_sect\n"
        f"engines = engine_sect\n[provider_sect]\ndefault = default_sect\n[default_sect]\nactivate = 1\n"
        f"[engine_sect]\ngost = gost_sect\n[gost_sect]\nengine_id = gost\ndynamic_path = {engine}\n"
        f"default_algorithms = ALL\n"
    )


def find_engine() -> str | None:
    env = os.environ.get("KLIKDOK_AGENT_GOST_ENGINE")
    if env:
        return env if Path(env).exists() else None
    for path in ENGINE_CANDIDATES:
        if Path(path).exists():
            return path
    openssl = shutil.which("openssl")
    if openssl:
        out = subprocess.run([openssl, "version", "-e"], capture_output=True, text=True, check=False).stdout
        if ":" in out:
            candidate = Path(out.split(":", 1)[1].strip().strip('"')) / "gost.so"
            if candidate.exists():
                return str(candidate)
    return None


class OpenSSLBackend(Backend):
    name = "openssl"

    def __init__(self, certificate: str, key_file: str, pin_file: str = "", openssl: str = "openssl") -> None:
        self.certificate = certificate
        self.key_file = key_file
        self.pin_file = pin_file
        self.openssl = shutil.which(openssl) or openssl
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        # The signing certificate's DER by (path, mtime, size): read with ``openssl x509`` once, not once per
        # signature (that second process cost as much as the signature itself); a replaced file is read again.
        self._der: tuple[tuple[str, int, int], bytes] | None = None
        self._signer: tuple[bytes, building.DetachedSigner] | None = None  # the CMS frame of that certificate

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _workdir(self) -> Path:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="klikdok-agent-")
            os.chmod(self._dir.name, 0o700)
            engine = find_engine()
            if engine is None:
                raise BackendError("Не найден модуль ГОСТ для OpenSSL (gost.so): установите libengine-gost-openssl.")
            (Path(self._dir.name) / "openssl.cnf").write_text(engine_config(engine))
        return Path(self._dir.name)

    def _run(self, *args: str | Path, input: bytes | None = None) -> bytes:
        env = dict(os.environ, OPENSSL_CONF=str(self._workdir() / "openssl.cnf"))
        try:
            proc = subprocess.run(
                [self.openssl, *map(str, args)], input=input, capture_output=True, env=env, check=False, timeout=120
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"Не удалось запустить openssl: {exc}") from exc
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise BackendError(f"openssl завершился с ошибкой: {tail[0][:300]}")
        return proc.stdout

    def _is_pkcs12(self) -> bool:
        return self.key_file.lower().endswith((".p12", ".pfx"))

    def _material(self) -> tuple[Path, Path]:
        """(certificate PEM, key PEM) paths usable by ``openssl cms``; PKCS#12 is unpacked into the private dir."""
        if not self._is_pkcs12():
            return Path(self.certificate).expanduser(), Path(self.key_file).expanduser()
        work = self._workdir()
        cert, key = work / "p12-cert.pem", work / "p12-key.pem"
        if not key.exists():
            secret = read_secret(self.pin_file)
            pem = self._run(
                "pkcs12",
                "-in",
                Path(self.key_file).expanduser(),
                "-nodes",
                "-passin",
                "stdin",
                input=(secret + "\n").encode(),
            )
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            if self.certificate:
                cert = Path(self.certificate).expanduser()
            else:
                cert.write_bytes(pem)
        return (Path(self.certificate).expanduser() if self.certificate else cert), key

    def _cert_der(self, cert: Path) -> bytes:
        return to_der(self._run("x509", "-in", cert, "-outform", "DER"))

    def _digest(self, der: bytes) -> str:
        oid = x509.Certificate.load(der)["tbs_certificate"]["subject_public_key_info"]["algorithm"]["algorithm"].dotted
        bits = _GOST_KEY_BITS.get(oid)
        if bits is None:
            raise BackendError("Сертификат не ГОСТ Р 34.10-2012: таким ключом KlikDok не подписывает.")
        return f"md_gost12_{bits}"

    # -- the interface -----------------------------------------------------------------------------------------

    def availability(self) -> Availability:
        if shutil.which(self.openssl) is None and not Path(self.openssl).exists():
            return Availability(False, "openssl не найден: установите пакет openssl.")
        if find_engine() is None:
            return Availability(False, "нет модуля ГОСТ для OpenSSL: установите libengine-gost-openssl.")
        if not self.key_file or not Path(self.key_file).expanduser().exists():
            return Availability(False, f"нет файла ключа (backend.key_file = {self.key_file!r}).")
        if not self._is_pkcs12() and (not self.certificate or not Path(self.certificate).expanduser().exists()):
            return Availability(False, f"нет файла сертификата (backend.certificate = {self.certificate!r}).")
        try:
            cert, _ = self._material()
            info = certificate_info(self._cert_der(cert))
        except BackendError as exc:
            return Availability(False, str(exc))
        return Availability(True, f"OpenSSL + gost, сертификат {info.subject} (до {info.not_after[:10]})")

    def certificates(self) -> list[CertificateInfo]:
        cert, _ = self._material()
        return [certificate_info(self._cert_der(cert))]

    def signing_thumbprint(self) -> str:
        cert, _ = self._material()
        return certificate_info(self._cert_der(cert)).thumbprint

    def _signing_digest(self, cert: Path) -> str:
        return self._digest(self._cert_once(cert))

    def sign(self, path: Path) -> bytes:
        cert, key = self._material()
        try:
            md = self._signing_digest(cert)
        except OSError as exc:
            raise BackendError(f"Не удалось прочитать сертификат {cert}: {exc}") from exc
        args: list[str | Path] = [
            "cms",
            "-sign",
            "-binary",
            "-in",
            path,
            "-signer",
            cert,
            "-inkey",
            key,
            "-md",
            md,
            "-cades",
            "-nosmimecap",
            "-outform",
            "DER",
        ]
        secret = "" if self._is_pkcs12() else read_secret(self.pin_file)
        if secret:
            args += ["-passin", "stdin"]
        return to_der(self._run(*args, input=(secret + "\n").encode() if secret else None))

    def digest_name(self) -> str | None:
        cert, _ = self._material()
        try:
            return "streebog" + self._signing_digest(cert).rsplit("_", 1)[1]
        except OSError:
            return None

    def sign_hashed(self, path: Path, digests: Mapping[str, bytes]) -> bytes:
        """The signed attributes around the given digest, signed by ``openssl dgst -sign`` (the document is not
        read again), and the CMS put together by :mod:`cades.building` in ``openssl cms -sign``'s shape."""
        name = self.digest_name()
        if name is None or name not in digests:
            return self.sign(path)
        cert_path, key = self._material()
        frame = self._frame(cert_path, name)
        attributes = frame.attributes(digests[name], dt.datetime.now(dt.UTC))
        fd, tbs = tempfile.mkstemp(prefix="attrs-", dir=self._workdir())
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(attributes)
            args: list[str | Path] = ["dgst", f"-md_gost12_{name[-3:]}", "-sign", key, "-binary"]
            secret = "" if self._is_pkcs12() else read_secret(self.pin_file)
            if secret:
                args += ["-passin", "stdin"]
            signature = self._run(*args, tbs, input=(secret + "\n").encode() if secret else None)
        finally:
            os.unlink(tbs)
        return frame.cms(attributes, signature)

    def _frame(self, cert: Path, digest_name: str) -> building.DetachedSigner:
        der = self._cert_once(cert)
        if self._signer is None or self._signer[0] != der:
            self._signer = (der, building.DetachedSigner(der, digest_name))
        return self._signer[1]

    def _cert_once(self, cert: Path) -> bytes:
        st = cert.stat()
        stamp = (str(cert), st.st_mtime_ns, st.st_size)
        if self._der is None or self._der[0] != stamp:
            self._der = (stamp, self._cert_der(cert))
        return self._der[1]

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
