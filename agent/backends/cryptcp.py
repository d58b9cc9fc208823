"""``cryptcp``: CryptoPro CSP's command-line tool (Linux and Windows), certificates listed with ``certmgr``.

Not runnable on the build machine: the command lines and the output parsing are tested against recorded
shapes (``tests/agent/test_cryptopro_shapes.py``). Flags follow CryptoPro's documented ``cryptcp -sign``
options: detached (``-detached``), DER output (``-der``), CAdES-BES (``-cadesbes``), the certificate by
SHA-1 thumbprint, chain and revocation checks left to the server (``-nochain -norev``), the key container
PIN with ``-pin`` when one is configured. Success is ``[ErrorCode: 0x00000000]`` in the output (cp1251 on
Linux, cp866 in a Windows console).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .base import Availability, Backend, BackendError, CertificateInfo, read_secret, to_der

_ERROR = re.compile(r"\[ErrorCode:\s*(0x[0-9a-fA-F]+)\]")
_FIELD = re.compile(r"^\s*([A-Za-z0-9 ]+?)\s*:\s*(.*)$")
_KNOWN_ERRORS = {
    "0x8010006b": "неверный PIN-код контейнера ключа",
    "0x80092004": "сертификат с таким отпечатком не найден в хранилище uMy",
    "0x8009200b": "у сертификата нет закрытого ключа на этом компьютере",
    "0x800b010a": "не построена цепочка сертификатов",
    "0x8010006e": "операция отменена пользователем",
}


def decode_output(raw: bytes) -> str:
    for encoding in ("utf-8", "cp1251", "cp866"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def error_code(text: str) -> str | None:
    match = _ERROR.search(text)
    return match.group(1).lower() if match else None


def sign_command(cryptcp: str, thumbprint: str, source: Path, target: Path, pin: str = "") -> list[str]:
    cmd = [cryptcp, "-sign", "-thumbprint", thumbprint.lower(), "-detached", "-der", "-cadesbes", "-nochain", "-norev"]
    if pin:
        cmd += ["-pin", pin]
    return [*cmd, str(source), str(target)]


def list_command(certmgr: str) -> list[str]:
    return [certmgr, "-list", "-store", "uMy"]


def parse_certmgr(text: str) -> list[CertificateInfo]:
    """Blocks ``N-------`` of ``Key : value`` lines, as ``certmgr -list`` prints them."""
    certs: list[CertificateInfo] = []
    block: dict[str, str] = {}

    def flush() -> None:
        thumb = (block.get("sha1 hash") or block.get("sha1 thumbprint") or "").lower().removeprefix("0x")
        if thumb:
            certs.append(
                CertificateInfo(
                    subject=block.get("subject", ""),
                    issuer=block.get("issuer", ""),
                    serial=block.get("serial", "").lower().removeprefix("0x"),
                    not_after=block.get("not valid after", ""),
                    not_before=block.get("not valid before", ""),
                    thumbprint=thumb,
                    has_private_key=block.get("privatekey link", "").lower().startswith("yes"),
                )
            )
        block.clear()

    for line in text.splitlines():
        if re.match(r"^\s*\d+-{3,}\s*$", line) or line.startswith("====="):
            flush()
            continue
        match = _FIELD.match(line)
        if match and not line.startswith("["):
            block[match.group(1).strip().lower()] = match.group(2).strip()
    flush()
    return certs


class CryptcpBackend(Backend):
    name = "cryptcp"

    def __init__(self, thumbprint: str, cryptcp_path: str = "", pin_file: str = "") -> None:
        self.thumbprint = thumbprint
        self.pin_file = pin_file
        self.cryptcp = cryptcp_path or self._default("cryptcp")
        self.certmgr = (
            str(Path(self.cryptcp).with_name("certmgr" + Path(self.cryptcp).suffix))
            if Path(self.cryptcp).is_absolute()
            else self._default("certmgr")
        )

    @staticmethod
    def _default(tool: str) -> str:
        found = shutil.which(tool)
        if found:
            return found
        if sys.platform == "win32":
            return rf"C:\Program Files\Crypto Pro\CSP\{tool}.exe"
        return f"/opt/cprocsp/bin/amd64/{tool}"

    def _run(self, cmd: list[str]) -> str:
        try:
            proc = subprocess.run(cmd, capture_output=True, check=False, timeout=600, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"Не удалось запустить {Path(cmd[0]).name}: {exc}") from exc
        text = decode_output(proc.stdout + b"\n" + proc.stderr)
        code = error_code(text)
        if proc.returncode != 0 or (code is not None and code != "0x00000000"):
            known = _KNOWN_ERRORS.get(code or "", "")
            raise BackendError(
                f"{Path(cmd[0]).name}: ошибка {code or proc.returncode}" + (f" ({known})" if known else "")
            )
        return text

    def availability(self) -> Availability:
        if not Path(self.cryptcp).exists() and shutil.which(self.cryptcp) is None:
            return Availability(
                False, f"cryptcp не найден ({self.cryptcp}): установите КриптоПро CSP или укажите backend.cryptcp_path."
            )
        if not self.thumbprint:
            return Availability(False, "не указан отпечаток сертификата (backend.certificate).")
        return Availability(True, f"КриптоПро cryptcp, сертификат {self.thumbprint}")

    def certificates(self) -> list[CertificateInfo]:
        return parse_certmgr(self._run(list_command(self.certmgr)))

    def signing_thumbprint(self) -> str:
        return self.thumbprint.lower().replace(" ", "")

    def sign(self, path: Path) -> bytes:
        with tempfile.TemporaryDirectory(prefix="klikdok-cryptcp-") as tmp:
            target = Path(tmp) / (path.name + ".sig")
            self._run(sign_command(self.cryptcp, self.thumbprint, path, target, read_secret(self.pin_file)))
            if not target.exists():
                raise BackendError("cryptcp не создал файл подписи.")
            return to_der(target.read_bytes())
