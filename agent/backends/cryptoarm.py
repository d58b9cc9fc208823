"""``cryptoarm``: CryptoARM GOST signs; the agent only opens the ``cryptoarm://`` link the server made.

The app then talks to the server's ``/cryptoarm/json`` itself (the files, the user's choice of certificate,
the signatures), and the server tells the agent the outcome over the websocket. So this backend does not sign
files locally (``klikdok-agent sign`` says so) and lists no certificates (the app shows its own).

The link is opened with the platform's URL handler (``xdg-open``, ``open``, ``os.startfile``), or with
``backend.link_opener``: a command line the link is appended to (tests use the CryptoARM emulator here).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

from .base import Availability, Backend, BackendError, CertificateInfo


class CryptoArmBackend(Backend):
    name = "cryptoarm"
    delegated = True

    def __init__(self, link_opener: str = "", timeout_seconds: int = 600) -> None:
        self.link_opener = link_opener
        self.timeout_seconds = timeout_seconds
        self.children: list[subprocess.Popen[bytes]] = []

    def availability(self) -> Availability:
        if self.link_opener:
            tool = shlex.split(self.link_opener)[0]
            ok = shutil.which(tool) is not None or os.path.exists(tool)
            return Availability(ok, f"ссылки открывает {tool}" if ok else f"не найдена программа {tool}")
        if sys.platform == "win32":
            try:
                import winreg

                winreg.OpenKey(winreg.HKEY_CLASSES_ROOT, "cryptoarm")
            except OSError:
                return Availability(False, "КриптоАРМ ГОСТ не зарегистрирован для ссылок cryptoarm://.")
            return Availability(True, "КриптоАРМ ГОСТ (ссылки cryptoarm://)")
        if sys.platform == "darwin":
            return Availability(True, "ссылки cryptoarm:// открывает macOS (open)")
        if shutil.which("xdg-mime") is None:
            return Availability(False, "нет xdg-mime: не проверить, установлен ли КриптоАРМ ГОСТ.")
        handler = subprocess.run(
            ["xdg-mime", "query", "default", "x-scheme-handler/cryptoarm"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if not handler:
            return Availability(False, "КриптоАРМ ГОСТ не зарегистрирован для ссылок cryptoarm:// (xdg-mime).")
        return Availability(True, f"КриптоАРМ ГОСТ ({handler})")

    def certificates(self) -> list[CertificateInfo]:
        return []

    def open_link(self, url: str) -> None:
        if not url.startswith("cryptoarm://"):
            raise BackendError("Сервер прислал не ссылку cryptoarm://.")
        self.children = [c for c in self.children if c.poll() is None]
        try:
            if self.link_opener:
                cmd = [*shlex.split(self.link_opener), url]
            elif sys.platform == "win32":
                os.startfile(url)
                return
            elif sys.platform == "darwin":
                cmd = ["open", url]
            else:
                cmd = ["xdg-open", url]
            self.children.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
        except OSError as exc:
            raise BackendError(f"Не удалось открыть ссылку КриптоАРМ: {exc}") from exc
