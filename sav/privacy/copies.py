"""Copies of a ticket's plain data kept outside the event log, which an erasure must
delete (`sav.privacy.erasure.forget_copies`).

The module that owns such a table registers, next to the table's declaration, how to
delete the rows of given tickets (`keeps_copies`): privacy needs to know no table of
theirs. A table that is part of the process's schema is declared, so its cleaner is
registered, before any erasure can run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection

# Deletes, on the connection (the store's database, in the erasure's transaction), every
# row that holds data of one of the tickets.
Cleaner = Callable[[Connection, Sequence[str]], None]
_CLEANERS: dict[str, Cleaner] = {}


def keeps_copies(name: str) -> Callable[[Cleaner], Cleaner]:
    """Registers the decorated cleaner under `name` (the table it clears); registering a
    name again replaces it, so a module imported twice registers once."""
    def register(cleaner: Cleaner) -> Cleaner:
        _CLEANERS[name] = cleaner
        return cleaner
    return register


def cleaners() -> dict[str, Cleaner]:
    return dict(_CLEANERS)


def forget(conn: Connection, ticket_ids: Sequence[str]) -> None:
    """Every registered copy of these tickets, deleted on `conn`."""
    for cleaner in _CLEANERS.values():
        cleaner(conn, ticket_ids)
