"""Session-scoped pytest fixtures with a ready GOST PKI (import them into a conftest.py).

One root (512-bit), one intermediate CA (256-bit), qualified-style end-entity certificates on several
parameter sets, an expired one, a revoked one with its CRL, a TSA, and a foreign root.  Made once per
test session: key generation and issuance through ``openssl`` take a second or so in total.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from .openssl_pki import Issued, OpenSSLPki, gost_engine_available

__all__ = ["GostPki", "gost_pki"]

QUALIFIED_SUBJECT = OpenSSLPki.subject(
    C="RU",
    ST="77 г. Москва",
    L="Москва",
    street="ул. Тверская, д. 1",
    O='ООО "Ромашка"',
    title="Генеральный директор",
    SN="Иванов",
    GN="Иван Иванович",
    CN="Иванов Иван Иванович",
    INN="771234567890",
    INNLE="7712345678",
    OGRN="1027700000001",
    SNILS="12345678901",
    emailAddress="ivanov@example.ru",
)


@dataclass(frozen=True)
class GostPki:
    pki: OpenSSLPki
    root: Issued
    inter: Issued
    user256: Issued
    user512: Issued
    by_paramset: dict[str, Issued]
    expired: Issued
    revoked: Issued
    crl: Path
    root_crl: Path
    foreign_root: Issued
    tsa: Issued
    ip: Issued

    @property
    def crl_files(self) -> tuple[Path, Path]:
        """The intermediate's and the root's CRLs: what makes the revocation status of the test chain known."""
        return self.crl, self.root_crl

    @property
    def chain_file(self) -> Path:
        """Intermediate + root, PEM (for -CAfile / --trust)."""
        path = self.pki.root / "chain.pem"
        if not path.exists():
            path.write_bytes(self.inter.cert.read_bytes() + self.root.cert.read_bytes())
        return path


@pytest.fixture(scope="session")
def gost_pki(tmp_path_factory: pytest.TempPathFactory) -> GostPki:
    if not gost_engine_available():
        pytest.fail("OpenSSL gost engine is not installed; `make test` installs libengine-gost-openssl")
    pki = OpenSSLPki(tmp_path_factory.mktemp("gost-pki"))
    root = pki.root_ca("root", algorithm="gost2012_512", paramset="A")
    inter = pki.issue(
        root, "inter", subject=pki.subject(C="RU", O="Тестовый УЦ", CN="Test GOST Issuing CA"),
        algorithm="gost2012_256", paramset="A", profile="v3_ca",
    )  # fmt: skip
    user256 = pki.issue(inter, "user256", subject=QUALIFIED_SUBJECT, algorithm="gost2012_256", paramset="A")
    user512 = pki.issue(
        inter, "user512", subject=pki.subject(CN="Петров Пётр (512)", SNILS="98765432109"),
        algorithm="gost2012_512", paramset="A",
    )  # fmt: skip
    by_paramset = {"256-A": user256, "512-A": user512}
    for label, algorithm, paramset in [
        ("256-B", "gost2012_256", "B"),
        ("256-C", "gost2012_256", "C"),
        ("256-XA", "gost2012_256", "XA"),
        ("256-TCA", "gost2012_256", "TCA"),
        ("512-B", "gost2012_512", "B"),
        ("512-C", "gost2012_512", "C"),
    ]:
        by_paramset[label] = pki.issue(
            inter, f"user-{label}", subject=pki.subject(CN=f"Signer {label}"),
            algorithm=algorithm, paramset=paramset,
        )  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    expired = pki.issue(
        inter, "expired", subject=pki.subject(CN="Expired Signer"),
        not_before=now - dt.timedelta(days=800), not_after=now - dt.timedelta(days=400),
    )  # fmt: skip
    revoked = pki.issue(inter, "revoked", subject=pki.subject(CN="Revoked Signer"))
    pki.revoke(revoked)
    crl = pki.crl(inter)
    root_crl = pki.crl(root)
    foreign_root = pki.root_ca("foreign", algorithm="gost2012_256", paramset="B",
                               subject=pki.subject(CN="Some Other Root"))  # fmt: skip
    tsa = pki.issue(root, "tsa", subject=pki.subject(CN="Test TSA", O="Тестовый УЦ"), profile="v3_tsa")
    ip = pki.issue(
        inter, "ip", subject=pki.subject(CN="ИП Сидоров", OGRNIP="304770000000012", INN="500100732259"),
    )  # fmt: skip
    return GostPki(
        pki, root, inter, user256, user512, by_paramset, expired, revoked, crl, root_crl, foreign_root, tsa, ip
    )
