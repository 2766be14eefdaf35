"""The `sav` command line explains itself (issue 13): help on every option, `--version`,
`sav config` (effective values, where they came from, secrets masked), configuration
errors that name the variable, and `sav token` saying when it creates a secret."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sav import __version__
from sav.cli.config_report import MASK, effective
from sav.cli.main import build_parser, main
from sav.config import ConfigError, Settings, declared, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets: no SAV/DB/... variable of the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("SAV_", "DB_", "APP_", "AUTH_", "MINIO_", "RABBITMQ_", "REDIS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SAV_DATA_DIR", str(tmp_path / "data"))


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from parsers(child)


def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{parser.prog} {action.dest}"
        for parser in parsers(build_parser()) for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"sav {__version__}"


def test_config_shows_values_and_sources_with_secrets_masked(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DB_PASSWORD", "hunter2")
    monkeypatch.setenv("AUTH_JWT_SECRET", "s3cret-value")
    monkeypatch.setenv("REDIS_URL", "redis://user:pw-in-url@cache:6379/0")
    monkeypatch.setenv("SAV_COMMAND_THREADS", "4")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    for secret in ("hunter2", "s3cret-value", "pw-in-url"):
        assert secret not in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if not line.startswith("#")}
    assert rows["DB_PASSWORD"] == [MASK, "environment"]
    assert rows["AUTH_JWT_SECRET"] == [MASK, "environment"]
    assert rows["REDIS_URL"] == [f"redis://user:{MASK}@cache:6379/0", "environment"]
    assert rows["SAV_COMMAND_THREADS"] == ["4", "environment"]
    assert rows["APP_PORT"] == ["8007", "default"]
    assert rows["AUTO_ASSIGN"] == ["false", "default"]


def test_config_says_where_an_unset_jwt_secret_lives(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert str((tmp_path / "data" / "jwt_secret").resolve()) in out
    assert not (tmp_path / "data" / "jwt_secret").exists()  # showing creates nothing


# Values every setting accepts one of; the probe below finds each setting's variable.
SAMPLES = ("7", "2048", "true", "false", "mysql", "remote", "https://x.example",
           "10.0.0.0/8", "/tmp/elsewhere", "some-value")


def test_each_setting_is_read_from_the_variable_config_names() -> None:
    defaults = load_settings({})
    for field in declared():
        assert _changes(field.variable, field.name, defaults), (
            f"load_settings does not read {field.variable} into {field.name}")


def _changes(variable: str, field: str, defaults: Settings) -> bool:
    for sample in SAMPLES:
        try:
            value = getattr(load_settings({variable: sample}), field)
        except ConfigError:
            continue
        if value != getattr(defaults, field):
            return True
    return False


def test_masked_rows_are_the_secrets() -> None:
    rows = {row.variable: row for row in effective(
        load_settings({"DB_PASSWORD": "x", "MINIO_SECRET_KEY": "y", "DB_HOST": "db"}),
        {"DB_PASSWORD": "x", "MINIO_SECRET_KEY": "y", "DB_HOST": "db"})}
    assert rows["DB_PASSWORD"].value == rows["MINIO_SECRET_KEY"].value == MASK
    assert (rows["DB_HOST"].value, rows["DB_HOST"].source) == ("db", "environment")


@pytest.mark.parametrize(("variable", "value"), [
    ("APP_PORT", "abc"), ("APP_PORT", "70000"), ("DB_PORT", "x"), ("AUTO_ASSIGN", "perhaps"),
    ("SAV_WORKER_LEASE_TTL", "nan"), ("MAX_ATTACHMENT_SIZE_MB", "-1"),
    ("SAV_CORS_ORIGINS", "shop.example.com"), ("SAV_MAX_JSON_BODY", "1 MiB"),
    ("DB_CONNECTION", "postgres"),
])
def test_a_configuration_error_names_the_variable(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["serve"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("configuration error: ") and variable in error, error


def test_token_warns_once_when_it_creates_the_secret(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--sub", "u1", "--role", "customer"]) == 0
    first = capsys.readouterr()
    secret = (tmp_path / "data" / "jwt_secret").resolve()
    assert first.out.count(".") == 2  # the JWT, alone on stdout
    assert str(secret) in first.err and "SAV_DATA_DIR" in first.err
    assert "AUTH_JWT_SECRET" in first.err
    assert main(["token", "--sub", "u1", "--role", "customer"]) == 0
    assert capsys.readouterr().err == ""  # the same secret: nothing to say
