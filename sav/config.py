"""The one place that reads the environment, and the one declaration of every setting.

Each setting is declared once, in `Settings`: its environment variable, type, default,
description, whether it is a secret, and what `APP_ENV=production` refuses. Everything
else is derived from that declaration: `load_settings` (reading and validation, with a
one-line `ConfigError` naming the variable), `sav config` (sav/cli/config_report.py),
`production_problems`, and the README's configuration table (a unit test fails when the
README and `Settings` disagree).

**Adding a setting is a one-place change**: one `setting(...)` line in `Settings`, then
`python -m sav.cli.config_report --update README.md` to regenerate the README table.
Every other module receives a `Settings` object; nothing else reads `os.environ`.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote_plus

from pydantic import BeforeValidator, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Durations beyond this are typos (in days it would overflow a timedelta further on).
MAX_DURATION = 87_600.0 * 3600
MIN_SECRET_BYTES = 32
PLACEHOLDER = "change_me"


class ConfigError(ValueError):
    """A configuration value is missing or malformed (the message names the variable)."""


# --- Parsers: a variable's text to its value -------------------------------------------
# Each raises ValueError with a message that `load_settings` prefixes with the variable's
# name. A value given in Python (the overrides of `load_settings`) skips the parsing but
# not the bounds, then meets pydantic's own type check.

def _from_text(parse: Callable[[str], object]) -> BeforeValidator:
    return BeforeValidator(lambda value: parse(value) if isinstance(value, str) else value)


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on", "y"}:
        return True
    if lowered in {"0", "false", "no", "off", "n", ""}:
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def _number(value: object) -> object:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"must be a number, got {value!r}") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        return value  # pydantic's own type check names what it is
    if not math.isfinite(number) or number > MAX_DURATION:
        raise ValueError(f"must be a finite number up to {MAX_DURATION:g}, got {value!r}")
    if number < 0:
        raise ValueError(f"must be >= 0, got {value!r}")
    return number


def between(low: int, high: int) -> BeforeValidator:
    """An integer from `low` to `high` inclusive (checked on overrides too)."""
    def parse(value: object) -> object:
        number = value
        if isinstance(value, str):
            try:
                number = int(value)
            except ValueError:
                raise ValueError(f"must be an integer, got {value!r}") from None
        if isinstance(number, int) and not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}, got {value!r}")
        return number
    return BeforeValidator(parse)


def one_of(*allowed: str) -> BeforeValidator:
    """One of `allowed`, case-insensitive; "" among them means the variable may be unset."""
    named = " or ".join(choice for choice in allowed if choice)

    def parse(value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in allowed:
            unset = " (or unset)" if "" in allowed else ""
            raise ValueError(f"must be {named}{unset}, got {value!r}")
        return lowered
    return _from_text(parse)


def _origins(value: str) -> tuple[str, ...]:
    """Comma-separated browser origins (`https://shop.example.com`) or `*`."""
    origins = tuple(filter(None, (part.strip().rstrip("/") for part in value.split(","))))
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", origin):
            raise ValueError("must list origins like https://shop.example.com "
                             f"(scheme, host, optional port) or *, got {origin!r}")
    return origins


def _networks(value: str) -> tuple[str, ...]:
    """Comma-separated addresses or CIDR blocks (`10.0.0.0/8, 127.0.0.1`)."""
    networks = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"must list IP addresses or CIDR blocks, got {item!r}") from None
    return tuple(networks)


Flag = Annotated[bool, _from_text(_flag)]
# Seconds, hours, days, megabytes: fractions and 0 allowed.
Amount = Annotated[float, BeforeValidator(_number)]
Port = Annotated[int, between(1, 65535)]
Url = Annotated[str, _from_text(lambda value: value.rstrip("/"))]  # no trailing slash
OptionalHost = Annotated[str | None, _from_text(lambda value: value or None)]
OptionalUrl = Annotated[str | None, _from_text(lambda value: value.rstrip("/") or None)]
Origins = Annotated[tuple[str, ...], _from_text(_origins)]
Networks = Annotated[tuple[str, ...], _from_text(_networks)]


# --- What APP_ENV=production refuses ---------------------------------------------------

@dataclass(frozen=True)
class Refuse:
    """Production refuses the setting when `when(value, settings)` holds; the problem
    reads `<VARIABLE> <must>`."""

    when: Callable[[Any, Settings], bool]
    must: str


def weak(value: str) -> bool:
    return not value or PLACEHOLDER in value.lower()


def setting(variable: str, default: Any, description: str, *, secret: bool = False,
            production: Refuse | None = None) -> Any:
    """Declare one setting: the environment `variable` it is read from, its `default`,
    a one-line `description` (the README's meaning), whether it is a `secret` (masked by
    `sav config`, kept out of the repr) and what `production` refuses."""
    info: FieldInfo = Field(default, validation_alias=variable, description=description,
                            json_schema_extra={"secret": secret}, repr=not secret)
    if production is not None:
        info.metadata.append(production)  # pydantic keeps metadata it does not know
    return info


class Settings(BaseSettings):
    """Every setting, declared once (see the module docstring). Built by `load_settings`;
    `Settings()` alone is the defaults and reads nothing. Frozen: a changed copy is
    `settings.model_copy(update={...})` (not validated again: for tests and `--port`)."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # The service
    app_name: str = setting("APP_NAME", "sav-service", "service name in `/health`")
    app_env: str = setting(
        "APP_ENV", "local", "`production` refuses to start on development settings "
        "(each refusal is listed with its variable)")
    app_port: Port = setting("APP_PORT", 8007, "HTTP port of `sav serve` (`--port` wins)")
    data_dir: Path = setting(
        "SAV_DATA_DIR", "./var",
        "SQLite file, local attachments, generated JWT secret and master key")

    # The event store and read models
    db_connection: Annotated[str, one_of("sqlite", "mysql")] = setting(
        "DB_CONNECTION", "sqlite", "`sqlite` (file in `SAV_DATA_DIR`) or `mysql`",
        production=Refuse(lambda connection, _: connection != "mysql",
                          "must be mysql (sqlite is the embedded single-host profile)"))
    db_host: str = setting("DB_HOST", "127.0.0.1", "MySQL/MariaDB host")
    db_port: Port = setting("DB_PORT", 3306, "MySQL/MariaDB port")
    db_database: str = setting("DB_DATABASE", "sav_db", "database, created if missing")
    db_username: str = setting("DB_USERNAME", "root", "MySQL/MariaDB user")
    db_password: str = setting(
        "DB_PASSWORD", "", "MySQL/MariaDB password", secret=True,
        production=Refuse(lambda password, s: s.is_mysql and weak(password),
                          "must not be empty or a placeholder"))
    db_wsrep_sync_wait: Annotated[int, between(0, 15)] = setting(
        "DB_WSREP_SYNC_WAIT", 0, "Galera: `wsrep_sync_wait` of every session (1: reads wait "
        "until the node applied the cluster's earlier commits; for processes not on the writer)")

    # Authentication
    auth_mode: Annotated[str, one_of("jwt", "remote")] = setting(
        "AUTH_MODE", "jwt", "`jwt` (HS256 with `AUTH_JWT_SECRET`) or `remote` "
        "(`GET {AUTH_SERVICE_URL}/api/auth/me`)")
    auth_service_url: Url = setting(
        "AUTH_SERVICE_URL", "http://auth-service:8000", "auth service for `AUTH_MODE=remote`")
    auth_jwt_secret: str = setting(
        "AUTH_JWT_SECRET", "", "HS256 secret; unset: generated once into "
        "`SAV_DATA_DIR/jwt_secret`", secret=True,
        production=Refuse(
            lambda secret, _: weak(secret) or len(secret.encode()) < MIN_SECRET_BYTES,
            f"must be set to a random value of at least {MIN_SECRET_BYTES} bytes "
            "(each replica would generate its own)"))
    auth_jwt_issuer: str = setting(
        "AUTH_JWT_ISSUER", "", "when set, tokens must carry this `iss`")
    auth_jwt_audience: str = setting(
        "AUTH_JWT_AUDIENCE", "", "when set, tokens must carry this `aud`")

    # Personal data: the key-encryption key and the data keys' own database
    master_key: str = setting(
        "SAV_MASTER_KEY", "", "key-encryption key of personal data (base64, 32 bytes); "
        "unset: generated once into `SAV_DATA_DIR/master_key`", secret=True,
        production=Refuse(lambda key, _: weak(key),
                          "must be set (each replica would generate its own "
                          "key-encryption key)"))
    keys_db_connection: Annotated[str, one_of("", "sqlite", "mysql")] = setting(
        "SAV_KEYS_DB_CONNECTION", "", "database of the data keys: `sqlite`, `mysql`, "
        "or unset for the event store's own database")
    keys_db_host: str = setting("SAV_KEYS_DB_HOST", "127.0.0.1", "data keys' MySQL host")
    keys_db_port: Port = setting("SAV_KEYS_DB_PORT", 3306, "data keys' MySQL port")
    keys_db_database: str = setting(
        "SAV_KEYS_DB_DATABASE", "", "data keys' database (unset: `sav_keys` on MySQL, "
        "`SAV_DATA_DIR/keys.sqlite3` on SQLite)")
    keys_db_username: str = setting("SAV_KEYS_DB_USERNAME", "root", "data keys' MySQL user")
    keys_db_password: str = setting(
        "SAV_KEYS_DB_PASSWORD", "", "data keys' MySQL password", secret=True)

    # Attachments
    minio_endpoint: OptionalHost = setting(
        "MINIO_ENDPOINT", None, "attachments on MinIO/S3; unset: on local disk",
        production=Refuse(lambda endpoint, _: not endpoint,
                          "must be set (attachments would stay on one host's disk)"))
    minio_public_endpoint: OptionalUrl = setting(
        "MINIO_PUBLIC_ENDPOINT", None, "the S3 endpoint clients reach: presigned download "
        "URLs are signed for it (unset: `MINIO_ENDPOINT`)")
    minio_access_key: str = setting(
        "MINIO_ACCESS_KEY", "", "S3 access key", secret=True,
        production=Refuse(lambda key, s: bool(s.minio_endpoint) and weak(key),
                          "must not be empty or a placeholder"))
    minio_secret_key: str = setting(
        "MINIO_SECRET_KEY", "", "S3 secret key", secret=True,
        production=Refuse(lambda key, s: bool(s.minio_endpoint) and weak(key),
                          "must not be empty or a placeholder"))
    minio_bucket: str = setting("MINIO_BUCKET", "sav", "S3 bucket")
    minio_region: str = setting("MINIO_REGION", "us-east-1", "S3 region")
    max_attachment_size_mb: Amount = setting(
        "MAX_ATTACHMENT_SIZE_MB", 10.0, "per-file upload limit")
    clamav_host: OptionalHost = setting(
        "SAV_CLAMAV_HOST", None, "clamd host: every upload is scanned before it is "
        "stored (unset, with no socket: uploads are stored unscanned)",
        production=Refuse(lambda host, s: not host and not s.clamav_socket
                          and not s.clamav_fail_open,
                          "or SAV_CLAMAV_SOCKET must be set, or SAV_CLAMAV_FAIL_OPEN=true "
                          "(uploads would go unscanned)"))
    clamav_port: Port = setting("SAV_CLAMAV_PORT", 3310, "clamd TCP port")
    clamav_socket: OptionalHost = setting(
        "SAV_CLAMAV_SOCKET", None, "clamd Unix socket (wins over `SAV_CLAMAV_HOST`)")
    clamav_timeout: Amount = setting(
        "SAV_CLAMAV_TIMEOUT", 30.0, "seconds a scan may take before the upload gets 503")
    clamav_fail_open: Flag = setting(
        "SAV_CLAMAV_FAIL_OPEN", False, "clamd down or timing out: store uploads unscanned "
        "(`\"scanned\": false`) instead of 503 `scanner_unavailable`")

    # The broker
    rabbitmq_host: OptionalHost = setting(
        "RABBITMQ_HOST", None, "broker host; unset: publishing paused (events wait in "
        "the store)",
        production=Refuse(lambda host, _: not host,
                          "must be set (events would never be published)"))
    rabbitmq_port: Port = setting("RABBITMQ_PORT", 5672, "broker port")
    rabbitmq_user: str = setting("RABBITMQ_USER", "guest", "broker user")
    rabbitmq_password: str = setting(
        "RABBITMQ_PASSWORD", "guest", "broker password", secret=True,
        production=Refuse(
            lambda password, s: bool(s.rabbitmq_host) and (weak(password)
                                                          or password == "guest"),
            "must not be the guest default, empty or a placeholder"))
    rabbitmq_vhost: str = setting("RABBITMQ_VHOST", "/", "broker virtual host")
    rabbitmq_exchange: str = setting("RABBITMQ_EXCHANGE", "sav_exchange", "published exchange")
    rabbitmq_queue: str = setting("RABBITMQ_QUEUE", "sav_queue", "consumed queue")

    # Outbound webhooks (`sav worker webhooks`)
    webhook_allow_private: Flag = setting(
        "SAV_WEBHOOK_ALLOW_PRIVATE", False, "let webhooks target loopback, private and "
        "link-local addresses and `localhost` (tests, internal services)")
    webhook_timeout: Amount = setting(
        "SAV_WEBHOOK_TIMEOUT", 10.0, "seconds an endpoint has to answer a delivery")
    webhook_first_retry_seconds: Amount = setting(
        "SAV_WEBHOOK_FIRST_RETRY_SECONDS", 5.0, "wait before a failed delivery's first "
        "retry (at most this, at least half); each next wait is 4 times longer, up to 8 h")
    webhook_retry_hours: Amount = setting(
        "SAV_WEBHOOK_RETRY_HOURS", 72.0, "how long a delivery is retried before it fails "
        "and its endpoint is disabled")
    webhook_delivery_retention_days: Amount = setting(
        "SAV_WEBHOOK_DELIVERY_RETENTION_DAYS", 30.0, "delivered and failed deliveries older "
        "than this leave the log (the `webhook-deliveries` job; 0: kept forever)")
    webhook_secret_grace_hours: Amount = setting(
        "SAV_WEBHOOK_SECRET_GRACE_HOURS", 24.0, "after a secret rotation, how long "
        "deliveries are signed with the old secret too")

    # The e-mail channel (`sav worker mail`, docs/decisions/0190-email.md)
    mail_address: str = setting(
        "SAV_MAIL_ADDRESS", "support@localhost", "the support address: `From` of SAV's "
        "mail; its `+<ticket>` variants are each ticket's reply address")
    inbound_smtp_host: str = setting(
        "SAV_INBOUND_SMTP_HOST", "127.0.0.1", "address the inbound SMTP listener binds")
    inbound_smtp_port: Annotated[int, between(0, 65535)] = setting(
        "SAV_INBOUND_SMTP_PORT", 0, "inbound SMTP listener's port (0: no listener)")
    inbound_email_token: str = setting(
        "SAV_INBOUND_EMAIL_TOKEN", "", "Bearer token of `POST /inbound/email` (unset: the "
        "route answers 401)", secret=True)
    smtp_host: OptionalHost = setting(
        "SMTP_HOST", None, "outbound relay (unset: outgoing mail waits in its outbox)")
    smtp_port: Port = setting("SMTP_PORT", 587, "outbound relay's port")
    smtp_username: str = setting("SMTP_USERNAME", "", "outbound relay user (unset: no AUTH)")
    smtp_password: str = setting("SMTP_PASSWORD", "", "outbound relay password", secret=True)
    smtp_starttls: Flag = setting("SMTP_STARTTLS", True, "STARTTLS to the outbound relay")

    # Tickets and automations
    ticket_number_prefix: str = setting(
        "TICKET_NUMBER_PREFIX", "TICKET", "ticket numbers `PREFIX-YYYYMMDD-NNN`")
    auto_close_resolved_days: Amount = setting(
        "AUTO_CLOSE_RESOLVED_DAYS", 7.0,
        "resolved tickets idle this long are closed (fractions and 0 allowed)")
    escalation_timeout_hours: Amount = setting(
        "ESCALATION_TIMEOUT_HOURS", 2.0,
        "urgent tickets without first response are escalated after this")
    auto_assign: Flag = setting(
        "AUTO_ASSIGN", False, "assign new tickets to the least-loaded active agent, on "
        "creation and by the every-minute `auto-assign` job (`false` turns both off)")

    # Workers
    inprocess_workers: Flag = setting(
        "SAV_INPROCESS_WORKERS", True, "run projector/publisher/scheduler inside `sav serve`")
    command_threads: Annotated[int, between(1, 256)] = setting(
        "SAV_COMMAND_THREADS", 8, "bounded thread pool for (synchronous) eventsourcing calls")
    idempotency_ttl_hours: Amount = setting(
        "SAV_IDEMPOTENCY_TTL_HOURS", 24.0, "how long an `Idempotency-Key`'s answer is "
        "replayed; the same key later is a new request (the `idempotency-keys` job prunes)")
    read_your_writes_timeout: Amount = setting(
        "SAV_READ_YOUR_WRITES_TIMEOUT", 10.0,
        "seconds a command waits for the read model to show it (longer than a Galera "
        "cluster's 5-6 s write stall when it loses a node)")
    worker_lease_ttl: Amount = setting(
        "SAV_WORKER_LEASE_TTL", 10.0,
        "seconds before a standby worker takes over a dead one's lease")
    worker_health_host: str = setting(
        "SAV_WORKER_HEALTH_HOST", "127.0.0.1", "address of `sav worker`'s `/health` and `/status`")
    worker_health_port: Annotated[int, between(0, 65535)] = setting(
        "SAV_WORKER_HEALTH_PORT", 8008, "port of `sav worker`'s `/health` and `/status` (0: off)")
    projection_stall_seconds: Amount = setting(
        "SAV_PROJECTION_STALL_SECONDS", 30.0,
        "`/health` answers degraded when a projector behind the log has not moved "
        "for this long")

    # HTTP
    public_base_url: Url = setting(
        "SAV_PUBLIC_BASE_URL", "", "base of local-disk download URLs "
        "(unset: `http://127.0.0.1:$APP_PORT`)")
    public_rate_limit: Annotated[int, between(0, 2**31)] = setting(
        "SAV_PUBLIC_RATE_LIMIT", 30, "requests per IP and window on `/public/*` (0: off)")
    public_rate_window_seconds: Amount = setting(
        "SAV_PUBLIC_RATE_WINDOW_SECONDS", 60.0, "window of `SAV_PUBLIC_RATE_LIMIT`")
    trusted_proxies: Networks = setting(
        "SAV_TRUSTED_PROXIES", (), "proxies (addresses or CIDR blocks, comma-separated) "
        "whose `X-Forwarded-For` names the client")
    redis_url: str = setting(
        "REDIS_URL", "", "Redis shared by the replicas for the public rate limit "
        "(unset: the database)")
    cors_origins: Origins = setting(
        "SAV_CORS_ORIGINS", (), "browser origins allowed by CORS, comma-separated "
        "(`https://shop.example.com,http://localhost:3000`) or `*`; unset: no CORS headers")
    max_json_body: Annotated[int, between(1024, 64 * 1024 * 1024)] = setting(
        "SAV_MAX_JSON_BODY", 1024 * 1024, "largest request body (bytes) of every route but "
        "the uploads: 413 before it is read")
    head_timeout_seconds: Amount = setting(
        "SAV_HEAD_TIMEOUT_SECONDS", 10.0, "a request head must arrive within this many "
        "seconds of its first byte, however it trickles in: 408 and closed after (0: off)")
    body_timeout_seconds: Amount = setting(
        "SAV_BODY_TIMEOUT_SECONDS", 120.0, "a request body (uploads included) must arrive "
        "within this many seconds of the head: 408 and closed after (0: off)")
    max_connections_per_client: Annotated[int, between(0, 1_000_000)] = setting(
        "SAV_MAX_CONNECTIONS_PER_CLIENT", 64, "open connections per client address and "
        "server process (trusted proxies exempt); one more is answered 429 and closed (0: off)")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what `load_settings` passes: it reads the variables (of os.environ or of a
        # test's mapping) with `Environment`, so nothing reads os.environ behind it.
        return (init_settings,)

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
                f"{self.db_database}?charset=utf8mb4{self.sync_wait_query}"
            )
        return f"sqlite:///{(self.data_dir / 'sav.sqlite3').resolve()}"

    @property
    def sync_wait_query(self) -> str:
        """The session setting as the driver's `init_command` (PyMySQL and aiomysql)."""
        if not self.db_wsrep_sync_wait:
            return ""
        return "&init_command=" + quote_plus(
            f"SET SESSION wsrep_sync_wait = {self.db_wsrep_sync_wait}")

    @property
    def async_database_url(self) -> str:
        """Async SQLAlchemy URL used by API queries."""
        if self.is_mysql:
            return self.database_url.replace("mysql+pymysql://", "mysql+aiomysql://", 1)
        return self.database_url.replace("sqlite:///", "sqlite+aiosqlite:///", 1)

    @property
    def max_attachment_bytes(self) -> int:
        return int(self.max_attachment_size_mb * 1024 * 1024)

    @property
    def keys_database_url(self) -> str:
        """Sync URL of the data keys' database."""
        if self.keys_db_connection == "mysql":
            user, password = quote_plus(self.keys_db_username), quote_plus(self.keys_db_password)
            return (f"mysql+pymysql://{user}:{password}@{self.keys_db_host}:{self.keys_db_port}/"
                    f"{self.keys_db_database or 'sav_keys'}?charset=utf8mb4")
        if self.keys_db_connection == "sqlite":
            path = Path(self.keys_db_database or self.data_dir / "keys.sqlite3")
            return f"sqlite:///{path.resolve()}"
        return self.database_url

    def jwt_secret(self) -> str:
        """The HS256 secret: configured, or generated once into SAV_DATA_DIR (embedded)."""
        if self.auth_jwt_secret:
            return self.auth_jwt_secret
        return generated_secret(self.data_dir / "jwt_secret",
                                lambda: secrets.token_urlsafe(48))

    def privacy_master_key(self) -> str:
        """SAV_MASTER_KEY, or one generated once into SAV_DATA_DIR (never in production)."""
        if self.master_key:
            return self.master_key
        if self.app_env == "production":
            raise ConfigError("SAV_MASTER_KEY is required when APP_ENV=production")
        return generated_secret(
            self.data_dir / "master_key",
            lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
            warning="SAV_MASTER_KEY is not set: generated one into %s (set it in production)")

    def signing_secret(self) -> bytes:
        """Secret for local download URLs and cursors, derived from the JWT secret."""
        return ("sav-signing:" + self.jwt_secret()).encode()


def generated_secret(path: Path, generate: Callable[[], str], warning: str = "") -> str:
    """The secret kept in `path`, generated on first use: written private (0600) from the
    start and renamed into place, so no reader ever sees a partial file. `warning` (with
    `%s` for the path) is logged when it is generated."""
    if not path.exists():
        if warning:
            logging.getLogger("sav.config").warning(warning, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(generate())
        tmp.replace(path)
    return path.read_text().strip()


# --- The declaration, read back --------------------------------------------------------

@dataclass(frozen=True)
class Declared:
    """One setting as `Settings` declares it."""

    name: str  # the attribute
    variable: str
    default: object
    description: str
    secret: bool
    refusals: tuple[Refuse, ...]


def declared() -> list[Declared]:
    """Every setting, in declaration order."""
    rows = []
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        rows.append(Declared(
            name=name, variable=str(info.validation_alias), default=info.default,
            description=info.description or "", secret=bool(extra.get("secret")),
            refusals=tuple(item for item in info.metadata if isinstance(item, Refuse))))
    return rows


class Environment(PydanticBaseSettingsSource):
    """The settings' variables found in `environ`, as their raw text. pydantic-settings'
    own environment source reads only `os.environ` (tests pass a mapping) and decodes
    lists as JSON (ours are comma-separated), hence this one."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = str(field.validation_alias)
        return self.environ.get(variable), variable, False

    def __call__(self) -> dict[str, Any]:
        values = {}
        for name, info in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(info, name)
            if value is not None:
                values[name] = value
        return values


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build `Settings` from environment variables (default `os.environ`); `overrides`
    (attribute names) win over them."""
    environ = os.environ if env is None else env
    try:
        settings = Settings(**{**Environment(Settings, environ)(), **overrides})
    except ValidationError as error:
        raise _config_error(error) from None
    if settings.app_env == "production":
        problems = production_problems(settings)
        if problems:
            raise ConfigError("APP_ENV=production refuses development settings: "
                              + "; ".join(problems))
    return settings


def _config_error(error: ValidationError) -> ConfigError:
    """One line naming each offending variable."""
    variables = {row.name: row.variable for row in declared()}
    problems = []
    for problem in error.errors():
        where = str(problem["loc"][0]) if problem["loc"] else "configuration"
        variable = variables.get(where, where)
        cause = problem.get("ctx", {}).get("error")
        if isinstance(cause, ValueError):
            problems.append(f"{variable} {cause}")
        else:
            problems.append(f"{variable}: {problem['msg']}, got {problem['input']!r}")
    return ConfigError("; ".join(problems))


def production_problems(settings: Settings) -> list[str]:
    """Every setting that only suits development, each message starting with the
    variable's name (APP_ENV=production refuses to start on any of them)."""
    return [f"{row.variable} {refuse.must}"
            for row in declared() for refuse in row.refusals
            if refuse.when(getattr(settings, row.name), settings)]
