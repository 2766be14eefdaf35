"""The read models the projector maintains. Add a module here to project it.

Each module defines `HANDLERS: dict[str, Handler]` (event qualname -> handler) and may
define `create_extras(conn)` / `drop_extras(conn)` for objects `create_all` can't make
(full-text indexes).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from sav.projections.schema import Handler

READ_MODEL_MODULES = [
    "sav.projections.tickets",
    "sav.projections.messages",
    "sav.projections.attachments",
    "sav.projections.agents",
    "sav.projections.metrics",
]


def load() -> list[ModuleType]:
    return [importlib.import_module(name) for name in READ_MODEL_MODULES]


def handler_tables() -> list[dict[str, Handler]]:
    return [module.HANDLERS for module in load()]


def schema_hooks() -> list[Callable[[Any], None]]:
    return [m.create_extras for m in load() if hasattr(m, "create_extras")]


def drop_hooks() -> list[Callable[[Any], None]]:
    return [m.drop_extras for m in load() if hasattr(m, "drop_extras")]
