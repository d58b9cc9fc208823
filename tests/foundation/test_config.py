"""Configuration: defaults, environment overrides, and one-line errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ConfigError, Settings, load_settings
from tests.support.server import REPO, clean_env, run_cli


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "klikdok.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_equals_the_built_in_defaults() -> None:
    assert load_settings(REPO / "config" / "klikdok.toml", environ={}) == Settings()


def test_environment_overrides_single_keys(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nlisten = "127.0.0.1:9000"\n')
    env = {
        "KLIKDOK_SERVER_LISTEN": "127.0.0.1:9100",
        "KLIKDOK_TRUST_ROOTS": '["/a", "/b"]',
        "KLIKDOK_LIMITS_MAX_UPLOAD_MB": "7",
        "KLIKDOK_TRUST_FETCH_CRLS": "true",
    }
    s = load_settings(path, environ=env)
    assert s.server.port == 9100
    assert s.trust.roots == ["/a", "/b"]
    assert s.limits.max_upload_mb == 7
    assert s.trust.fetch_crls is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server]\nlisten = 8080\n", "server.listen: expected a string, got an integer"),
        ('[server]\nlistne = "x"\n', "server.listne: unknown key"),
        ("[nope]\n", "nope: unknown key"),
        ('[trust]\nroots = "/etc"\n', "trust.roots: expected a list, got a string"),
        ('[portal]\nmode = "soap"\n', "portal.mode: expected one of none, oauth, webhook, got 'soap'"),
        ('[trust]\nrevocation = "ignore"\n', "trust.revocation: expected one of require, warn, got 'ignore'"),
        ("[trust]\ngrace_minutes = -5\n", "trust.grace_minutes: expected a non-negative integer"),
        ("[trust]\ncrl_max_mb = 0\n", "trust: crl_max_mb and crl_cache_hours must be positive"),
        ("[trust]\nfetch_timeout_seconds = 0\n", "trust: fetch_timeout_seconds and refresh_poll_seconds must be"),
        ('[portal]\nmode = "webhook"\n', "portal.webhook_url: required when portal.mode"),
        ('[server]\nlisten = "localhost"\n', "server.listen: expected host:port"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_bad_values_give_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_settings(path, environ={})
    message = str(exc.value)
    assert message.startswith(str(path) + ": ")
    assert expected in message
    assert "\n" not in message


def test_bad_environment_value_is_reported_with_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"limits.max_upload_mb: expected an integer, got a string"):
        load_settings(None, environ={"KLIKDOK_LIMITS_MAX_UPLOAD_MB": "lots"})


@pytest.mark.parametrize("text", ["[server]\nbogus = 1\n", '[storage]\nbusy_timeout_ms = "soon"\n'])
def test_serve_with_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text + '\n[logging]\nlevel = "info"\n')
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = run_cli("--config", str(path), "serve", cwd=workdir, env=clean_env())
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    key = "server.bogus" if "bogus" in text else "storage.busy_timeout_ms"
    assert key in lines[0] and str(path) in lines[0]
    assert list(workdir.iterdir()) == []  # no ./var, no database


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    result = run_cli("--config", str(tmp_path / "absent.toml"), "migrate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"klikdok: {tmp_path / 'absent.toml'}: file not found"


def test_agent_config_errors_name_the_key(tmp_path: Path) -> None:
    from agent.config import AgentSettings, load_agent_settings

    assert load_agent_settings(REPO / "config" / "agent.toml") == AgentSettings()
    bad = tmp_path / "agent.toml"
    bad.write_text('[backend]\nkind = "magic"\n')
    with pytest.raises(ConfigError, match="backend.kind: expected one of cryptoarm, cryptopro, cryptcp, openssl"):
        load_agent_settings(bad)
    bad.write_text('[backend]\nkind = "openssl"\n')
    with pytest.raises(ConfigError, match="backend.certificate, backend.key_file: required"):
        load_agent_settings(bad)


def test_trust_defaults_fetch_and_require_and_the_old_fetch_crls_still_turns_fetching_off(tmp_path: Path) -> None:
    trust = Settings().trust
    assert (trust.revocation, trust.grace_minutes, trust.fetch, trust.network) == ("require", 0, True, True)
    assert trust.crl_cache_hours == 24 and trust.fetch_timeout_seconds > 0 and trust.crl_max_mb > 0
    old = load_settings(write(tmp_path, "[trust]\nfetch_crls = false\n"), environ={})
    assert old.trust.network is False
    new = load_settings(
        write(tmp_path, '[trust]\nfetch = false\nrevocation = "warn"\ngrace_minutes = 15\n'), environ={}
    )
    assert new.trust.network is False and new.trust.revocation == "warn" and new.trust.grace_minutes == 15
