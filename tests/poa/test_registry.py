"""The ФНС registry check against a local fake of the registry over real HTTP (tests/support/http_files.py).

The fake answers as the public portal's JSON does, as read from the MIT-licensed client porox/fns-m4d-client
(src/FNSM4DClient.php, src/DTO/AbstractPoaDTO.php): ``GET /api/v0/poar-portal/public/poa/{НомДовер}/public`` ->
200 ``{"poaNumber", "startDate", "endDate", "status", "statusDate", "issuerPublicKey"}`` or 404 when unknown;
statuses ACTIVE, REVOKED, EXPIRED, CREATED, PROCESSING, REJECTED. No request ever leaves the machine."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from cades.asn1 import load_certificate
from cades.poa import PoaVerdict, RegistryClient, check_poa
from tests.support.http_files import FileServer, serve_files
from tests.support.mchd import COMPANY, MchdPki, MchdSpec

SIGNED_AT = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)


def registry_path(number: str) -> str:
    return f"/api/v0/poar-portal/public/poa/{number}/public"


def answer(number: str, status: str, status_date: dt.datetime | None = None) -> bytes:
    return json.dumps(
        {
            "poaNumber": number,
            "startDate": "2026-01-01",
            "endDate": "2027-01-01",
            "status": status,
            "statusDate": status_date.isoformat() if status_date else None,
            "issuerPublicKey": "",
        }
    ).encode()


@pytest.fixture
def fake_fns() -> Iterator[FileServer]:
    with serve_files() as server:
        yield server


def check(mchd_pki: MchdPki, spec: MchdSpec, registry: RegistryClient | None) -> PoaVerdict:
    xml, sig = mchd_pki.signed(spec)
    return check_poa(
        xml, sig, signer_certificate=load_certificate(mchd_pki.employee.cert_der), signing_time=SIGNED_AT,
        expected_principal_inn=COMPANY.inn, required_powers=(), context=mchd_pki.context(), registry=registry,
    )  # fmt: skip


def registry_check(verdict: PoaVerdict) -> tuple[str, str]:
    found = next(c for c in verdict.checks if c.name == "registry")
    return found.status, found.message


def test_active_in_the_registry_makes_the_mchd_valid(mchd_pki: MchdPki, fake_fns: FileServer) -> None:
    spec = MchdSpec()
    fake_fns.put(registry_path(spec.number), answer(spec.number, "ACTIVE"))
    verdict = check(mchd_pki, spec, RegistryClient(fake_fns.base_url, trust_env=False))
    assert registry_check(verdict) == ("ok", "в реестре ФНС МЧД действует")
    assert verdict.status == "valid" and verdict.registry_checked is True
    assert fake_fns.hits(registry_path(spec.number)) == 1


def test_revoked_before_signing_makes_the_mchd_invalid(mchd_pki: MchdPki, fake_fns: FileServer) -> None:
    spec = MchdSpec()
    fake_fns.put(registry_path(spec.number), answer(spec.number, "REVOKED", SIGNED_AT - dt.timedelta(days=1)))
    verdict = check(mchd_pki, spec, RegistryClient(fake_fns.base_url, trust_env=False))
    status, message = registry_check(verdict)
    assert status == "failed" and "отменена" in message
    assert verdict.status == "invalid" and verdict.registry_checked is True


def test_revoked_after_the_claimed_signing_time_is_not_decided(mchd_pki: MchdPki, fake_fns: FileServer) -> None:
    spec = MchdSpec()
    fake_fns.put(registry_path(spec.number), answer(spec.number, "REVOKED", SIGNED_AT + dt.timedelta(hours=5)))
    status, message = registry_check(check(mchd_pki, spec, RegistryClient(fake_fns.base_url, trust_env=False)))
    assert status == "unknown" and "позже заявленного времени подписания" in message


def test_unknown_number_is_a_failure(mchd_pki: MchdPki, fake_fns: FileServer) -> None:
    status, message = registry_check(check(mchd_pki, MchdSpec(), RegistryClient(fake_fns.base_url, trust_env=False)))
    assert status == "failed" and "не найдена" in message
    assert len(fake_fns.requests) == 1


def test_registry_off_says_not_checked(mchd_pki: MchdPki, fake_fns: FileServer) -> None:
    verdict = check(mchd_pki, MchdSpec(), None)
    status, message = registry_check(verdict)
    assert status == "unknown" and message.startswith("статус в реестре ФНС не проверен")
    assert verdict.status == "indeterminate" and verdict.registry_checked is False
    assert fake_fns.requests == []


def test_unreachable_registry_says_not_checked_and_is_asked_again(mchd_pki: MchdPki, fake_fns: FileServer) -> None:
    spec = MchdSpec()
    fake_fns.put(registry_path(spec.number), answer(spec.number, "ACTIVE"))
    fake_fns.down = True
    client = RegistryClient(fake_fns.base_url, trust_env=False, timeout=2.0)
    verdict = check(mchd_pki, spec, client)
    status, message = registry_check(verdict)
    assert status == "unknown" and message.startswith("статус в реестре ФНС не проверен: реестр ФНС недоступен")
    assert verdict.registry_checked is False
    fake_fns.down = False  # a failure is not cached: the next check asks again and gets the answer
    assert registry_check(check(mchd_pki, spec, client))[0] == "ok"
    assert fake_fns.hits(registry_path(spec.number)) == 2


def test_nothing_listens_there_at_all(mchd_pki: MchdPki) -> None:
    with serve_files() as gone:
        base = gone.base_url  # a loopback port that was just closed
    status, message = registry_check(check(mchd_pki, MchdSpec(), RegistryClient(base, trust_env=False, timeout=2.0)))
    assert status == "unknown" and "реестр ФНС недоступен" in message


def test_answers_are_cached_for_the_ttl(mchd_pki: MchdPki, fake_fns: FileServer) -> None:
    spec = MchdSpec()
    fake_fns.put(registry_path(spec.number), answer(spec.number, "ACTIVE"))
    cached = RegistryClient(fake_fns.base_url, trust_env=False, ttl=3600)
    for _ in range(3):
        assert cached.status(spec.number).state == "active"
    assert fake_fns.hits(registry_path(spec.number)) == 1
    uncached = RegistryClient(fake_fns.base_url, trust_env=False, ttl=0)
    fake_fns.put(registry_path(spec.number), answer(spec.number, "REVOKED"))
    assert uncached.status(spec.number).state == "revoked"
    assert uncached.status(spec.number).state == "revoked"
    assert fake_fns.hits(registry_path(spec.number)) == 3


@pytest.mark.parametrize(
    ("status", "state", "check_status"),
    [("CREATED", "pending", "unknown"), ("PROCESSING", "pending", "unknown"), ("EXPIRED", "expired", "ok"),
     ("REJECTED", "rejected", "failed"), ("SOMETHING_NEW", "unknown", "unknown")],
)  # fmt: skip
def test_every_registry_status_has_a_meaning(
    mchd_pki: MchdPki, fake_fns: FileServer, status: str, state: str, check_status: str
) -> None:
    spec = MchdSpec()
    fake_fns.put(registry_path(spec.number), answer(spec.number, status))
    client = RegistryClient(fake_fns.base_url, trust_env=False)
    assert client.status(spec.number).state == state
    assert registry_check(check(mchd_pki, spec, client))[0] == check_status


def test_a_garbled_answer_is_not_read_as_active(fake_fns: FileServer) -> None:
    fake_fns.put(registry_path("x"), b"<html>maintenance</html>")
    assert RegistryClient(fake_fns.base_url, trust_env=False).status("x").state == "unknown"
