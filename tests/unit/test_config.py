"""`load_settings`: the one place that reads the environment (given here as a dict)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from sav.config import ConfigError, Settings, declared, generated_secret, load_settings


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


# The runtime contract's variable names (the spec's, then SAV's own); renaming one breaks
# every deployment.
CONTRACT = (
    "APP_PORT", "DB_CONNECTION", "DB_HOST", "DB_PORT", "DB_DATABASE", "DB_USERNAME",
    "DB_PASSWORD", "MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_BUCKET",
    "MINIO_REGION", "RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_USER", "RABBITMQ_PASSWORD",
    "RABBITMQ_VHOST", "AUTH_SERVICE_URL", "AUTH_MODE", "AUTH_JWT_SECRET",
    "TICKET_NUMBER_PREFIX", "AUTO_CLOSE_RESOLVED_DAYS", "ESCALATION_TIMEOUT_HOURS",
    "MAX_ATTACHMENT_SIZE_MB", "SAV_DATA_DIR", "SAV_INPROCESS_WORKERS", "SAV_MASTER_KEY",
)


def test_each_setting_is_declared_once_with_a_contract_name() -> None:
    variables = [row.variable for row in declared()]
    assert len(variables) == len(set(variables))
    assert set(CONTRACT) <= set(variables)
    for row in declared():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", row.variable), row.variable
        assert row.description, f"{row.variable} has no description"


def test_the_secrets_are_the_credentials() -> None:
    assert {row.variable for row in declared() if row.secret} == {
        "DB_PASSWORD", "AUTH_JWT_SECRET", "SAV_MASTER_KEY", "SAV_KEYS_DB_PASSWORD",
        "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "RABBITMQ_PASSWORD", "SMTP_PASSWORD",
        "SAV_INBOUND_EMAIL_TOKEN"}


def test_a_secret_stays_out_of_the_settings_repr() -> None:
    settings = load_settings({"DB_PASSWORD": "hunter2", "AUTH_JWT_SECRET": "s3cret-value"})
    assert "hunter2" not in repr(settings) and "s3cret-value" not in repr(settings)
    assert "db_host='127.0.0.1'" in repr(settings)


def test_the_declared_defaults_are_what_an_empty_environment_gives() -> None:
    settings = load_settings({})
    assert settings == Settings()
    for row in declared():
        value = getattr(settings, row.name)
        assert value == (Path(str(row.default)) if row.name == "data_dir" else row.default)


def test_variables_that_are_not_settings_are_ignored() -> None:
    assert load_settings({"PATH": "/bin", "app_port": "1", "SAV_NOT_A_SETTING": "x"}) == \
        load_settings({})


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(ValidationError):
        settings.app_port = 1  # type: ignore[misc]
    assert settings.model_copy(update={"app_port": 9001}).app_port == 9001


def test_every_bad_variable_is_named_on_one_line() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"APP_PORT": "x", "DB_CONNECTION": "pg", "SAV_MAX_JSON_BODY": "1"})
    message = str(refused.value)
    assert "\n" not in message
    assert message == ("APP_PORT must be an integer, got 'x'; "
                       "DB_CONNECTION must be sqlite or mysql, got 'pg'; "
                       "SAV_MAX_JSON_BODY must be between 1024 and 67108864, got '1'")


@pytest.mark.parametrize(("override", "message"), [
    ({"app_port": 70000}, "APP_PORT must be between 1 and 65535, got 70000"),
    ({"worker_lease_ttl": -1}, "SAV_WORKER_LEASE_TTL must be >= 0, got -1"),
    ({"app_port": [8007]}, "APP_PORT: Input should be a valid integer, got [8007]"),
])
def test_a_bad_override_names_its_variable(override: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({}, **override)
    assert str(refused.value) == message


@pytest.mark.parametrize(("variable", "raw", "attribute", "value"), [
    ("SAV_CORS_ORIGINS", "https://a.example/, http://b.example:3000", "cors_origins",
     ("https://a.example", "http://b.example:3000")),
    ("SAV_TRUSTED_PROXIES", "10.1.2.3/8, 127.0.0.1", "trusted_proxies",
     ("10.0.0.0/8", "127.0.0.1/32")),
    ("SAV_KEYS_DB_CONNECTION", " MySQL ", "keys_db_connection", "mysql"),
    ("SAV_WORKER_HEALTH_PORT", "0", "worker_health_port", 0),
    ("MINIO_PUBLIC_ENDPOINT", "", "minio_public_endpoint", None),
])
def test_lists_and_choices(variable: str, raw: str, attribute: str, value: object) -> None:
    assert getattr(load_settings({variable: raw}), attribute) == value


def test_the_master_key_is_generated_once_private_and_never_in_production(
        tmp_path: Path) -> None:
    first = load_settings({"SAV_DATA_DIR": str(tmp_path)}).privacy_master_key()
    assert load_settings({"SAV_DATA_DIR": str(tmp_path)}).privacy_master_key() == first
    assert len(base64.b64decode(first)) == 32
    assert (tmp_path / "master_key").stat().st_mode & 0o077 == 0
    production = Settings(app_env="production", data_dir=tmp_path / "other")
    with pytest.raises(ConfigError, match="SAV_MASTER_KEY"):
        production.privacy_master_key()
    assert not (tmp_path / "other").exists()


def test_a_generated_secret_is_written_once(tmp_path: Path) -> None:
    calls = []

    def generate() -> str:
        calls.append(1)
        return f"secret-{len(calls)}\n"

    path = tmp_path / "deep" / "secret"
    assert generated_secret(path, generate) == "secret-1"
    assert generated_secret(path, generate) == "secret-1"
    assert calls == [1] and not path.with_suffix(".tmp").exists()
