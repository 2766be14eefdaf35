"""The read models the projector maintains. Add a module here to project it.

Each module defines `HANDLERS` (every event class -> its handler, or None when it
ignores that event; most build theirs from a pure `FOLD`, see `sav.projections.fold`),
may name the read models whose rows its handlers read in `DEPENDS_ON` (they run first,
in the same transaction), and may define `create_extras(conn)` / `drop_extras(conn)`
for objects `create_all` can't make (full-text indexes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from sav.projections import (
    agents,
    attachments,
    links,
    macro_uses,
    messages,
    metrics,
    ticket_stats,
    tickets,
)
from sav.projections.schema import Handlers
from sav.webhooks import subscriptions


def name_of(module: ModuleType) -> str:
    return module.__name__.rpartition(".")[2]


def in_dependency_order(modules: Sequence[ModuleType]) -> tuple[ModuleType, ...]:
    """`modules` with each one after those it depends on, otherwise in the given order."""
    placed: list[ModuleType] = []
    waiting = list(modules)
    known = {name_of(module) for module in modules}
    while waiting:
        done = {name_of(module) for module in placed}
        ready = next((m for m in waiting if set(getattr(m, "DEPENDS_ON", ())) <= done), None)
        if ready is None:
            unmet = {name_of(m): sorted(set(getattr(m, "DEPENDS_ON", ())) - done)
                     for m in waiting}
            missing = sorted({d for deps in unmet.values() for d in deps} - known)
            raise ValueError(f"read model dependencies cannot be met: {unmet}"
                             + (f" (unknown: {missing})" if missing else ""))
        placed.append(ready)
        waiting.remove(ready)
    return tuple(placed)


# Fed by events, in the order their handlers run for each event.
READ_MODELS: tuple[ModuleType, ...] = in_dependency_order(
    (tickets, messages, attachments, agents, ticket_stats, subscriptions, macro_uses,
     links))
# Read tables computed from other read tables (by the scheduler), not from events.
DERIVED: tuple[ModuleType, ...] = (metrics,)


def handler_tables() -> list[Handlers]:
    return [module.HANDLERS for module in READ_MODELS]


def schema_hooks() -> list[Callable[[Any], None]]:
    return [m.create_extras for m in (*READ_MODELS, *DERIVED) if hasattr(m, "create_extras")]


def drop_hooks() -> list[Callable[[Any], None]]:
    return [m.drop_extras for m in (*READ_MODELS, *DERIVED) if hasattr(m, "drop_extras")]
