"""The ``klikdok-agent`` command (the signing agent on a signer's PC)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from agent.config import AgentSettings, ConfigError, default_config_path, load_agent_settings

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.config) if args.config else default_config_path()


def _settings(args: argparse.Namespace) -> tuple[Path, AgentSettings]:
    path = _config_path(args)
    settings = load_agent_settings(path)
    problem = settings.check()
    if problem:
        raise ConfigError(f"{path}: {problem}")
    return path, settings


# Commands import the backends, the websocket client and the signature code inside the function, so that
# `klikdok-agent --help` and `pair` start without them.


def cmd_status(args: argparse.Namespace) -> int:
    from agent.backends import make_backend
    from agent.device import key_path

    path = _config_path(args)
    settings = load_agent_settings(path)
    print(f"Конфигурация: {path}{'' if path.exists() else ' (нет файла, значения по умолчанию)'}")
    print(f"Сервер:       {settings.server.url or '— не сопряжён (klikdok-agent pair URL CODE)'}")
    if settings.server.url:
        key_file = key_path(settings, path)
        print(
            f"Устройство:   №{settings.server.device_id or '?'}, ключ {key_file}"
            f"{'' if key_file.exists() else ' (файла нет!)'}"
        )
    print(f"Способ подписи: {settings.backend.kind}")
    problem = settings.check()
    if problem:
        print(f"  недоступен: {problem}")
        return EXIT_FAIL
    with make_backend(settings) as backend:
        availability = backend.availability()
    print(f"  {'доступен' if availability.ok else 'недоступен'}: {availability.detail}")
    return EXIT_OK if availability.ok else EXIT_FAIL


def cmd_pair(args: argparse.Namespace) -> int:
    from agent.device import PairingError, key_path, pair, save_pairing, write_key

    path = _config_path(args)
    settings = load_agent_settings(path)
    verify: bool | str = settings.server.ca_file or True
    try:
        agent_id, user_id, key = pair(args.url, args.code, verify=verify)
    except PairingError as exc:
        print(f"klikdok-agent: {exc}", file=sys.stderr)
        return EXIT_FAIL
    save_pairing(path, url=args.url.rstrip("/"), device_id=agent_id)
    write_key(key_path(load_agent_settings(path), path), key)
    print(f"Сопряжено: устройство №{agent_id} подписывает документы пользователя №{user_id}.")
    print(f"Настройки: {path}. Запуск: klikdok-agent run (или systemctl --user enable --now klikdok-agent).")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from agent import logredact
    from agent.backends import make_backend
    from agent.client import run_agent
    from agent.device import key_path, read_key

    path, settings = _settings(args)
    if not settings.server.url:
        raise ConfigError("агент не сопряжён с сервером: выполните klikdok-agent pair URL CODE")
    logredact.configure(settings.logging.level)
    key = read_key(key_path(settings, path))
    backend = make_backend(settings)
    availability = backend.availability()
    if not availability.ok:
        print(
            f"klikdok-agent: способ подписи {settings.backend.kind} недоступен: {availability.detail}", file=sys.stderr
        )
        return EXIT_FAIL
    return run_agent(settings, key, backend)


def cmd_certs(args: argparse.Namespace) -> int:
    from agent.backends import BackendError, make_backend
    from agent.certview import describe

    _, settings = _settings(args)
    with make_backend(settings) as backend:
        if backend.delegated:
            print("Сертификат выбирается в окне КриптоАРМ ГОСТ при подписании.")
            return EXIT_OK
        try:
            certs = backend.certificates()
        except BackendError as exc:
            print(f"klikdok-agent: {exc}", file=sys.stderr)
            return EXIT_FAIL
        if not certs:
            print("Сертификатов не найдено.")
            return EXIT_FAIL
        for number, cert in enumerate(certs, 1):
            print("\n".join(describe(cert, number)))
        return EXIT_OK


def cmd_setup(args: argparse.Namespace) -> int:
    from agent.setup import SetupCancelled, run_setup

    path = _config_path(args)
    settings = load_agent_settings(path)

    def ask(prompt: str) -> str:
        try:
            return input(prompt)
        except EOFError:
            return ""

    try:
        run_setup(path, settings, ask, print)
    except SetupCancelled as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def cmd_sign(args: argparse.Namespace) -> int:
    import asyncio

    from agent.backends import BackendError, make_backend
    from agent.jobs import check_locally
    from cades import hashing

    _, settings = _settings(args)
    source = Path(args.file)
    if not source.is_file():
        print(f"klikdok-agent: нет файла {source}", file=sys.stderr)
        return EXIT_FAIL
    with make_backend(settings) as backend:
        try:
            cms = backend.sign(source)
        except BackendError as exc:
            print(f"klikdok-agent: {exc}", file=sys.stderr)
            return EXIT_FAIL
        problem = asyncio.run(
            asyncio.to_thread(
                check_locally, cms, hashing.hash_file(source, "streebog256"), hashing.hash_file(source, "streebog512")
            )
        )
        if problem:
            print(f"klikdok-agent: подпись не прошла проверку: {problem}", file=sys.stderr)
            return EXIT_FAIL
        out = Path(args.output) if args.output else source.with_name(source.name + ".sig")
        out.write_bytes(cms)
        print(f"Подпись: {out} ({len(cms)} байт, отсоединённая CMS в DER, проверена).")
        return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="klikdok-agent", description="Агент подписи KlikDok: подписывает документы на ПК подписанта."
    )
    parser.add_argument("--config", metavar="PATH", help="agent.toml (default: the user config directory)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser(
        "status",
        help="Show the configuration, pairing state and whether the backend can sign.",
        description="Show the configuration, pairing state and whether the backend can sign.",
    )
    p.set_defaults(func=cmd_status)
    p = sub.add_parser(
        "pair",
        help="Pair with a KlikDok server using the code from the app page.",
        description="Trade the one-time code shown on the KlikDok app page for a device key.",
    )
    p.add_argument("url", metavar="URL", help="the KlikDok server, e.g. https://klikdok.example.ru")
    p.add_argument("code", metavar="CODE", help="the pairing code (valid 10 minutes, one use)")
    p.set_defaults(func=cmd_pair)
    p = sub.add_parser(
        "run",
        help="Connect to the server and sign jobs (foreground; the systemd unit runs this).",
        description="Connect to the server and sign jobs until stopped (SIGTERM stops cleanly).",
    )
    p.set_defaults(func=cmd_run)
    p = sub.add_parser(
        "certs",
        help="List the certificates the configured backend can sign with.",
        description="List the certificates the configured backend can sign with.",
    )
    p.set_defaults(func=cmd_certs)
    p = sub.add_parser(
        "setup",
        help="Choose how to sign and with which certificate (writes [backend] of agent.toml).",
        description="Ask which signing program and which certificate to use, and write them to agent.toml.",
    )
    p.set_defaults(func=cmd_setup)
    p = sub.add_parser(
        "sign",
        help="Sign a local file with the configured backend (to check the setup).",
        description="Sign a local file (detached CMS, verified locally) to check the setup.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", metavar="SIG", help="where to write the signature (default: FILE.sig)")
    p.set_defaults(func=cmd_sign)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"klikdok-agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
