"""`sav config`: the effective configuration, each value with where it came from, secrets
masked. The values are `Settings` (loaded by `sav.config`, the only reader of the
environment); this module only names each setting's variable and renders the table."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sav.config import Settings

MASK = "****"
# Settings whose variable does not follow the rule (FIELD or SAV_FIELD, upper case).
VARIABLES = {"data_dir": "SAV_DATA_DIR"}
NOT_VARIABLES = {"extra"}
_SECRET_WORDS = ("password", "secret", "master_key", "token")
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@]*):[^@/]*@")


@dataclass(frozen=True)
class Row:
    variable: str
    value: str
    source: str  # "environment" or "default"


def variable_of(name: str) -> str:
    """The environment variable of the setting `name` (a `Settings` field): the spec's
    names as they are (`APP_PORT`, `DB_HOST`, `AUTO_ASSIGN`), ours with `SAV_`
    (`SAV_COMMAND_THREADS`). A unit test checks that `load_settings` reads each one."""
    if name in VARIABLES:
        return VARIABLES[name]
    upper = name.upper()
    if upper.startswith(_SPEC_PREFIXES) or upper in _SPEC_NAMES:
        return upper
    return f"SAV_{upper}"


# The spec's variables carry no SAV_ prefix; the ones SAV added do.
_SPEC_PREFIXES = ("APP_", "DB_", "MINIO_", "RABBITMQ_", "AUTH_")
_SPEC_NAMES = {"TICKET_NUMBER_PREFIX", "AUTO_CLOSE_RESOLVED_DAYS", "ESCALATION_TIMEOUT_HOURS",
               "MAX_ATTACHMENT_SIZE_MB", "AUTO_ASSIGN", "REDIS_URL"}


def is_secret(name: str) -> bool:
    return any(word in name for word in _SECRET_WORDS) or name.endswith("_key")


def shown(name: str, value: Any) -> str:
    if value is None or value == "" or value == ():
        return ""
    if is_secret(name):
        return MASK
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return _URL_PASSWORD.sub(rf"\1:{MASK}@", text) if "://" in text else text


def effective(settings: Settings, environ: Mapping[str, str]) -> list[Row]:
    rows = []
    for field in dataclasses.fields(settings):
        if field.name in NOT_VARIABLES:
            continue
        variable = variable_of(field.name)
        source = "environment" if variable in environ else "default"
        rows.append(Row(variable, shown(field.name, getattr(settings, field.name)), source))
    return sorted(rows, key=lambda row: row.variable)


def render(settings: Settings, environ: Mapping[str, str]) -> str:
    rows = effective(settings, environ)
    width = max(len(row.variable) for row in rows)
    values = max(len(row.value) for row in rows)
    lines = [f"{row.variable:<{width}}  {row.value or '(empty)':<{values}}  {row.source}"
             for row in rows]
    if settings.auth_mode == "jwt" and not settings.auth_jwt_secret:
        secret = (Path(settings.data_dir) / "jwt_secret").resolve()
        state = "exists" if secret.exists() else "created on first use"
        lines.append(f"# AUTH_JWT_SECRET is unset: tokens are signed with {secret} ({state}); "
                     "every `sav` command must see the same SAV_DATA_DIR")
    return "\n".join(lines)
