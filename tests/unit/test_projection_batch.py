"""The projector's batch: handlers' deferred writes run once, at the batch's end, and
never after an error (the transaction rolls back; nothing may leak into the next)."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, create_engine

from sav.projections import batch


def _collect(conn: Connection, flushed: list[list[int]]) -> list[int]:
    opened = batch.current(conn)
    assert opened is not None
    return opened.state("test", list, lambda _conn, state: flushed.append(list(state)))


def test_state_is_made_once_and_flushed_once_at_the_end() -> None:
    flushed: list[list[int]] = []
    with create_engine("sqlite://").connect() as conn:
        assert batch.current(conn) is None
        with batch.batch(conn):
            for n in range(3):
                _collect(conn, flushed).append(n)
            assert flushed == []
        assert flushed == [[0, 1, 2]]
        assert batch.current(conn) is None


def test_an_error_drops_the_batch_without_flushing() -> None:
    flushed: list[list[int]] = []
    with create_engine("sqlite://").connect() as conn:
        with pytest.raises(RuntimeError), batch.batch(conn):
            _collect(conn, flushed).append(1)
            raise RuntimeError
        assert flushed == [] and batch.current(conn) is None
        with batch.batch(conn):
            _collect(conn, flushed).append(2)
        assert flushed == [[2]]
