"""check_poa against МЧД built from the XSD's structure and signed with openssl: each check fails for its own
cause, and only for it (every failing case asserts the other checks still pass)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from asn1crypto import x509

from cades.asn1 import load_certificate
from cades.poa import PoaVerdict, check_poa, is_head_certificate
from tests.support.mchd import COMPANY, EMPLOYEE, OTHER_COMPANY, MchdPki, MchdSpec, Person
from tests.support.openssl_pki import Issued

NOW = dt.datetime.now(dt.UTC)


def cert_of(issued: Issued) -> x509.Certificate:
    return load_certificate(issued.cert_der)


def run(
    mchd_pki: MchdPki,
    spec: MchdSpec | None = None,
    *,
    signer: Issued | None = None,
    document_signer: Issued | None = None,
    signing_time: dt.datetime | None = NOW,
    inn: str | None = COMPANY.inn,
    powers: tuple[str, ...] = (),
) -> PoaVerdict:
    xml, sig = mchd_pki.signed(spec, signer)
    return check_poa(
        xml,
        sig,
        signer_certificate=cert_of(document_signer or mchd_pki.employee),
        signing_time=signing_time,
        expected_principal_inn=inn,
        required_powers=powers,
        context=mchd_pki.context(),
        registry=None,
    )


def statuses(verdict: PoaVerdict) -> dict[str, str]:
    return {c.name: c.status for c in verdict.checks}


ALL_OK_BUT_REGISTRY = {
    "signature": "ok",
    "issuer": "ok",
    "validity": "ok",
    "representative": "ok",
    "principal": "ok",
    "powers": "ok",
    "registry": "unknown",
}


def expect(verdict: PoaVerdict, **changed: str) -> None:
    assert statuses(verdict) == {**ALL_OK_BUT_REGISTRY, **changed}, [c.message for c in verdict.checks]


def test_valid_mchd_passes_every_check_and_says_the_registry_was_not_checked(mchd_pki: MchdPki) -> None:
    spec = MchdSpec()
    verdict = run(mchd_pki, spec, powers=("KLASS_2.0_SIGN_DIG_DOC",))
    expect(verdict)
    # Nothing failed, the registry is undecided: the caller's policy decides.
    assert verdict.status == "indeterminate"
    assert verdict.registry_checked is False
    registry = next(c for c in verdict.checks if c.name == "registry")
    assert "статус в реестре ФНС не проверен" in registry.message
    assert verdict.poa is not None and verdict.poa.number == spec.number
    assert verdict.poa.principal.inn == COMPANY.inn
    assert verdict.signature is not None and verdict.signature.status == "valid"
    summary = verdict.summary()
    assert summary.startswith(f'МЧД № {spec.number}, доверитель ООО "Ромашка" (ИНН {COMPANY.inn}), действует до ')
    assert summary.endswith(": не подтверждена")


def test_expired_mchd_fails_validity(mchd_pki: MchdPki) -> None:
    today = dt.date.today()
    spec = MchdSpec(issued=today - dt.timedelta(days=400), valid_until=today - dt.timedelta(days=35))
    verdict = run(mchd_pki, spec)
    expect(verdict, validity="failed")
    assert verdict.status == "invalid"
    assert "срок действия истёк" in next(c.message for c in verdict.checks if c.name == "validity")


def test_mchd_not_yet_valid_at_signing_fails_validity(mchd_pki: MchdPki) -> None:
    today = dt.date.today()
    spec = MchdSpec(issued=today + dt.timedelta(days=3), valid_until=today + dt.timedelta(days=300))
    verdict = run(mchd_pki, spec)
    expect(verdict, validity="failed")
    assert "ещё не действовала" in next(c.message for c in verdict.checks if c.name == "validity")


def test_validity_is_judged_at_the_signing_time_in_moscow_dates(mchd_pki: MchdPki) -> None:
    """The last day counts whole, in Moscow time: 23:30 MSK on СрокДейст is in time, 00:30 MSK next day is not."""
    spec = MchdSpec(issued=dt.date(2026, 1, 1), valid_until=dt.date(2026, 6, 30))
    msk = dt.timezone(dt.timedelta(hours=3))
    inside = run(mchd_pki, spec, signing_time=dt.datetime(2026, 6, 30, 23, 30, tzinfo=msk))
    outside = run(mchd_pki, spec, signing_time=dt.datetime(2026, 7, 1, 0, 30, tzinfo=msk))
    assert statuses(inside)["validity"] == "ok"
    assert statuses(outside)["validity"] == "failed"
    # Before the issue day, by a UTC moment that is already the issue day in Moscow: in time.
    early = run(mchd_pki, spec, signing_time=dt.datetime(2025, 12, 31, 22, 0, tzinfo=dt.UTC))
    assert statuses(early)["validity"] == "ok"


def test_mchd_signed_by_someone_who_is_not_the_head_fails_issuer(mchd_pki: MchdPki) -> None:
    """The deputy's certificate is the company's own (same ИНН ЮЛ), but the МЧД names only the director."""
    verdict = run(mchd_pki, signer=mchd_pki.deputy)
    expect(verdict, issuer="failed")
    message = next(c.message for c in verdict.checks if c.name == "issuer")
    assert "Сидоров" in message and "Иванов" in message


def test_mchd_signed_by_a_head_of_another_company_fails_issuer(mchd_pki: MchdPki) -> None:
    """A head named in the МЧД by СНИЛС, but whose certificate is another company's, is not the principal's head."""
    from tests.support.mchd import OTHER_HEAD

    spec = MchdSpec(heads=(OTHER_HEAD,))
    verdict = run(mchd_pki, spec, signer=mchd_pki.other_head)
    expect(verdict, issuer="failed")
    message = next(c.message for c in verdict.checks if c.name == "issuer")
    assert OTHER_COMPANY.inn in message and COMPANY.inn in message


def test_representative_snils_differs_from_the_certificate(mchd_pki: MchdPki) -> None:
    verdict = run(mchd_pki, document_signer=mchd_pki.stranger)
    expect(verdict, representative="failed")
    assert "Смирнов" in next(c.message for c in verdict.checks if c.name == "representative")


def test_representative_inn_differs_while_snils_matches(mchd_pki: MchdPki) -> None:
    changed = Person(EMPLOYEE.last, EMPLOYEE.first, EMPLOYEE.middle, EMPLOYEE.snils, "500100732259")
    verdict = run(mchd_pki, MchdSpec(representatives=(changed,)))
    expect(verdict, representative="failed")
    assert "ИНН" in next(c.message for c in verdict.checks if c.name == "representative")


def test_principal_inn_differs_from_the_crm(mchd_pki: MchdPki) -> None:
    verdict = run(mchd_pki, inn=OTHER_COMPANY.inn)
    expect(verdict, principal="failed")
    assert OTHER_COMPANY.inn in next(c.message for c in verdict.checks if c.name == "principal")


def test_crm_without_inn_makes_the_principal_check_unknown(mchd_pki: MchdPki) -> None:
    verdict = run(mchd_pki, inn=None)
    expect(verdict, principal="unknown")
    assert "в CRM не указан ИНН" in next(c.message for c in verdict.checks if c.name == "principal")


def test_a_required_power_missing(mchd_pki: MchdPki) -> None:
    verdict = run(mchd_pki, powers=("KLASS_2.0_SIGN_DIG_DOC", "KLASS_2.0_CONCLUDE"))
    expect(verdict, powers="failed")
    message = next(c.message for c in verdict.checks if c.name == "powers")
    assert "KLASS_2.0_CONCLUDE" in message and "KLASS_2.0_SIGN_DIG_DOC" not in message


def test_no_required_powers_is_shown_as_any(mchd_pki: MchdPki) -> None:
    verdict = run(mchd_pki, powers=())
    assert "любые" in next(c.message for c in verdict.checks if c.name == "powers")


def test_text_powers_cannot_be_matched_by_code(mchd_pki: MchdPki) -> None:
    spec = MchdSpec(powers=(), text_powers="Подписывать договоры поставки от имени общества")
    verdict = run(mchd_pki, spec, powers=("KLASS_2.0_SIGN",))
    expect(verdict, powers="unknown")


def test_joint_powers_of_two_representatives_do_not_let_one_sign_alone(mchd_pki: MchdPki) -> None:
    second = Person("Орлов", "Пётр", "Ильич", "55566677788", "776677889900")
    verdict = run(mchd_pki, MchdSpec(representatives=(EMPLOYEE, second), joint="1"))
    expect(verdict, representative="unknown")
    alone = run(mchd_pki, MchdSpec(representatives=(EMPLOYEE, second), joint="2"))
    expect(alone)


def test_mchd_signature_over_other_bytes_fails(mchd_pki: MchdPki) -> None:
    """The МЧД's bytes changed after signing (a changed date): the signature check fails, through verify_cms."""
    xml, sig = mchd_pki.signed(MchdSpec())
    tampered = xml.replace(b"\xd0\x9c\xd0\xa7\xd0\x94-7", b"\xd0\x9c\xd0\xa7\xd0\x94-8")
    assert tampered != xml
    verdict = check_poa(
        tampered, sig, signer_certificate=cert_of(mchd_pki.employee), signing_time=NOW,
        expected_principal_inn=COMPANY.inn, required_powers=(), context=mchd_pki.context(), registry=None,
    )  # fmt: skip
    assert statuses(verdict)["signature"] == "failed"
    assert verdict.status == "invalid"


def test_mchd_signature_under_an_untrusted_root_is_not_confirmed(mchd_pki: MchdPki) -> None:
    """The same trust as documents: a context without the root leaves the МЧД's signature undecided."""
    from cades.validation import ValidationContext

    xml, sig = mchd_pki.signed(MchdSpec())
    verdict = check_poa(
        xml, sig, signer_certificate=cert_of(mchd_pki.employee), signing_time=NOW,
        expected_principal_inn=COMPANY.inn, required_powers=(), registry=None,
        context=ValidationContext.from_paths([], intermediates=[mchd_pki.inter.cert, mchd_pki.root.cert]),
    )  # fmt: skip
    assert statuses(verdict)["signature"] == "unknown"
    assert verdict.signature is not None and "untrusted_root" in verdict.signature.reasons


def test_revocation_unknown_follows_the_revocation_policy(mchd_pki: MchdPki) -> None:
    """Without CRLs the МЧД signer's revocation status is unknown: undecided, unless the caller's policy is warn."""
    from cades.validation import ValidationContext

    xml, sig = mchd_pki.signed(MchdSpec())
    context = ValidationContext.from_paths(mchd_pki.trust, intermediates=mchd_pki.intermediates)
    common: dict[str, Any] = dict(
        signer_certificate=cert_of(mchd_pki.employee), signing_time=NOW, expected_principal_inn=COMPANY.inn,
        required_powers=(), context=context, registry=None,
    )  # fmt: skip
    strict = check_poa(xml, sig, **common)
    lenient = check_poa(xml, sig, accept_revocation_unknown=True, **common)
    assert statuses(strict)["signature"] == "unknown"
    assert statuses(lenient)["signature"] == "ok"
    assert "revocation = warn" in next(c.message for c in lenient.checks if c.name == "signature")


def test_revoked_head_certificate_makes_the_mchd_invalid(mchd_pki: MchdPki) -> None:
    """Revocation applies to the МЧД's signer as to a document's: a head whose certificate is revoked."""
    from cades.validation import ValidationContext
    from tests.support.mchd import HEAD, _subject

    revoked = mchd_pki.pki.issue(mchd_pki.inter, "mchd-head-revoked", subject=_subject(HEAD, COMPANY))
    xml, sig = mchd_pki.signed(MchdSpec(), revoked)
    mchd_pki.pki.revoke(revoked)
    crl = mchd_pki.pki.crl(mchd_pki.inter, name="mchd-inter-after-revocation")
    context = ValidationContext.from_paths(
        mchd_pki.trust, intermediates=mchd_pki.intermediates, crls=[crl, mchd_pki.crls[1]],
        at=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    verdict = check_poa(
        xml, sig, signer_certificate=cert_of(mchd_pki.employee), signing_time=NOW,
        expected_principal_inn=COMPANY.inn, required_powers=(), context=context, registry=None,
    )  # fmt: skip
    assert statuses(verdict)["signature"] == "failed"
    assert "revoked" in (verdict.signature.reasons if verdict.signature else [])


def test_unreadable_mchd_is_a_verdict_not_an_exception(mchd_pki: MchdPki) -> None:
    verdict = check_poa(
        b"<not-an-mchd/>", b"", signer_certificate=cert_of(mchd_pki.employee), signing_time=NOW,
        expected_principal_inn=COMPANY.inn, required_powers=(), context=mchd_pki.context(), registry=None,
    )  # fmt: skip
    assert verdict.status == "invalid" and verdict.poa is None
    assert [c.name for c in verdict.checks] == ["format"]
    assert "EMCHD_1" in verdict.checks[0].message


@pytest.mark.parametrize(
    ("who", "expected"), [("head", True), ("deputy", True), ("employee", False), ("stranger", False)]
)
def test_is_head_certificate(mchd_pki: MchdPki, who: str, expected: bool) -> None:
    assert is_head_certificate(cert_of(getattr(mchd_pki, who))) is expected


def test_head_certificate_naming_another_organisation_by_inn_fails_even_with_the_same_ogrn(mchd_pki: MchdPki) -> None:
    """ИНН ЮЛ and ОГРН must both agree when both are there: one matching value does not outweigh a conflicting one."""
    from tests.support.mchd import HEAD, Company, _subject

    mixed = Company(name=COMPANY.name, inn=OTHER_COMPANY.inn, kpp=COMPANY.kpp, ogrn=COMPANY.ogrn)
    cert = mchd_pki.pki.issue(mchd_pki.inter, "mchd-head-mixed", subject=_subject(HEAD, mixed))
    verdict = run(mchd_pki, signer=cert)
    expect(verdict, issuer="failed")
    assert OTHER_COMPANY.inn in next(c.message for c in verdict.checks if c.name == "issuer")


def test_an_entrepreneur_principal_signs_their_own_mchd(mchd_pki: MchdPki) -> None:
    """ИП as principal: the ИП is the one who acts without a power of attorney; their certificate carries ОГРНИП."""
    ip = Person("Сидоров", "Пётр", "Олегович", "66677788899", "500100732259")
    ogrnip = "304770000000012"
    cert = mchd_pki.pki.issue(
        mchd_pki.inter, "mchd-ip",
        subject=mchd_pki.pki.subject(C="RU", CN=ip.full_name, SN=ip.last, GN=f"{ip.first} {ip.middle}",
                                     OGRNIP=ogrnip, INN=ip.inn, SNILS=ip.snils),
    )  # fmt: skip
    spec = MchdSpec(entrepreneur=(ip, ogrnip))
    verdict = run(mchd_pki, spec, signer=cert, inn=ip.inn)
    expect(verdict)
    assert verdict.poa is not None
    assert verdict.poa.principal.ogrn == ogrnip and verdict.poa.principal.kpp == ""
    assert verdict.poa.principal.name == f"ИП {ip.full_name}"
    assert is_head_certificate(cert_of(cert))
    # The same МЧД signed by a company's head (no ОГРНИП, another ИНН) is not the ИП's.
    expect(run(mchd_pki, spec, signer=mchd_pki.head, inn=ip.inn), issuer="failed")


def test_a_certificate_without_snils_is_not_the_representative_named_by_snils(mchd_pki: MchdPki) -> None:
    """The МЧД names the representative by СНИЛС: a certificate with the same ИНН but no СНИЛС does not prove it."""
    cert = mchd_pki.pki.issue(
        mchd_pki.inter, "mchd-no-snils",
        subject=mchd_pki.pki.subject(C="RU", CN=EMPLOYEE.full_name, SN=EMPLOYEE.last, INN=EMPLOYEE.inn),
    )  # fmt: skip
    expect(run(mchd_pki, document_signer=cert), representative="failed")
