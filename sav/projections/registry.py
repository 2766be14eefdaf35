"""The read models the projector maintains. Add a module here to project it.

Each module defines `HANDLERS` (every event class -> its handler, or None when it
ignores that event) and may define `create_extras(conn)` / `drop_extras(conn)` for
objects `create_all` can't make (full-text indexes).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from sav.projections import agents, attachments, messages, metrics, ticket_stats, tickets
from sav.projections.schema import Handlers

READ_MODELS: tuple[ModuleType, ...] = (
    tickets, messages, attachments, agents, metrics, ticket_stats)


def handler_tables() -> list[Handlers]:
    return [module.HANDLERS for module in READ_MODELS]


def schema_hooks() -> list[Callable[[Any], None]]:
    return [m.create_extras for m in READ_MODELS if hasattr(m, "create_extras")]


def drop_hooks() -> list[Callable[[Any], None]]:
    return [m.drop_extras for m in READ_MODELS if hasattr(m, "drop_extras")]
