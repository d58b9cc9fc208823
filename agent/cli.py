"""The ``klikdok-agent`` command (the signing agent on a signer's PC)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from agent.config import ConfigError, default_config_path, load_agent_settings


def cmd_status(args: argparse.Namespace) -> int:
    path = Path(args.config) if args.config else default_config_path()
    settings = load_agent_settings(path)
    print(f"Конфигурация: {path}{'' if path.exists() else ' (нет файла, значения по умолчанию)'}")
    print(f"Сервер:       {settings.server.url or '— не сопряжён (klikdok-agent pair URL CODE)'}")
    print(f"Способ подписи: {settings.backend.kind}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="klikdok-agent",
                                     description="Агент подписи KlikDok: подписывает документы на ПК подписанта.")
    parser.add_argument("--config", metavar="PATH", help="agent.toml (default: the user config directory)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("status", help="Show the configuration and pairing state.",
                       description="Show the configuration and pairing state.")
    p.set_defaults(func=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"klikdok-agent: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
