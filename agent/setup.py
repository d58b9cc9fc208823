"""``klikdok-agent setup``: choose how to sign and with which certificate, and write ``[backend]`` of agent.toml.

A signer should not have to know TOML keys or thumbprints: the questions are the ones a person can answer
(which program, which of these certificates), and the certificates come from the chosen backend itself, shown
as :mod:`agent.certview` shows them everywhere else. Input and output are passed in, so tests drive it as a
person would and the CLI wires it to the terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from .backends import BackendError, make_backend
from .backends.base import CertificateInfo
from .certview import describe
from .config import AgentSettings, BackendSection, update_config

__all__ = ["SetupCancelled", "run_setup"]

Ask = Callable[[str], str]
Say = Callable[[str], None]


class SetupCancelled(Exception):
    """The person stopped (empty answer, end of input) or nothing usable was found; the message says why."""


@dataclass(frozen=True)
class _Choice:
    kind: str
    title: str
    hint: str


CHOICES: Final = (
    _Choice("cryptoarm", "КриптоАРМ ГОСТ", "документ открывается в КриптоАРМ, сертификат выбирается в его окне"),
    _Choice("cryptopro", "КриптоПро CSP (pycades)", "подпись без окон выбранным сертификатом из хранилища «Личное»"),
    _Choice("cryptcp", "КриптоПро CSP, программа cryptcp", "то же через консольную утилиту КриптоПро"),
    _Choice("openssl", "OpenSSL с ключом в файле", "ключ и сертификат в файлах (PEM или PKCS#12), для Linux"),
)


def _pick(ask: Ask, say: Say, prompt: str, count: int) -> int:
    """A number from 1 to ``count`` (asked again on a wrong answer); an empty answer cancels."""
    while True:
        answer = ask(prompt).strip()
        if not answer:
            raise SetupCancelled("Настройка прервана: ничего не изменено.")
        if answer.isdigit() and 1 <= int(answer) <= count:
            return int(answer) - 1
        say(f"Введите номер от 1 до {count} (или пустую строку, чтобы выйти).")


def _path(ask: Ask, prompt: str, *, required: bool, base: Path) -> str:
    answer = ask(prompt).strip().strip('"')
    if any(ord(ch) < 32 for ch in answer):
        raise SetupCancelled("В пути есть управляющие символы: ничего не изменено.")
    if not answer:
        if required:
            raise SetupCancelled("Путь не указан: ничего не изменено.")
        return ""
    path = Path(answer).expanduser()
    if not path.is_absolute():
        path = (base / path).resolve()
    if not path.is_file():
        raise SetupCancelled(f"Файла {path} нет: ничего не изменено.")
    return str(path)


def _certificates(settings: AgentSettings, section: BackendSection) -> list[CertificateInfo]:
    with make_backend(msgspec.structs.replace(settings, backend=section)) as backend:
        return [c for c in backend.certificates() if c.has_private_key]


def run_setup(config_path: Path, settings: AgentSettings, ask: Ask, say: Say) -> dict[str, str]:
    """Ask, check and write; returns what was written to ``[backend]``."""
    say("Как подписывать документы на этом компьютере?")
    for number, choice in enumerate(CHOICES, 1):
        say(f"  {number}. {choice.title} — {choice.hint}")
    choice = CHOICES[_pick(ask, say, "Номер способа: ", len(CHOICES))]
    values: dict[str, str] = {"kind": choice.kind}
    current = settings.backend
    if choice.kind == "cryptoarm":
        values.update(certificate="", key_file="")
    else:
        if choice.kind == "openssl":
            say("Закрытый ключ: файл PEM или PKCS#12 (.p12, .pfx); файл должен быть доступен только вам.")
            values["key_file"] = _path(ask, "Файл ключа: ", required=True, base=Path.cwd())
            pkcs12 = values["key_file"].lower().endswith((".p12", ".pfx"))
            values["certificate"] = _path(
                ask,
                "Файл сертификата (PEM)" + (", Enter — взять из PKCS#12: " if pkcs12 else ": "),
                required=not pkcs12,
                base=Path.cwd(),
            )
        values["pin_file"] = _path(
            ask,
            "Файл с PIN-кодом или паролем ключа (Enter — без файла, программа спросит сама): ",
            required=False,
            base=Path.cwd(),
        )
        section = BackendSection(
            kind=choice.kind,  # type: ignore[arg-type]  # one of the Literal's words, from CHOICES
            certificate=values.get("certificate", ""),
            key_file=values.get("key_file", ""),
            pin_file=values["pin_file"],
            cryptcp_path=current.cryptcp_path,
            link_opener=current.link_opener,
            timeout_seconds=current.timeout_seconds,
        )
        try:
            certs = _certificates(settings, section)
        except BackendError as exc:
            raise SetupCancelled(f"{choice.title}: {exc} Ничего не изменено.") from None
        if not certs:
            raise SetupCancelled(f"{choice.title}: не найдено ни одного сертификата с закрытым ключом.")
        say("Сертификаты, которыми можно подписывать:")
        for number, cert in enumerate(certs, 1):
            say("\n".join(describe(cert, number)))
        chosen = certs[0] if len(certs) == 1 else certs[_pick(ask, say, "Номер сертификата: ", len(certs))]
        if choice.kind in ("cryptopro", "cryptcp"):
            values["certificate"] = chosen.thumbprint
        say(f"Выбран: {describe(chosen)[0]}")
    update_config(config_path, "backend", values)
    say(f"Записано в {config_path}.")
    if not settings.server.url:
        say("Дальше: klikdok-agent pair АДРЕС КОД — код выдаёт страница «Агент подписи» в приложении KlikDok.")
    else:
        say("Дальше: klikdok-agent status — проверить, затем klikdok-agent run.")
    return values
