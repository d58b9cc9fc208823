"""A throw-away GOST PKI driven by the real ``openssl`` binary with the gost engine.

Shared by the cades, server and agent test suites: GOST keys, a CA chain, qualified-style certificates
with ИНН/ОГРН/СНИЛС in the subject, CRLs from ``openssl ca -gencrl``, CAdES-BES signatures from
``openssl cms -sign -cades`` and RFC 3161 tokens from ``openssl ts``.  Everything is made at test time;
nothing here is a fixture file.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from agent.backends.openssl import engine_config
from common.openssl_ca import ca_config

__all__ = ["ENGINE_SO", "Issued", "OpenSSLPki", "gost_engine_available", "openssl_env"]

ENGINE_SO = "/usr/lib/x86_64-linux-gnu/engines-3/gost.so"

_ENGINE_CNF = engine_config(ENGINE_SO, oids={"INNLE": "1.2.643.100.4"})

_PROFILES = """\
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
{crl_dp}
{aia}
[v3_user]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = emailProtection,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
1.2.643.100.111 = ASN1:FORMAT:UTF8,UTF8String:КриптоПро CSP (тест)
{crl_dp}
{aia}
[v3_ocsp]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
[v3_nousage]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
[v3_noca]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
[v3_tsa]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
"""

_TSA_CNF = """\
[tsa]
default_tsa = tsa_config
[tsa_config]
dir = {dir}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = {cert}
certs = {chain}
signer_key = {key}
signer_digest = {md}
default_policy = 1.2.643.2.2.38.4
other_policies = 1.2.643.2.2.38.1
digests = md_gost12_256, md_gost12_512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = {md}
"""

_MD = {"gost2012_256": "md_gost12_256", "gost2012_512": "md_gost12_512"}


def gost_engine_available() -> bool:
    return Path(ENGINE_SO).exists()


def openssl_env(conf: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["OPENSSL_CONF"] = str(conf)
    return env


@dataclass(frozen=True)
class Issued:
    """A certificate with its key, both as PEM files, plus the issuing CA (None for a root)."""

    name: str
    cert: Path
    key: Path
    md: str
    ca: Issued | None = None

    @property
    def cert_pem(self) -> bytes:
        return self.cert.read_bytes()

    @property
    def cert_der(self) -> bytes:
        import base64

        text = self.cert.read_text()
        body = text.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        return base64.b64decode("".join(body.split()))


def _asn1_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ")


class OpenSSLPki:
    """A directory with CAs, keys and certificates; every operation shells out to ``openssl``."""

    def __init__(
        self,
        root: Path,
        *,
        crl_url: str | None = None,
        ocsp_url: str | None = None,
        ca_issuers_url: str | None = None,
        delta_crl_url: str | None = None,
    ) -> None:
        """``crl_url``, ``ocsp_url`` and ``ca_issuers_url`` are base URLs: certificates a CA issues point to
        ``{crl_url}/{ca}.crl`` (CRL DP), ``{ocsp_url}/{ca}`` (AIA OCSP) and ``{ca_issuers_url}/{ca}.cer``
        (AIA caIssuers, DER), so one loopback server can answer for several CAs; ``delta_crl_url`` adds
        freshestCRL ``{delta_crl_url}/{ca}-delta.crl`` (see :meth:`delta_crl`)."""
        self.root = root
        self.delta_crl_url = delta_crl_url
        self.ocsp_url = ocsp_url
        self.ca_issuers_url = ca_issuers_url
        root.mkdir(parents=True, exist_ok=True)
        self.conf = root / "gost-engine.cnf"
        self.conf.write_text(_ENGINE_CNF)
        self.env = openssl_env(self.conf)
        self.crl_url = crl_url
        self._serials = itertools.count(0x1000)

    # -- plumbing ------------------------------------------------------------------------------------

    def run(self, *args: str | Path, input: bytes | None = None) -> bytes:
        """Run ``openssl args``; raise with stderr on failure (a test helper should fail loudly)."""
        proc = subprocess.run(["openssl", *map(str, args)], input=input, capture_output=True, env=self.env, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(map(str, args))} failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout

    def make_key(self, name: str, algorithm: str = "gost2012_256", paramset: str = "A") -> Path:
        path = self.root / f"{name}.key"
        self.run("genpkey", "-algorithm", algorithm, "-pkeyopt", f"paramset:{paramset}", "-out", path)
        return path

    def _ca_dir(self, ca: Issued) -> Path:
        d = self.root / f"ca-{ca.name}"
        if not d.exists():
            (d / "issued").mkdir(parents=True)
            (d / "index.txt").write_text("")
            (d / "crlnumber").write_text("01\n")
            crl_dp = f"crlDistributionPoints = URI:{self.crl_url}/{ca.name}.crl" if self.crl_url else ""
            if self.delta_crl_url:
                crl_dp += f"\nfreshestCRL = URI:{self.delta_crl_url}/{ca.name}-delta.crl"
            access = []
            if self.ocsp_url:
                access.append(f"OCSP;URI:{self.ocsp_url}/{ca.name}")
            if self.ca_issuers_url:
                access.append(f"caIssuers;URI:{self.ca_issuers_url}/{ca.name}.cer")
            aia = f"authorityInfoAccess = {','.join(access)}" if access else ""
            (d / "ca.cnf").write_text(
                ca_config(
                    directory=str(d),
                    cert=str(ca.cert),
                    key=str(ca.key),
                    md=ca.md,
                    profiles=_PROFILES.format(crl_dp=crl_dp, aia=aia),
                )
            )
        return d

    @staticmethod
    def subject(**fields: str) -> str:
        """Build a ``-subj`` string; keys are OpenSSL short names (CN, O, INN, OGRN, SNILS, INNLE...)."""
        return "".join(f"/{k}={v.replace('/', chr(92) + '/')}" for k, v in fields.items())

    # -- certificates --------------------------------------------------------------------------------

    def root_ca(
        self,
        name: str,
        *,
        algorithm: str = "gost2012_512",
        paramset: str = "A",
        subject: str | None = None,
        days: int = 3650,
    ) -> Issued:
        key = self.make_key(name, algorithm, paramset)
        cert = self.root / f"{name}.pem"
        md = _MD[algorithm]
        ext = self.root / f"{name}.ext.cnf"
        ext.write_text(
            "[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
            "subjectKeyIdentifier = hash\n"
        )
        self.run(
            "req", "-x509", "-new", "-key", key, f"-{md}", "-days", str(days), "-utf8",
            "-subj", subject or self.subject(C="RU", O="Тестовый УЦ", CN=f"Test GOST Root {name}"),
            "-config", ext, "-extensions", "v3_ca", "-set_serial", str(next(self._serials)), "-out", cert,
        )  # fmt: skip
        return Issued(name, cert, key, md, None)

    def issue(
        self,
        ca: Issued,
        name: str,
        *,
        subject: str,
        algorithm: str = "gost2012_256",
        paramset: str = "A",
        profile: str = "v3_user",
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        key: Path | None = None,
    ) -> Issued:
        """Issue a certificate with ``openssl ca`` (so that it can later be revoked and put on a CRL)."""
        key = key or self.make_key(name, algorithm, paramset)
        md = _MD[algorithm]
        csr = self.root / f"{name}.csr"
        cert = self.root / f"{name}.pem"
        self.run("req", "-new", "-key", key, f"-{md}", "-utf8", "-subj", subject, "-out", csr)
        d = self._ca_dir(ca)
        (d / "serial").write_text(f"{next(self._serials):X}\n")
        now = dt.datetime.now(dt.UTC)
        start = not_before or now - dt.timedelta(days=1)
        end = not_after or now + dt.timedelta(days=365)
        self.run(
            "ca", "-batch", "-config", d / "ca.cnf", "-in", csr, "-out", cert, "-notext", "-utf8",
            "-extensions", profile, "-startdate", _asn1_time(start), "-enddate", _asn1_time(end),
            "-md", ca.md,
        )  # fmt: skip
        return Issued(name, cert, key, md, ca)

    def revoke(self, cert: Issued, reason: str = "keyCompromise") -> None:
        assert cert.ca is not None
        d = self._ca_dir(cert.ca)
        self.run("ca", "-config", d / "ca.cnf", "-revoke", cert.cert, "-crl_reason", reason)

    def crl(self, ca: Issued, *, name: str | None = None, valid_seconds: int | None = None) -> Path:
        """A CRL signed by ``ca`` listing what was revoked so far (PEM); ``valid_seconds`` sets nextUpdate."""
        d = self._ca_dir(ca)
        out = self.root / f"{name or ca.name}.crl.pem"
        extra = ["-crlsec", str(valid_seconds)] if valid_seconds is not None else []
        self.run("ca", "-config", d / "ca.cnf", "-gencrl", "-out", out, "-md", ca.md, *extra)
        return out

    def delta_crl(self, ca: Issued, *, base_number: int) -> bytes:
        """A delta CRL (DER) on top of the complete CRL numbered ``base_number``: ``openssl ca -gencrl`` with the
        deltaCRLIndicator extension; it lists every revocation so far, a valid superset of the changes."""
        d = self._ca_dir(ca)
        section = d / "delta.cnf"
        section.write_text(
            f"{(d / 'ca.cnf').read_text()}\n[delta_ext]\n2.5.29.27 = critical,ASN1:INTEGER:{base_number}\n"
        )
        out = self.root / f"{ca.name}-delta.crl.pem"
        self.run("ca", "-config", section, "-gencrl", "-crlexts", "delta_ext", "-out", out, "-md", ca.md)
        return self.run("crl", "-in", out, "-outform", "DER")

    def crl_der(self, ca: Issued) -> bytes:
        pem = self.crl(ca)
        return self.run("crl", "-in", pem, "-outform", "DER")

    # -- signatures ----------------------------------------------------------------------------------

    def sign(
        self,
        signer: Issued,
        data: bytes,
        *,
        attached: bool = False,
        cades: bool = True,
        certfile: list[Path] | None = None,
        noattr: bool = False,
        nocerts: bool = False,
        outform: str = "DER",
    ) -> bytes:
        """A CMS signature from ``openssl cms -sign`` (detached unless ``attached``)."""
        doc = self.root / f"doc-{next(self._serials)}.bin"
        doc.write_bytes(data)
        args: list[str | Path] = [
            "cms", "-sign", "-binary", "-in", doc, "-signer", signer.cert, "-inkey", signer.key,
            "-md", signer.md, "-nosmimecap", "-outform", outform,
        ]  # fmt: skip
        if attached:
            args.append("-nodetach")
        if cades and not noattr:
            args.append("-cades")
        if noattr:
            args.append("-noattr")
        if nocerts:
            args.append("-nocerts")
        if certfile:
            # openssl honours only the last -certfile: hand it one bundle.
            bundle = self.root / f"bundle-{next(self._serials)}.pem"
            bundle.write_bytes(b"".join(Path(p).read_bytes() for p in certfile))
            args += ["-certfile", bundle]
        out = self.run(*args)
        doc.unlink()
        return out

    def openssl_verify(self, sig: bytes, content: bytes | None, ca_file: Path) -> bool:
        """What ``openssl cms -verify`` says (the reference verdict in tests)."""
        sig_path = self.root / f"v-{next(self._serials)}.p7s"
        sig_path.write_bytes(sig)
        args: list[str | Path] = ["cms", "-verify", "-binary", "-inform", "DER", "-in", sig_path,
                                  "-CAfile", ca_file, "-out", os.devnull]  # fmt: skip
        if content is not None:
            doc = self.root / f"v-{next(self._serials)}.bin"
            doc.write_bytes(content)
            args += ["-content", doc]
        try:
            self.run(*args)
            return True
        except RuntimeError:
            return False

    # -- time stamps ---------------------------------------------------------------------------------

    def timestamp_token(self, tsa: Issued, data: bytes, *, chain: list[Path] | None = None) -> bytes:
        """An RFC 3161 TimeStampToken (DER ContentInfo) over ``data``, signed by ``tsa`` via ``openssl ts``."""
        d = self.root / f"tsa-{tsa.name}"
        d.mkdir(exist_ok=True)
        (d / "tsaserial").write_text("01\n") if not (d / "tsaserial").exists() else None
        chain_file = d / "chain.pem"
        chain_file.write_bytes(b"".join(p.read_bytes() for p in (chain or [])) or tsa.cert.read_bytes())
        cnf = d / "tsa.cnf"
        cnf.write_text(_TSA_CNF.format(dir=d, cert=tsa.cert, chain=chain_file, key=tsa.key, md=tsa.md))
        n = next(self._serials)
        data_path, query, token = d / f"data-{n}", d / f"q-{n}.tsq", d / f"t-{n}.tst"
        data_path.write_bytes(data)
        self.run("ts", "-query", "-data", data_path, f"-{tsa.md}", "-cert", "-out", query)
        self.run(
            "ts", "-reply", "-config", cnf, "-section", "tsa_config", "-queryfile", query,
            "-token_out", "-out", token,
        )  # fmt: skip
        return token.read_bytes()


def add_unsigned_attributes(cms_der: bytes, attrs: list[tuple[str, list[bytes]]], *, signer: int = 0) -> bytes:
    """Append unsigned attributes (OID, DER values) to one SignerInfo, as CAdES-T/-X tools do.

    Unsigned attributes are outside the signature, so the result still verifies; the rest of the
    structure keeps its original bytes.
    """
    from asn1crypto import cms

    import cades.asn1  # noqa: F401  (OID registration)

    info = cms.ContentInfo.load(cms_der)
    signer_info = info["content"]["signer_infos"][signer]
    existing = list(signer_info["unsigned_attrs"]) if signer_info["unsigned_attrs"].native is not None else []
    new = [_raw_attribute(oid, values) for oid, values in attrs]
    signer_info["unsigned_attrs"] = cms.CMSAttributes([*existing, *new])
    return info.dump()


def _raw_attribute(oid: str, values: list[bytes]):  # type: ignore[no-untyped-def]  # returns an untyped asn1crypto value
    """An Attribute built from raw DER so that no asn1crypto spec re-encodes the values."""
    from asn1crypto import cms, core

    body = core.ObjectIdentifier(oid).dump() + core.SetOf(contents=b"".join(values)).dump()
    encoded = core.Sequence(contents=body).dump()
    return cms.CMSAttribute.load(encoded)
