"""`load_settings`: the one place that reads the environment (given here as a dict)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sav.config import ConfigError, load_settings


def test_defaults_are_the_embedded_profile() -> None:
    settings = load_settings({})
    assert (settings.app_port, settings.db_connection, settings.is_mysql) == (8007, "sqlite", False)
    assert (settings.minio_endpoint, settings.rabbitmq_host) == (None, None)
    assert (settings.auth_mode, settings.ticket_number_prefix) == ("jwt", "TICKET")
    assert (settings.auto_close_resolved_days, settings.escalation_timeout_hours) == (7.0, 2.0)
    assert (settings.max_attachment_size_mb, settings.auto_assign) == (10.0, False)
    assert settings.inprocess_workers is True
    assert settings.rabbitmq_exchange == "sav_exchange" and settings.rabbitmq_queue == "sav_queue"


@pytest.mark.parametrize(("env", "attribute", "value"), [
    ({"APP_PORT": "9000"}, "app_port", 9000),
    ({"DB_CONNECTION": "MySQL"}, "db_connection", "mysql"),
    ({"DB_PORT": "3307"}, "db_port", 3307),
    ({"AUTH_MODE": "Remote"}, "auth_mode", "remote"),
    ({"AUTH_SERVICE_URL": "http://auth:8000/"}, "auth_service_url", "http://auth:8000"),
    ({"TICKET_NUMBER_PREFIX": "SAV"}, "ticket_number_prefix", "SAV"),
    ({"AUTO_CLOSE_RESOLVED_DAYS": "0"}, "auto_close_resolved_days", 0.0),
    ({"AUTO_CLOSE_RESOLVED_DAYS": "0.5"}, "auto_close_resolved_days", 0.5),
    ({"ESCALATION_TIMEOUT_HOURS": "1.25"}, "escalation_timeout_hours", 1.25),
    ({"MAX_ATTACHMENT_SIZE_MB": "2"}, "max_attachment_size_mb", 2.0),
    ({"MINIO_ENDPOINT": ""}, "minio_endpoint", None),
    ({"RABBITMQ_HOST": "rabbit"}, "rabbitmq_host", "rabbit"),
    ({"SAV_DATA_DIR": "/srv/sav"}, "data_dir", Path("/srv/sav")),
    ({"SAV_PUBLIC_BASE_URL": "https://sav.example/"}, "public_base_url", "https://sav.example"),
])
def test_each_variable_is_read(env: dict[str, str], attribute: str, value: object) -> None:
    assert getattr(load_settings(env), attribute) == value


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", True), ("true", True), ("YES", True), (" on ", True), ("y", True),
    ("0", False), ("false", False), ("No", False), ("off", False), ("", False),
])
def test_booleans(raw: str, expected: bool) -> None:
    assert load_settings({"AUTO_ASSIGN": raw}).auto_assign is expected
    assert load_settings({"SAV_INPROCESS_WORKERS": raw}).inprocess_workers is expected


@pytest.mark.parametrize("env", [
    {"DB_CONNECTION": "postgres"},
    {"AUTH_MODE": "oauth"},
    {"APP_PORT": "eighty"},
    {"DB_PORT": "3306.5"},
    {"RABBITMQ_PORT": ""},
    {"AUTO_ASSIGN": "perhaps"},
    {"SAV_INPROCESS_WORKERS": "2"},
    {"AUTO_CLOSE_RESOLVED_DAYS": "-1"},
    {"AUTO_CLOSE_RESOLVED_DAYS": "a week"},
    {"ESCALATION_TIMEOUT_HOURS": "-0.5"},
    {"MAX_ATTACHMENT_SIZE_MB": "ten"},
    {"SAV_PUBLIC_RATE_LIMIT": "many"},
    {"SAV_COMMAND_THREADS": "x"},
    {"SAV_READ_YOUR_WRITES_TIMEOUT": "-3"},
    {"SAV_WORKER_LEASE_TTL": "soon"},
])
def test_a_bad_value_is_a_config_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings(env)


@pytest.mark.parametrize(("name", "raw"), [
    ("DB_CONNECTION", "postgres"), ("AUTH_MODE", "oauth"),
    ("APP_PORT", "70000"), ("SAV_COMMAND_THREADS", "0"), ("SAV_PUBLIC_RATE_LIMIT", "-1"),
    ("AUTO_CLOSE_RESOLVED_DAYS", "-1"), ("ESCALATION_TIMEOUT_HOURS", "x"),
    ("MAX_ATTACHMENT_SIZE_MB", "-2"), ("SAV_WORKER_LEASE_TTL", "soon"),
    ("APP_PORT", "eighty"),
    ("DB_PORT", "x"),
    ("AUTO_ASSIGN", "perhaps"),
    ("SAV_INPROCESS_WORKERS", "2"),
])
def test_a_config_error_names_its_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: raw})


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_mysql_url_quotes_credentials() -> None:
    settings = load_settings({"DB_CONNECTION": "mysql", "DB_HOST": "db", "DB_PORT": "3307",
                              "DB_DATABASE": "sav", "DB_USERNAME": "u@x", "DB_PASSWORD": "p/w:?"})
    assert settings.database_url == "mysql+pymysql://u%40x:p%2Fw%3A%3F@db:3307/sav?charset=utf8mb4"
    assert settings.async_database_url.startswith("mysql+aiomysql://u%40x:p%2Fw%3A%3F@db:3307/")


def test_sqlite_url_lives_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"SAV_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{(tmp_path / 'sav.sqlite3').resolve()}"
    assert settings.async_database_url.startswith("sqlite+aiosqlite:///")


@pytest.mark.parametrize(("megabytes", "expected"), [("10", 10 * 1024 * 1024), ("0.5", 524288)])
def test_max_attachment_bytes(megabytes: str, expected: int) -> None:
    assert load_settings({"MAX_ATTACHMENT_SIZE_MB": megabytes}).max_attachment_bytes == expected


def test_a_configured_jwt_secret_is_used_as_is(tmp_path: Path) -> None:
    settings = load_settings({"SAV_DATA_DIR": str(tmp_path), "AUTH_JWT_SECRET": "s" * 40})
    assert settings.jwt_secret() == "s" * 40
    assert not (tmp_path / "jwt_secret").exists()


def test_the_embedded_jwt_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    first = load_settings({"SAV_DATA_DIR": str(data_dir)}).jwt_secret()
    again = load_settings({"SAV_DATA_DIR": str(data_dir)}).jwt_secret()
    assert first == again and len(first) >= 32
    assert (data_dir / "jwt_secret").stat().st_mode & 0o077 == 0


def test_the_signing_secret_is_derived_from_the_jwt_secret(tmp_path: Path) -> None:
    one = load_settings({"SAV_DATA_DIR": str(tmp_path), "AUTH_JWT_SECRET": "a" * 40})
    two = load_settings({"SAV_DATA_DIR": str(tmp_path), "AUTH_JWT_SECRET": "b" * 40})
    assert one.signing_secret() != two.signing_secret()
    assert one.jwt_secret().encode() != one.signing_secret()


def test_overrides_win_over_the_environment() -> None:
    assert load_settings({"APP_PORT": "9000"}, app_port=9100).app_port == 9100


@pytest.mark.parametrize("raw", ["nan", "inf", "1e400", "1e12"])
def test_a_non_finite_duration_is_a_config_error(raw: str) -> None:
    with pytest.raises(ConfigError):
        load_settings({"AUTO_CLOSE_RESOLVED_DAYS": raw})
