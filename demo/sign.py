"""``python -m demo.sign WHO FILE [OUT]``: a detached GOST signature (``FILE.sig``) made with a demo key.

For the steps of the demo story that upload a ``.sig`` (a signer's «Загрузить подпись», the counterparty's
page): the signature a person would make in CryptoPro or CryptoARM, here by ``openssl cms`` with the demo key of
``WHO`` (director, accountant, head, counterparty). The exact openssl command is printed too.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from . import demo_people
from .demo_state import demo_dir
from .pki import DemoPki, PkiError, sign_command

USAGE = (
    "python -m demo.sign КТО ФАЙЛ [ПОДПИСЬ.sig]   (КТО: "
    + ", ".join([*demo_people.SIGNERS, demo_people.COUNTERPARTY])
    + ")"
)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    names = [*demo_people.SIGNERS, demo_people.COUNTERPARTY]
    if len(args) not in (2, 3) or args[0] not in names:
        print(USAGE, file=sys.stderr)
        return 2
    pki = DemoPki(demo_dir() / "pki")
    if not pki.ready():
        print("Демо-ключей ещё нет: сначала запустите make run.", file=sys.stderr)
        return 1
    data = Path(args[1])
    if not data.is_file():
        print(f"Нет файла {data}", file=sys.stderr)
        return 2
    out = Path(args[2]) if len(args) == 3 else data.with_name(data.name + ".sig")
    try:
        pki.sign(args[0], data, out)
    except PkiError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"OPENSSL_CONF={shlex.quote(str(pki.conf))} {shlex.join(sign_command(pki, args[0], data, out))}")
    print(f"Подпись: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
