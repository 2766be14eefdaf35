"""The recorders' error boundary: SQLAlchemy's errors leave as eventsourcing's.

Callers of a persistence module (the library's `Application`, `ProjectionRunner`,
SAV's commands) catch `eventsourcing.persistence` exceptions only, whatever the backend.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from eventsourcing.persistence import (
    ConnectionUnavailableError,
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
)
from sqlalchemy import exc as sa_exc

P = ParamSpec("P")
# The server rolled the whole transaction back: an InnoDB deadlock, or on a Galera
# cluster a certification conflict or a brute-force abort by a replicated write.
DEADLOCK = 1213
SAVEPOINT_GONE = 1305


class TransactionAbortedError(OperationalError):
    """Nothing of the transaction was stored and running it again may well succeed
    (`command_handler` retries the whole command)."""

R = TypeVar("R")

# Most specific first: they all derive from sa_exc.DatabaseError (PEP 249's tree).
_DBAPI_ERRORS: tuple[tuple[type[sa_exc.DBAPIError], type[PersistenceError]], ...] = (
    (sa_exc.IntegrityError, IntegrityError),
    (sa_exc.DataError, DataError),
    (sa_exc.OperationalError, OperationalError),
    (sa_exc.ProgrammingError, ProgrammingError),
    (sa_exc.InternalError, InternalError),
    (sa_exc.NotSupportedError, NotSupportedError),
    (sa_exc.DatabaseError, DatabaseError),
    (sa_exc.InterfaceError, InterfaceError),
)


def persistence_error(error: sa_exc.SQLAlchemyError) -> PersistenceError:
    """The library's exception for `error`, with the driver's message (engines hide
    SQL parameters, which hold customer data)."""
    if isinstance(error, sa_exc.TimeoutError):
        return ConnectionUnavailableError(str(error))
    if isinstance(error, sa_exc.PendingRollbackError) and "invalid transaction" in str(error):
        # The connection was lost mid-transaction (invalidated): the server went away.
        return OperationalError(str(error))
    message = str(getattr(error, "orig", None) or error)
    if transaction_dropped(error):
        return TransactionAbortedError(message)
    for raised, library_error in _DBAPI_ERRORS:
        if isinstance(error, raised):
            return library_error(message)
    return PersistenceError(message)


def error_code(error: BaseException) -> int | None:
    """The server's error number of a driver error (wrapped by SQLAlchemy or not)."""
    args = getattr(getattr(error, "orig", None) or error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def transaction_dropped(error: BaseException) -> bool:
    """Whether the server rolled the whole transaction back (a deadlock; on Galera a
    brute-force abort), in `error` or what it was raised while handling (a savepoint's
    rollback then fails: 1305, the savepoint went with the transaction)."""
    seen: BaseException | None = error
    while seen is not None:
        if error_code(seen) in (DEADLOCK, SAVEPOINT_GONE):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except sa_exc.SQLAlchemyError as error:
        raise persistence_error(error) from None


def translating(method: Callable[P, R]) -> Callable[P, R]:
    """`translated()` as a decorator: one call more, no generator (reads are hot paths)."""
    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sa_exc.SQLAlchemyError as error:
            raise persistence_error(error) from None
    return call
