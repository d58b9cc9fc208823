"""The demo's own GOST PKI: a root, an issuing CA, their CRLs, and a key with a qualified-style certificate for
each demo signer and for the counterparty, made by the real ``openssl`` with the gost engine.

Without it the demo stops at the first signature (no trusted root, nobody's key). It lives under the data
folder (``<data>/demo/pki``) so it survives restarts and is made once; the CRLs are issued again at every
start so they are always current (a revocation check with no current CRL is not a valid signature). The
subjects carry what the workflow's identity checks read: the signer's name (surname, given names), СНИЛС and
ИНН, the organisation with the company's own ИНН ЮЛ and ОГРН from the portal's seed; the counterparty's
certificate carries its CRM company's ИНН/ОГРН.

Only the demo uses this (``tests/support/openssl_pki.py`` is the tests' own PKI; demo code never imports tests).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from agent.backends.openssl import engine_config, find_engine
from common.openssl_ca import ca_config

from . import demo_people
from .demo_people import subject

# The demo CAs' certificate profiles (the CA database and subject policy: common.openssl_ca).
_PROFILES = """\
[v3_ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_user]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = emailProtection,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
1.2.643.100.111 = ASN1:FORMAT:UTF8,UTF8String:OpenSSL с модулем ГОСТ (демонстрация KlikDok)
"""

_ROOT_EXT = (
    "[v3_root]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
    "subjectKeyIdentifier = hash\n"
)
_DONE = "complete"


class PkiError(RuntimeError):
    """openssl failed or the gost engine is missing; the message says what to install or what failed."""


@dataclass(frozen=True)
class DemoPki:
    """Where the demo PKI's files are. Keys are PEM, owner-readable only."""

    folder: Path

    @property
    def conf(self) -> Path:
        return self.folder / "openssl.cnf"

    @property
    def root_cert(self) -> Path:
        return self.folder / "root.pem"

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def crl_dir(self) -> Path:
        return self.folder / "crl"

    def cert(self, name: str) -> Path:
        return self.folder / "people" / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.folder / "people" / f"{name}.key"

    def ready(self) -> bool:
        return (self.folder / _DONE).exists()

    def env(self) -> dict[str, str]:
        return {**os.environ, "OPENSSL_CONF": str(self.conf)}

    def openssl(self, *args: str | Path, input: bytes | None = None) -> bytes:
        proc = subprocess.run(
            ["openssl", *map(str, args)], input=input, capture_output=True, env=self.env(), check=False
        )
        if proc.returncode != 0:
            raise PkiError(f"openssl {args[0]}: {proc.stderr.decode(errors='replace').strip()[:500]}")
        return proc.stdout

    # ---- making it -----------------------------------------------------------------------------------

    def ensure(self, company: demo_people.Organisation) -> bool:
        """Make the PKI unless it is complete already, then issue fresh CRLs. True when it was made now."""
        made = False
        if not self.ready():
            engine = find_engine()
            if engine is None:
                raise PkiError("Не найден модуль ГОСТ для OpenSSL (gost.so): установите libengine-gost-openssl.")
            if self.folder.exists():
                shutil.rmtree(self.folder)  # a half-made PKI from an interrupted first start
            (self.folder / "people").mkdir(parents=True)
            os.chmod(self.folder, 0o700)
            self.conf.write_text(engine_config(engine, oids={"INNLE": "1.2.643.100.4"}))
            self._make(company)
            (self.folder / _DONE).write_text("")
            made = True
        self.issue_crls()
        return made

    def _key(self, path: Path, algorithm: str) -> Path:
        self.openssl("genpkey", "-algorithm", algorithm, "-pkeyopt", "paramset:A", "-out", path)
        os.chmod(path, 0o600)
        return path

    def _ca_dir(self, name: str, cert: Path, key: Path, md: str) -> Path:
        d = self.folder / f"ca-{name}"
        (d / "issued").mkdir(parents=True)
        (d / "index.txt").write_text("")
        (d / "crlnumber").write_text("01\n")
        (d / "serial").write_text("1000\n" if name == "root" else "2000\n")
        (d / "ca.cnf").write_text(ca_config(directory=str(d), cert=str(cert), key=str(key), md=md, profiles=_PROFILES))
        return d

    def _issue(self, ca: str, name: str, subject: str, key: Path, md: str, profile: str, days: int) -> Path:
        d = self.folder / f"ca-{ca}"
        csr = self.folder / f"{name}.csr"
        out = self.folder / f"{name}.pem" if profile == "v3_ca" else self.cert(name)
        self.openssl("req", "-new", "-key", key, f"-{md}", "-utf8", "-subj", subject, "-out", csr)
        now = dt.datetime.now(dt.UTC)
        start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=days)
        self.openssl(
            "ca", "-batch", "-config", d / "ca.cnf", "-in", csr, "-out", out, "-notext", "-utf8",
            "-extensions", profile, "-startdate", start.strftime("%Y%m%d%H%M%SZ"),
            "-enddate", end.strftime("%Y%m%d%H%M%SZ"),
        )  # fmt: skip
        csr.unlink()
        return out

    def _make(self, company: demo_people.Organisation) -> None:
        root_key = self._key(self.folder / "root.key", "gost2012_512")
        ext = self.folder / "root-ext.cnf"
        ext.write_text(_ROOT_EXT)
        self.openssl(
            "req", "-x509", "-new", "-key", root_key, "-md_gost12_512", "-days", "7300", "-utf8",
            "-subj", subject(C="RU", O="Демонстрационный УЦ KlikDok", CN="Демо ГОСТ корневой УЦ KlikDok"),
            "-config", ext, "-extensions", "v3_root", "-set_serial", "4096", "-out", self.root_cert,
        )  # fmt: skip
        self._ca_dir("root", self.root_cert, root_key, "md_gost12_512")
        ca_key = self._key(self.folder / "ca.key", "gost2012_512")
        self._issue(
            "root",
            "ca",
            subject(C="RU", O="Демонстрационный УЦ KlikDok", CN="Демо ГОСТ УЦ KlikDok (выдающий)"),
            ca_key,
            "md_gost12_512",
            "v3_ca",
            3650,
        )
        self._ca_dir("ca", self.ca_cert, ca_key, "md_gost12_512")
        for person in demo_people.key_holders(company):
            key = self._key(self.key(person.key_name), "gost2012_256")
            self._issue("ca", person.key_name, person.subject(), key, "md_gost12_256", "v3_user", 730)

    def issue_crls(self) -> list[Path]:
        """A CRL from each CA, issued now (nextUpdate in 30 days): the revocation evidence the server is given."""
        self.crl_dir.mkdir(exist_ok=True)
        out = []
        for ca in ("root", "ca"):
            path = self.crl_dir / f"{ca}.crl.pem"
            tmp = path.with_suffix(".tmp")
            self.openssl("ca", "-config", self.folder / f"ca-{ca}" / "ca.cnf", "-gencrl", "-out", tmp)
            tmp.replace(path)
            out.append(path)
        return out

    # ---- using it --------------------------------------------------------------------------------------

    def sign(self, name: str, data_file: Path, out: Path) -> None:
        """A detached CAdES-BES signature (DER) of ``data_file`` by ``name``'s key, its chain included."""
        self.openssl(*sign_command(self, name, data_file, out)[1:])


def sign_command(pki: DemoPki, name: str, data_file: Path, out: Path) -> list[str]:
    """The ``openssl cms`` command line that makes a detached signature as a person would type it."""
    return [
        "openssl", "cms", "-sign", "-binary", "-cades", "-nosmimecap", "-md", "md_gost12_256",
        "-in", str(data_file), "-signer", str(pki.cert(name)), "-inkey", str(pki.key(name)),
        "-certfile", str(pki.ca_cert), "-outform", "DER", "-out", str(out),
    ]  # fmt: skip
