"""The `openssl ca` configuration both made-at-run-time PKIs share: the demo's (demo/pki.py) and the tests'
(tests/support/openssl_pki.py). One CA database layout and one subject policy that admits the Russian
qualified-certificate attributes (ИНН, ИНН ЮЛ, ОГРН, ОГРНИП, СНИЛС); each PKI appends its own profiles."""

from __future__ import annotations

from typing import Final

__all__ = ["ca_config"]

_DATABASE_AND_POLICY: Final = """\
oid_section = new_oids
[new_oids]
INNLE = 1.2.643.100.4
[ca]
default_ca = this_ca
[this_ca]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = {cert}
private_key = {key}
default_md = {md}
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = yes
utf8 = yes
string_mask = utf8only
[policy_any]
countryName = optional
stateOrProvinceName = optional
localityName = optional
streetAddress = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
surname = optional
givenName = optional
title = optional
emailAddress = optional
INN = optional
INNLE = optional
OGRN = optional
OGRNIP = optional
SNILS = optional
"""


def ca_config(*, directory: str, cert: str, key: str, md: str, profiles: str) -> str:
    """The text of ``ca.cnf`` for one CA: its database in ``directory``, then the extension ``profiles``."""
    return _DATABASE_AND_POLICY.format(dir=directory, cert=cert, key=key, md=md) + profiles
