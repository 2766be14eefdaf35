"""Backup and restore of the event store: `sav events export --format store` and
`sav events import FILE`.

A backup is JSON lines: first the privacy key store's rows (`{"keys": table, "row": …}`;
the data keys are wrapped by SAV_MASTER_KEY, which is not in the file: restore with the
same master key), then every stored record in position order, `{"position",
"originator_id", "originator_version", "topic", "state"}` with the stored bytes in
base64 (the format of tests/fixtures/store-v1.jsonl). It is the store itself, not the
feed: the feed's envelope (`GET /events/export`) leaves out what is never published
(the public access token's hash) and maps several event classes to one routing key, so
it cannot be turned back into events. Payloads go out as stored (personal data stays
encrypted; an erased subject's key is a tombstone in the file too); still, keep a
backup like the database.

An import first reads the whole file (the positions must run 1, 2, 3, … with no gap),
or its events up to `--until POSITION` (a restore to a point in the log: the events after
it are left out, the key rows are all kept — a subject erased later stays erased),
refuses a store that has any event, then loads the keys and the events (one
transaction), rebuilds the read model (`sav replay`'s code), sets the ticket-number
counters past every restored number and the publisher's position to the head
(downstream services saw these events already; `sav worker publisher --from 0`
publishes them again if wanted).
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, LargeBinary, Table, func, select

from sav.eventstore.db import write_transaction
from sav.eventstore.load_data import insert_rows
from sav.eventstore.schema import event_sequence, snapshots, stored_events
from sav.eventstore.tracking import set_position

BATCH = 1000
RESTORE_CACHE_KIB = 512 * 1024  # SQLite's page cache while the key rows load
RECORD_KEYS = ("position", "originator_id", "originator_version", "topic", "state")
RECORD_COLUMNS = ("notification_id", "originator_id", "originator_version", "topic", "state")
_NUMBER = re.compile(r"-(\d{8})-(\d+)$")


class RestoreError(ValueError):
    """The file cannot be restored (format, gap, non-empty store); nothing was written."""


@dataclass(frozen=True)
class Restored:
    events: int
    position: int


def _key_tables() -> list[Table]:
    from sav.privacy.keys import keys_metadata

    return list(keys_metadata.sorted_tables)


def _binary(table: Table) -> set[str]:
    return {str(c.name) for c in table.columns if isinstance(c.type, LargeBinary)}


def export_backup(engine: Engine, keys_engine: Engine, after: int = 0) -> Iterator[bytes]:
    """The key store's rows, then the stored records after `after`, as JSON lines."""
    with keys_engine.connect() as conn:
        for table in _key_tables():
            binary = _binary(table)
            for row in conn.execute(select(table)):
                values = {str(c.name): row._mapping[c] for c in table.columns}
                for name in binary:
                    if values[name] is not None:
                        values[name] = base64.b64encode(values[name]).decode()
                yield orjson.dumps({"keys": str(table.name), "row": values}) + b"\n"
    yield from export_records(engine, after)


def export_records(engine: Engine, after: int = 0, batch: int = BATCH) -> Iterator[bytes]:
    """The store's records after `after`, as JSON lines, in position order."""
    c = stored_events.c
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(c.notification_id, c.originator_id, c.originator_version, c.topic,
                       c.state).where(c.notification_id > after)
                .order_by(c.notification_id).limit(batch)).all()
        if not rows:
            return
        yield b"".join(orjson.dumps({
            "position": row.notification_id, "originator_id": row.originator_id,
            "originator_version": row.originator_version, "topic": row.topic,
            "state": base64.b64encode(row.state).decode()}) + b"\n" for row in rows)
        after = rows[-1].notification_id


def _json(line_number: int, line: bytes) -> dict[str, Any]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise RestoreError(f"line {line_number}: not JSON") from None
    if not isinstance(record, dict):
        raise RestoreError(f"line {line_number}: not a JSON object")
    return record


@functools.cache
def _key_table_shapes() -> dict[str, tuple[Table, frozenset[str], frozenset[str]]]:
    """Each key table by name, with its columns and its binary columns."""
    return {str(table.name): (table, frozenset(table.c.keys()), frozenset(_binary(table)))
            for table in _key_tables()}


def _key_row(line_number: int, record: dict[str, Any]) -> tuple[Table, dict[str, Any]]:
    shape, row = _key_table_shapes().get(record["keys"]), record.get("row")
    if shape is None or not isinstance(row, dict) or set(row) != shape[1]:
        raise RestoreError(f"line {line_number}: not a row of the key store")
    table, binary = shape[0], shape[2]
    try:
        return table, {k: (base64.b64decode(v, validate=True)
                           if k in binary and v is not None else v)
                       for k, v in row.items()}
    except (binascii.Error, TypeError, ValueError):
        raise RestoreError(f"line {line_number}: a binary value is not base64") from None


def _parse(line_number: int, record: dict[str, Any]) -> dict[str, Any]:
    if "message_id" in record and "event" in record:
        raise RestoreError(
            f"line {line_number}: this is the feed export (GET /events/export, `sav events "
            "export`), which leaves out secrets and merges event classes, so it cannot be "
            "restored; back up with `sav events export --format store`")
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        raise RestoreError(f"line {line_number}: missing {', '.join(missing)}")
    position, version = record["position"], record["originator_version"]
    if type(position) is not int or type(version) is not int or version < 1:
        raise RestoreError(f"line {line_number}: position and originator_version must be "
                           "positive integers")
    if not isinstance(record["originator_id"], str) or not isinstance(record["topic"], str) \
            or not 0 < len(record["originator_id"]) <= 64 or not 0 < len(record["topic"]) <= 255:
        raise RestoreError(f"line {line_number}: bad originator_id or topic")
    try:
        state = base64.b64decode(record["state"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise RestoreError(f"line {line_number}: state is not base64") from None
    return {"notification_id": position, "originator_id": record["originator_id"],
            "originator_version": version, "topic": record["topic"], "state": state}


@dataclass
class Backup:
    """A backup file read through once: its key rows, and how many events it holds."""

    path: Path
    keys: list[tuple[Table, dict[str, Any]]]
    events: int
    until: int | None = None  # the last position restored (None: every event)

    def batches(self, batch: int = BATCH) -> Iterator[list[dict[str, Any]]]:
        rows: list[dict[str, Any]] = []
        expected = 1
        with self.path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                if self.until is not None and expected > self.until:
                    break
                record = _json(number, line)
                if "keys" in record:
                    if expected > 1:
                        raise RestoreError(f"line {number}: key rows come before the events")
                    continue
                row = _parse(number, record)
                if row["notification_id"] != expected:
                    raise RestoreError(
                        f"line {number}: position {row['notification_id']} where {expected} "
                        "was expected: a restore needs every position from 1 on, with no gap")
                expected += 1
                rows.append(row)
                if len(rows) >= batch:
                    yield rows
                    rows = []
        if rows:
            yield rows


def read_backup(path: Path, until: int | None = None) -> Backup:
    """Check the whole file (or its events up to position `until`) before anything is
    written (format, contiguous positions)."""
    if until is not None and until < 1:
        raise RestoreError("--until must be a position of 1 or more")
    keys: list[tuple[Table, dict[str, Any]]] = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                record = _json(number, line)
                if "keys" not in record:
                    break
                keys.append(_key_row(number, record))
    backup = Backup(path, keys, 0, until)
    backup.events = sum(len(rows) for rows in backup.batches())
    if backup.events == 0:
        raise RestoreError("the file holds no event")
    if until is not None and backup.events < until:
        raise RestoreError(f"--until {until}: the file ends at position {backup.events}")
    return backup


def _is_empty(conn: Connection) -> bool:
    last = conn.execute(select(event_sequence.c.last_id).where(
        event_sequence.c.name == "events").with_for_update()).scalar()
    events = conn.execute(select(func.count()).select_from(stored_events)).scalar_one()
    kept = conn.execute(select(func.count()).select_from(snapshots)).scalar_one()
    return not last and not events and not kept


NOT_EMPTY = ("the event store is not empty: a restore goes into a fresh database (set "
             "DB_DATABASE / SAV_DATA_DIR to a new one)")


def check_empty(engine: Engine) -> None:
    with engine.connect() as conn:
        if not _is_empty(conn):
            raise RestoreError(NOT_EMPTY)


def check_master_key(master_key: str, backup: Backup) -> None:
    """The master key must open the backup's key store (checked before anything is
    written: a wrong key would restore events nobody can read)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from sav.privacy.crypto import open_sealed, parse_master_key
    from sav.privacy.keys import CHECK_TEXT

    for table, row in backup.keys:
        if table.name == "privacy_meta" and row.get("name") == "check":
            try:
                open_sealed(AESGCM(parse_master_key(master_key)), row["value"], CHECK_TEXT)
            except Exception:
                raise RestoreError("SAV_MASTER_KEY does not open the backup's key store: "
                                   "restore with the master key it was written with") from None


def load_keys(keys_engine: Engine, backup: Backup) -> None:
    """The key store's rows, into a key store that holds no data key yet (its check
    value, made by a first start on this database, is replaced by the backup's)."""
    from sav.eventstore.db import schema_lock
    from sav.privacy.keys import keys_metadata, privacy_keys

    with schema_lock(keys_engine) as conn:
        keys_metadata.create_all(conn)
    with write_transaction(keys_engine) as conn:
        if conn.execute(select(func.count()).select_from(privacy_keys)).scalar_one():
            raise RestoreError("the key store already holds data keys: restore into fresh "
                               "databases (SAV_KEYS_DB_* too)")
        for table in reversed(_key_tables()):
            conn.execute(table.delete())
        # A table's rows in one executemany (a store holds a stream row per ticket:
        # a million single inserts took minutes). Their indexes are on random ids: on
        # SQLite, a page cache that holds them (a restore is a process of its own).
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA cache_size=-{RESTORE_CACHE_KIB}")
        for table, rows in itertools.groupby(backup.keys, key=lambda pair: pair[0]):
            conn.execute(table.insert(), [row for _, row in rows])


def load_records(engine: Engine, backup: Backup,
                 progress: Callable[[int], object] | None = None) -> Restored:
    """Load the backup's events into the empty store, all or nothing (one transaction
    that holds the append lock, so no command can append meanwhile)."""
    total = 0
    with write_transaction(engine) as conn:
        if not _is_empty(conn):
            raise RestoreError(NOT_EMPTY)
        for rows in backup.batches():
            # Plain tuples through the driver's executemany: SQLAlchemy's per-row
            # parameter handling was most of the load.
            insert_rows(conn, stored_events.name, RECORD_COLUMNS,
                        [tuple(row[name] for name in RECORD_COLUMNS) for row in rows])
            total += len(rows)
            if progress is not None:
                progress(len(rows))
        conn.execute(event_sequence.update().where(event_sequence.c.name == "events")
                     .values(last_id=total))
    return Restored(events=total, position=total)


def restore_counters(engine: Engine) -> int:
    """Set each day's ticket-number counter to the highest restored number of that day,
    so a new ticket never repeats one; returns the number of days set."""
    from sav.commands.numbers import ticket_number_counters
    from sav.projections.tickets import support_tickets

    last: dict[str, int] = {}
    with engine.connect() as conn:
        for (number,) in conn.execute(select(support_tickets.c.ticket_number)):
            found = _NUMBER.search(number)
            if found:
                day, sequence = found.group(1), int(found.group(2))
                last[day] = max(last.get(day, 0), sequence)
    with write_transaction(engine) as conn:
        for day, sequence in last.items():
            moved = conn.execute(ticket_number_counters.update().where(
                ticket_number_counters.c.day == day,
                ticket_number_counters.c.last < sequence).values(last=sequence))
            if moved.rowcount == 0 and conn.execute(select(ticket_number_counters.c.day).where(
                    ticket_number_counters.c.day == day)).first() is None:
                conn.execute(ticket_number_counters.insert().values(day=day, last=sequence))
    return len(last)


def mark_published(engine: Engine, position: int) -> None:
    from sav.workers.publisher import TRACKING_NAME

    set_position(engine, TRACKING_NAME, position)
