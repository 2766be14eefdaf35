"""The one place that reads the environment.

Every other module receives a `Settings` object; nothing reads `os.environ` itself.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus

# Durations beyond this are typos (in days it would overflow a timedelta further on).
MAX_DURATION = 87_600.0 * 3600


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on", "y"}:
        return True
    if lowered in {"0", "false", "no", "off", "n", ""}:
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _float(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number > MAX_DURATION:
        raise ConfigError(f"{name} must be a finite number up to {MAX_DURATION:g}, "
                          f"got {value!r}")
    if number < 0:
        raise ConfigError(f"{name} must be >= 0, got {value!r}")
    return number


def _int(name: str, value: str, low: int = 0, high: int = 2**31) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value!r}")
    return number


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    lowered = value.strip().lower()
    if lowered not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(v for v in allowed if v)}, "
                          f"got {value!r}")
    return lowered


def _origins(name: str, value: str) -> tuple[str, ...]:
    """Comma-separated browser origins (`https://shop.example.com`) or `*`."""
    origins = tuple(filter(None, (part.strip().rstrip("/") for part in value.split(","))))
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", origin):
            raise ConfigError(f"{name} must list origins like https://shop.example.com "
                              f"(scheme, host, optional port) or *, got {origin!r}")
    return origins


def _networks(name: str, value: str) -> tuple[str, ...]:
    """Comma-separated addresses or CIDR blocks (`10.0.0.0/8, 127.0.0.1`)."""
    networks = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(f"{name} must list IP addresses or CIDR blocks, "
                              f"got {item!r}") from None
    return tuple(networks)


@dataclass(frozen=True)
class Settings:
    app_name: str = "sav-service"
    app_env: str = "local"
    app_port: int = 8007
    db_connection: str = "sqlite"
    db_host: str = "127.0.0.1"
    db_port: int = 3306
    db_database: str = "sav_db"
    db_username: str = "root"
    db_password: str = ""
    data_dir: Path = Path("./var")
    minio_endpoint: str | None = None
    minio_access_key: str = ""
    minio_secret_key: str = ""
    minio_bucket: str = "sav"
    minio_region: str = "us-east-1"
    rabbitmq_host: str | None = None
    rabbitmq_port: int = 5672
    rabbitmq_user: str = "guest"
    rabbitmq_password: str = "guest"
    rabbitmq_vhost: str = "/"
    rabbitmq_exchange: str = "sav_exchange"
    rabbitmq_queue: str = "sav_queue"
    auth_mode: str = "jwt"
    auth_service_url: str = "http://auth-service:8000"
    auth_jwt_secret: str = ""
    ticket_number_prefix: str = "TICKET"
    auto_close_resolved_days: float = 7.0
    escalation_timeout_hours: float = 2.0
    max_attachment_size_mb: float = 10.0
    auto_assign: bool = False
    inprocess_workers: bool = True
    public_rate_limit: int = 30
    public_rate_window_seconds: float = 60.0
    command_threads: int = 8
    read_your_writes_timeout: float = 5.0
    worker_lease_ttl: float = 10.0
    public_base_url: str = ""
    # OPS-B: worker health port (0: off), projector stall threshold, shared rate limit.
    worker_health_host: str = "127.0.0.1"
    worker_health_port: int = 8008
    projection_stall_seconds: float = 30.0
    trusted_proxies: tuple[str, ...] = ()
    redis_url: str = ""
    # HTTP: browser origins allowed by CORS (none: no CORS headers), JSON body limit.
    cors_origins: tuple[str, ...] = ()
    max_json_body: int = 1024 * 1024
    # PRIVACY: key-encryption key (base64, 32 bytes) and the data keys' own database
    # (SAV_KEYS_DB_*; unset: the event store's own database).
    master_key: str = ""
    keys_db_connection: str = ""
    keys_db_host: str = "127.0.0.1"
    keys_db_port: int = 3306
    keys_db_database: str = ""
    keys_db_username: str = "root"
    keys_db_password: str = ""
    # OPS-A: JWT `iss`/`aud` checks (empty: not checked); the S3 endpoint clients reach
    # for presigned URLs (empty: MINIO_ENDPOINT).
    auth_jwt_issuer: str = ""
    auth_jwt_audience: str = ""
    minio_public_endpoint: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_mysql(self) -> bool:
        return self.db_connection == "mysql"

    @property
    def database_url(self) -> str:
        """Sync SQLAlchemy URL of the event store and read models."""
        if self.is_mysql:
            user = quote_plus(self.db_username)
            password = quote_plus(self.db_password)
            return (
                f"mysql+pymysql://{user}:{password}@{self.db_host}:{self.db_port}/"
                f"{self.db_database}?charset=utf8mb4"
            )
        return f"sqlite:///{(self.data_dir / 'sav.sqlite3').resolve()}"

    @property
    def async_database_url(self) -> str:
        """Async SQLAlchemy URL used by API queries."""
        if self.is_mysql:
            return self.database_url.replace("mysql+pymysql://", "mysql+aiomysql://", 1)
        return self.database_url.replace("sqlite:///", "sqlite+aiosqlite:///", 1)

    @property
    def max_attachment_bytes(self) -> int:
        return int(self.max_attachment_size_mb * 1024 * 1024)

    def jwt_secret(self) -> str:
        """The HS256 secret: configured, or generated once into SAV_DATA_DIR (embedded)."""
        if self.auth_jwt_secret:
            return self.auth_jwt_secret
        path = self.data_dir / "jwt_secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip()

    @property
    def keys_database_url(self) -> str:
        """Sync URL of the data keys' database (issue 12)."""
        if self.keys_db_connection == "mysql":
            user, password = quote_plus(self.keys_db_username), quote_plus(self.keys_db_password)
            return (f"mysql+pymysql://{user}:{password}@{self.keys_db_host}:{self.keys_db_port}/"
                    f"{self.keys_db_database or 'sav_keys'}?charset=utf8mb4")
        if self.keys_db_connection == "sqlite":
            path = Path(self.keys_db_database or self.data_dir / "keys.sqlite3")
            return f"sqlite:///{path.resolve()}"
        return self.database_url

    def privacy_master_key(self) -> str:
        """SAV_MASTER_KEY, or one generated once into SAV_DATA_DIR (never in production)."""
        if self.master_key:
            return self.master_key
        if self.app_env == "production":
            raise ConfigError("SAV_MASTER_KEY is required when APP_ENV=production")
        path = self.data_dir / "master_key"
        if not path.exists():
            import base64
            import logging

            logging.getLogger("sav.privacy").warning(
                "SAV_MASTER_KEY is not set: generated one into %s (set it in production)", path)
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip()

    def signing_secret(self) -> bytes:
        """Secret for local download URLs and cursors, derived from the JWT secret."""
        return ("sav-signing:" + self.jwt_secret()).encode()


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build `Settings` from environment variables (default `os.environ`)."""
    env = dict(os.environ if env is None else env)

    def get(name: str, default: str = "") -> str:
        return env.get(name, default)

    db_connection = get("DB_CONNECTION", "sqlite").lower()
    if db_connection not in {"sqlite", "mysql"}:
        raise ConfigError(f"DB_CONNECTION must be sqlite or mysql, got {db_connection!r}")
    auth_mode = get("AUTH_MODE", "jwt").lower()
    if auth_mode not in {"jwt", "remote"}:
        raise ConfigError(f"AUTH_MODE must be jwt or remote, got {auth_mode!r}")
    try:
        values: dict[str, object] = dict(
            app_name=get("APP_NAME", "sav-service"),
            app_env=get("APP_ENV", "local"),
            app_port=_int("APP_PORT", get("APP_PORT", "8007"), 1, 65535),
            db_connection=db_connection,
            db_host=get("DB_HOST", "127.0.0.1"),
            db_port=_int("DB_PORT", get("DB_PORT", "3306"), 1, 65535),
            db_database=get("DB_DATABASE", "sav_db"),
            db_username=get("DB_USERNAME", "root"),
            db_password=get("DB_PASSWORD", ""),
            data_dir=Path(get("SAV_DATA_DIR", "./var")),
            minio_endpoint=get("MINIO_ENDPOINT") or None,
            minio_access_key=get("MINIO_ACCESS_KEY"),
            minio_secret_key=get("MINIO_SECRET_KEY"),
            minio_bucket=get("MINIO_BUCKET", "sav"),
            minio_region=get("MINIO_REGION", "us-east-1"),
            rabbitmq_host=get("RABBITMQ_HOST") or None,
            rabbitmq_port=_int("RABBITMQ_PORT", get("RABBITMQ_PORT", "5672"), 1, 65535),
            rabbitmq_user=get("RABBITMQ_USER", "guest"),
            rabbitmq_password=get("RABBITMQ_PASSWORD", "guest"),
            rabbitmq_vhost=get("RABBITMQ_VHOST", "/"),
            rabbitmq_exchange=get("RABBITMQ_EXCHANGE", "sav_exchange"),
            rabbitmq_queue=get("RABBITMQ_QUEUE", "sav_queue"),
            auth_mode=auth_mode,
            auth_service_url=get("AUTH_SERVICE_URL", "http://auth-service:8000").rstrip("/"),
            auth_jwt_secret=get("AUTH_JWT_SECRET"),
            ticket_number_prefix=get("TICKET_NUMBER_PREFIX", "TICKET"),
            auto_close_resolved_days=_float(
                "AUTO_CLOSE_RESOLVED_DAYS", get("AUTO_CLOSE_RESOLVED_DAYS", "7")
            ),
            escalation_timeout_hours=_float(
                "ESCALATION_TIMEOUT_HOURS", get("ESCALATION_TIMEOUT_HOURS", "2")
            ),
            max_attachment_size_mb=_float(
                "MAX_ATTACHMENT_SIZE_MB", get("MAX_ATTACHMENT_SIZE_MB", "10")
            ),
            auto_assign=_bool("AUTO_ASSIGN", get("AUTO_ASSIGN", "false")),
            inprocess_workers=_bool("SAV_INPROCESS_WORKERS", get("SAV_INPROCESS_WORKERS", "true")),
            public_rate_limit=_int("SAV_PUBLIC_RATE_LIMIT", get("SAV_PUBLIC_RATE_LIMIT", "30")),
            public_rate_window_seconds=_float(
                "SAV_PUBLIC_RATE_WINDOW_SECONDS", get("SAV_PUBLIC_RATE_WINDOW_SECONDS", "60")
            ),
            command_threads=_int("SAV_COMMAND_THREADS", get("SAV_COMMAND_THREADS", "8"), 1, 256),
            read_your_writes_timeout=_float(
                "SAV_READ_YOUR_WRITES_TIMEOUT", get("SAV_READ_YOUR_WRITES_TIMEOUT", "5")
            ),
            public_base_url=get("SAV_PUBLIC_BASE_URL").rstrip("/"),
            worker_lease_ttl=_float("SAV_WORKER_LEASE_TTL", get("SAV_WORKER_LEASE_TTL", "10")),
            worker_health_host=get("SAV_WORKER_HEALTH_HOST", "127.0.0.1"),
            worker_health_port=_int("SAV_WORKER_HEALTH_PORT",
                                    get("SAV_WORKER_HEALTH_PORT", "8008"), 0, 65535),
            projection_stall_seconds=_float("SAV_PROJECTION_STALL_SECONDS",
                                            get("SAV_PROJECTION_STALL_SECONDS", "30")),
            trusted_proxies=_networks("SAV_TRUSTED_PROXIES", get("SAV_TRUSTED_PROXIES")),
            redis_url=get("REDIS_URL"),
            cors_origins=_origins("SAV_CORS_ORIGINS", get("SAV_CORS_ORIGINS")),
            max_json_body=_int("SAV_MAX_JSON_BODY", get("SAV_MAX_JSON_BODY", "1048576"),
                               1024, 64 * 1024 * 1024),
            master_key=get("SAV_MASTER_KEY"),
            keys_db_connection=_choice("SAV_KEYS_DB_CONNECTION", get("SAV_KEYS_DB_CONNECTION"),
                                       ("", "sqlite", "mysql")),
            keys_db_host=get("SAV_KEYS_DB_HOST", "127.0.0.1"),
            keys_db_port=_int("SAV_KEYS_DB_PORT", get("SAV_KEYS_DB_PORT", "3306"), 1, 65535),
            keys_db_database=get("SAV_KEYS_DB_DATABASE"),
            keys_db_username=get("SAV_KEYS_DB_USERNAME", "root"),
            keys_db_password=get("SAV_KEYS_DB_PASSWORD"),
            auth_jwt_issuer=get("AUTH_JWT_ISSUER"),
            auth_jwt_audience=get("AUTH_JWT_AUDIENCE"),
            minio_public_endpoint=get("MINIO_PUBLIC_ENDPOINT").rstrip("/") or None,
        )
    except ValueError as error:
        raise ConfigError(str(error)) from None
    values.update(overrides)
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.app_env == "production":
        problems = production_problems(settings)
        if problems:
            raise ConfigError("APP_ENV=production refuses development settings: "
                              + "; ".join(problems))
    return settings


MIN_SECRET_BYTES = 32
PLACEHOLDER = "change_me"


def production_problems(settings: Settings) -> list[str]:
    """Every setting that only suits development, each message starting with the
    variable's name (APP_ENV=production refuses to start on any of them)."""
    problems = []

    def weak(value: str) -> bool:
        return not value or PLACEHOLDER in value.lower()

    secret = settings.auth_jwt_secret
    if weak(secret) or len(secret.encode()) < MIN_SECRET_BYTES:
        problems.append(f"AUTH_JWT_SECRET must be set to a random value of at least "
                        f"{MIN_SECRET_BYTES} bytes (each replica would generate its own)")
    if not settings.is_mysql:
        problems.append("DB_CONNECTION=sqlite is the embedded single-host profile; "
                        "use mysql")
    elif weak(settings.db_password):
        problems.append("DB_PASSWORD is empty or a placeholder")
    if not settings.minio_endpoint:
        problems.append("MINIO_ENDPOINT is unset: attachments would stay on one host's disk")
    else:
        for name, value in (("MINIO_ACCESS_KEY", settings.minio_access_key),
                            ("MINIO_SECRET_KEY", settings.minio_secret_key)):
            if weak(value):
                problems.append(f"{name} is empty or a placeholder")
    if not settings.rabbitmq_host:
        problems.append("RABBITMQ_HOST is unset: events would never be published")
    elif weak(settings.rabbitmq_password) or settings.rabbitmq_password == "guest":
        problems.append("RABBITMQ_PASSWORD is the guest default, empty or a placeholder")
    if weak(settings.master_key):
        problems.append("SAV_MASTER_KEY must be set (each replica would generate its own "
                        "key-encryption key)")
    return problems
