"""Documentation stays in step with the code: every config key is commented, every command is in README."""

from __future__ import annotations

import argparse
import re
import tomllib
import typing
from pathlib import Path

import msgspec
import pytest

from agent.cli import build_parser as agent_parser
from agent.config import AgentSettings
from server.cli import build_parser
from server.config import Settings
from tests.support.server import REPO


def struct_keys(cls: type[msgspec.Struct]) -> set[str]:
    keys = set()
    for section, section_type in typing.get_type_hints(cls).items():
        for key in typing.get_type_hints(section_type):
            keys.add(f"{section}.{key}")
    return keys


def documented_keys(path: Path) -> dict[str, bool]:
    """Each key in the TOML file, and whether a comment line stands right above it (or above its group)."""
    result: dict[str, bool] = {}
    section = ""
    comment_seen = False
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section, comment_seen = stripped.strip("[]"), False
        elif stripped.startswith("#"):
            comment_seen = True
        elif not stripped:
            comment_seen = False
        elif "=" in stripped:
            key = stripped.split("=", 1)[0].strip()
            result[f"{section}.{key}"] = comment_seen
    return result


@pytest.mark.parametrize(("path", "cls"), [("config/klikdok.toml", Settings), ("config/agent.toml", AgentSettings)])
def test_every_config_key_is_present_and_commented(path: str, cls: type[msgspec.Struct]) -> None:
    documented = documented_keys(REPO / path)
    assert set(documented) == struct_keys(cls)
    undocumented = [k for k, ok in documented.items() if not ok]
    assert undocumented == []
    tomllib.loads((REPO / path).read_text())  # and it parses


def subcommands(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    names = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}"
                nested = subcommands(sub, full)
                names.extend(nested or [full])
    return names


def test_every_cli_command_is_in_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = subcommands(build_parser(), "klikdok") + subcommands(agent_parser(), "klikdok-agent")
    missing = [c for c in commands if not re.search(rf"`{re.escape(c)}\b", readme)]
    assert missing == []


def test_every_command_has_help() -> None:
    for parser in (build_parser(), agent_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    assert sub.description, name


def test_readme_has_exactly_the_two_setup_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
