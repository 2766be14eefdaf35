"""APP_ENV=production refuses development settings, naming every offending variable in
one message; JWT `iss`/`aud` are checked when configured."""

from __future__ import annotations

import secrets

import pytest

from sav.api.auth import decode_token, issue_token
from sav.api.errors import ApiError
from sav.config import ConfigError, load_settings, production_problems

STRONG = secrets.token_urlsafe(48)
PRODUCTION = {
    "APP_ENV": "production", "AUTH_JWT_SECRET": STRONG, "SAV_MASTER_KEY": STRONG,
    "DB_CONNECTION": "mysql", "DB_HOST": "db", "DB_PASSWORD": "s3cr3t-db",
    "MINIO_ENDPOINT": "http://minio:9000", "MINIO_ACCESS_KEY": "sav-app",
    "MINIO_SECRET_KEY": "s3cr3t-minio", "RABBITMQ_HOST": "rabbitmq",
    "RABBITMQ_USER": "sav", "RABBITMQ_PASSWORD": "s3cr3t-rabbit", "SAV_CLAMAV_HOST": "clamav",
}


def test_a_complete_production_configuration_starts() -> None:
    settings = load_settings(PRODUCTION)
    assert production_problems(settings) == []


def test_production_with_the_embedded_defaults_names_every_variable_at_once() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"APP_ENV": "production"})
    message = str(refused.value)
    for name in ("AUTH_JWT_SECRET", "DB_CONNECTION", "MINIO_ENDPOINT", "RABBITMQ_HOST",
                 "SAV_MASTER_KEY"):
        assert name in message


@pytest.mark.parametrize(("variable", "value"), [
    ("AUTH_JWT_SECRET", "x" * 31),  # one byte short
    ("AUTH_JWT_SECRET", "CHANGE_ME_jwt_secret_CHANGE_ME_jwt_secret"),  # .env.example's
    ("DB_PASSWORD", ""),
    ("MINIO_SECRET_KEY", "CHANGE_ME_minio_secret_key"),
    ("RABBITMQ_PASSWORD", "guest"),
    ("SAV_MASTER_KEY", ""),
])
def test_production_refuses_a_weak_value(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable) as refused:
        load_settings({**PRODUCTION, variable: value})
    assert str(refused.value).count(";") == 0  # only that one


def test_outside_production_the_same_values_are_accepted() -> None:
    settings = load_settings({"APP_ENV": "local", "AUTH_JWT_SECRET": "short"})
    assert settings.auth_jwt_secret == "short"
    assert any(problem.startswith("AUTH_JWT_SECRET ")
               for problem in production_problems(settings))


def test_issuer_and_audience_are_checked_when_configured() -> None:
    good = issue_token(STRONG, "u1", "customer", issuer="https://auth.example",
                       audience="sav")
    actor = decode_token(good, STRONG, "https://auth.example", "sav")
    assert actor.user_id == "u1"
    for token in (issue_token(STRONG, "u2", "customer", issuer="https://evil.example",
                              audience="sav"),
                  issue_token(STRONG, "u3", "customer", issuer="https://auth.example",
                              audience="other"),
                  issue_token(STRONG, "u4", "customer")):  # neither claim
        with pytest.raises(ApiError) as refused:
            decode_token(token, STRONG, "https://auth.example", "sav")
        assert refused.value.status == 401


def test_jwt_claims_settings_are_read_from_the_environment() -> None:
    settings = load_settings({"AUTH_JWT_ISSUER": "https://auth.example",
                              "AUTH_JWT_AUDIENCE": "sav",
                              "MINIO_PUBLIC_ENDPOINT": "https://files.example.com/"})
    assert (settings.auth_jwt_issuer, settings.auth_jwt_audience) == (
        "https://auth.example", "sav")
    assert settings.minio_public_endpoint == "https://files.example.com"
