"""A backing service that goes away under a request is a 503, never a 500 (invariant: no
500 on what a client or a failing dependency causes). The Galera node-loss test
(`tests/e2e/test_galera.py`) once saw a 500 from such an error; these are the driver's
and the pool's own exceptions, as the API's error handler receives them."""

from __future__ import annotations

import pymysql
import pytest
from eventsourcing.persistence import ConnectionUnavailableError
from eventsourcing.persistence import InternalError as StoreInternalError
from eventsourcing.persistence import ProgrammingError as StoreProgrammingError
from sqlalchemy import exc as sa_exc

from sav.api.errors import dependency_down
from sav.eventstore.errors import persistence_error


def wrapped(error: Exception, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError.instance("COMMIT", None, error, pymysql.err.Error,
                                      connection_invalidated=invalidated)


@pytest.mark.parametrize("error", [
    # The MySQL driver, a server killed mid-answer.
    wrapped(pymysql.err.InternalError("Packet sequence number wrong - got 1 expected 2")),
    wrapped(pymysql.err.OperationalError(2013, "Lost connection to MySQL server")),
    # Any driver error SQLAlchemy saw invalidate its connection.
    wrapped(pymysql.err.Error("Already closed"), invalidated=True),
    # Every pooled connection busy while a node stalls.
    sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
    # The same, after the recorders' translation into the library's errors.
    persistence_error(wrapped(pymysql.err.InternalError("Packet sequence number wrong"))),
    persistence_error(sa_exc.TimeoutError("QueuePool limit reached")),
    ConnectionUnavailableError("pool"),
    ConnectionResetError(104, "Connection reset by peer"),
], ids=lambda error: type(error).__name__)
def test_a_dependency_that_went_away_is_a_503(error: Exception) -> None:
    assert dependency_down(error)


@pytest.mark.parametrize("error", [
    wrapped(pymysql.err.ProgrammingError(1064, "You have an error in your SQL syntax")),
    wrapped(pymysql.err.IntegrityError(1062, "Duplicate entry")),
    StoreProgrammingError("syntax"),
    KeyError("a bug"),
], ids=lambda error: type(error).__name__)
def test_a_fault_of_sav_is_still_a_500(error: Exception) -> None:
    assert not dependency_down(error)


def test_the_translated_internal_error_is_the_librarys() -> None:
    error = persistence_error(wrapped(pymysql.err.InternalError("Packet sequence number")))
    assert isinstance(error, StoreInternalError)


def test_a_transaction_whose_connection_was_lost_is_a_dependency_error() -> None:
    """A statement after the connection was invalidated mid-transaction (a Galera node
    killed under a create) is SQLAlchemy's PendingRollbackError: the store's
    OperationalError, a 503, not a 500."""
    lost = sa_exc.PendingRollbackError(
        "Can't reconnect until invalid transaction is rolled back.  Please rollback() fully "
        "before proceeding")
    assert dependency_down(persistence_error(lost))
    assert not dependency_down(persistence_error(sa_exc.PendingRollbackError(
        "This Session's transaction has been rolled back due to a previous exception")))
