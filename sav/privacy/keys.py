"""Data keys per data subject, wrapped by the key-encryption key, in their own tables.

A subject is `user:<user_id>`, `email:<keyed hash of the address>` (public tickets until
a user is linked) or `stream:<ticket id>` (a ticket with neither). Each ticket stream is
mapped to the keys its events were encrypted with, newest last. Erasing a subject
destroys its keys and every key of every ticket that used one of them (a public ticket
linked to the user shares the person's e-mail key), keeping a tombstone row so a field
sealed with a destroyed key reads as erased, never as an error.

Keys, and which key is a subject's, are cached in memory for `CACHE_SECONDS`: another
process notices a destroyed key within that time (`erasure_settled` waits for it before
an erasure is reported done); a ticket it opens meanwhile for the subject being erased
may be sealed with the destroyed key, and so reads as erased too.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Double,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    create_engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.pool import StaticPool

from sav.eventstore.db import schema_lock, write_transaction
from sav.eventstore.schema import Identifier
from sav.privacy.crypto import (
    MasterKeyError,
    new_key,
    open_sealed,
    seal,
    unwrap,
    wrap,
)

CACHE_SECONDS = 5.0
# A ticket's current key changes only when it is linked to a user (the old key stays in
# its erasure closure) or erased (then every key of it is destroyed): a mapping may be
# kept longer than the keys themselves.
STREAM_CACHE_SECONDS = 300.0
MAX_CACHED_STREAMS = 100_000
# Misses per second beyond which a key's miss also loads the next keys in creation order.
SCAN_MISSES = 8
CHECK_TEXT = b"sav master key check"

keys_metadata = MetaData()

privacy_meta = Table(
    "privacy_meta", keys_metadata,
    Column("name", String(32), primary_key=True),
    Column("value", LargeBinary, nullable=False),
    mysql_engine="InnoDB",
)
privacy_keys = Table(
    "privacy_keys", keys_metadata,
    Column("key_id", Identifier(36), primary_key=True),
    Column("subject", Identifier(128), nullable=False, index=True),
    Column("wrapped", LargeBinary),  # NULL once erased: the tombstone of a destroyed key
    Column("created_at", Double, nullable=False, index=True),
    Column("erased_at", Double),
    mysql_engine="InnoDB",
)
# The subject's current key (a subject erased has none until it is needed again).
privacy_subjects = Table(
    "privacy_subjects", keys_metadata,
    Column("subject", Identifier(128), primary_key=True),
    Column("key_id", Identifier(36), nullable=False),
    mysql_engine="InnoDB",
)
privacy_streams = Table(
    "privacy_streams", keys_metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("stream_id", Identifier(36), nullable=False, index=True),
    Column("key_id", Identifier(36), nullable=False, index=True),
    UniqueConstraint("stream_id", "key_id", name="uq_privacy_stream_key"),
    mysql_engine="InnoDB",
)


# Statements built once (the hot path: a ticket's creation, a cache miss).
_WRAPPED = select(privacy_keys.c.wrapped, privacy_keys.c.created_at).where(
    privacy_keys.c.key_id == bindparam("key_id"))
_KEYS_AFTER = (select(privacy_keys.c.key_id, privacy_keys.c.wrapped)
               .where(privacy_keys.c.created_at >= bindparam("after"),
                      privacy_keys.c.key_id != bindparam("key_id"))
               .order_by(privacy_keys.c.created_at).limit(256))
_SUBJECT_KEY = select(privacy_subjects.c.key_id).where(
    privacy_subjects.c.subject == bindparam("subject"))
_STREAM_KEY = (select(privacy_streams.c.key_id)
               .where(privacy_streams.c.stream_id == bindparam("stream_id"))
               .order_by(privacy_streams.c.id.desc()).limit(1))
_NEW_KEY = insert(privacy_keys)
_NEW_SUBJECT = (insert(privacy_subjects).prefix_with("OR IGNORE", dialect="sqlite")
                .prefix_with("IGNORE", dialect="mysql").prefix_with("IGNORE", dialect="mariadb"))
# A retried creation (same ticket id) may find its mapping there already.
_NEW_STREAM_KEY = (insert(privacy_streams).prefix_with("OR IGNORE", dialect="sqlite")
                   .prefix_with("IGNORE", dialect="mysql")
                   .prefix_with("IGNORE", dialect="mariadb"))
_DROP_STREAM_KEY = delete(privacy_streams).where(
    privacy_streams.c.stream_id == bindparam("stream_id"),
    privacy_streams.c.key_id == bindparam("key_id"))


@dataclass(frozen=True)
class DataKey:
    key_id: str
    cipher: AESGCM | None  # None: destroyed


@contextmanager
def _one_at_a_time(lock: threading.Lock, engine: Engine) -> Iterator[Connection]:
    with lock, write_transaction(engine) as conn:
        yield conn


def user_subject(user_id: str) -> str:
    return f"user:{user_id}"


def stream_subject(stream_id: str) -> str:
    return f"stream:{stream_id}"


class KeyStore:
    """The key tables on `engine` (the event store's database or SAV_KEYS_DB_*)."""

    def __init__(self, engine: Engine, master_key: bytes) -> None:
        self.engine = engine
        # Where a new key and a ticket's key mapping are written: by default a transaction
        # of their own; in the event store's database, the command's own transaction
        # (`join`), so that they commit with the event that needs them, in one commit.
        self.writer: Callable[[], AbstractContextManager[Connection]] = partial(
            write_transaction, engine)
        # Joined to the event store's transactions: a new stream's key row goes with
        # the events' INSERT (`SqlApplicationRecorder.defer`, issue 21).
        self.defer: Callable[[Any, dict[str, Any]], bool] | None = None
        self.kek = AESGCM(master_key)
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[DataKey, float]] = {}
        self._streams: dict[str, tuple[str | None, float]] = {}
        self._subjects: dict[str, tuple[str, float]] = {}  # subject -> its current key
        self._misses: list[float] = []
        with schema_lock(engine) as conn:
            keys_metadata.create_all(conn)
        self._index_key = self._open_meta()

    @classmethod
    def in_memory(cls) -> KeyStore:
        """The in-memory event store's companion (unit tests): a random master key."""
        engine = create_engine("sqlite://", poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
        store = cls(engine, new_key())
        store.writer = partial(_one_at_a_time, store._lock, engine)  # one shared connection
        return store

    # -- start: the master key must open what is there -----------------------------

    def _open_meta(self) -> bytes:
        """Checks the master key against the store (fails loudly) and returns the key of
        the e-mail index, creating both on a fresh store."""
        with write_transaction(self.engine) as conn:
            rows = dict(conn.execute(select(privacy_meta.c.name, privacy_meta.c.value)).all())
            if "check" in rows:
                try:
                    open_sealed(self.kek, rows["check"], CHECK_TEXT)
                except Exception:
                    raise MasterKeyError(
                        "SAV_MASTER_KEY does not open this key store (it was created with "
                        "another master key): refusing to start") from None
                return unwrap(self.kek, rows["index"], "email-index")
            index_key = new_key()
            conn.execute(insert(privacy_meta), [
                {"name": "check", "value": seal(self.kek, CHECK_TEXT, CHECK_TEXT)},
                {"name": "index", "value": wrap(self.kek, index_key, "email-index")}])
            return index_key

    def email_subject(self, email: str) -> str:
        digest = hmac.new(self._index_key, email.strip().lower().encode(), hashlib.sha256)
        return f"email:{digest.hexdigest()[:48]}"

    # -- reads, cached ---------------------------------------------------------------

    def key(self, key_id: str) -> DataKey:
        now = time.monotonic()
        cached = self._keys.get(key_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        with self.engine.connect() as conn:
            row = conn.execute(_WRAPPED, {"key_id": key_id}).one_or_none()
            if row is None:
                raise MasterKeyError(f"data key {key_id} is not in the key store: is "
                                     "SAV_KEYS_DB_* the store these events were written with?")
            rows = [(key_id, row.wrapped)]
            if self._scanning(now):  # a replay or an export: the next keys, in creation order
                rows += conn.execute(_KEYS_AFTER, {"after": row.created_at,
                                                   "key_id": key_id}).all()
        for found_id, data in rows:
            found = DataKey(found_id, AESGCM(unwrap(self.kek, bytes(data), found_id))
                            if data else None)
            self._keys[found_id] = (found, now + CACHE_SECONDS)
        return self._keys[key_id][0]

    def _scanning(self, now: float) -> bool:
        """Many misses in the last second: someone reads the log in order."""
        recent = [t for t in self._misses if t > now - 1.0][-SCAN_MISSES:]
        self._misses = [*recent, now]
        return len(self._misses) > SCAN_MISSES

    def stream_key(self, stream_id: str) -> DataKey | None:
        """The key a stream's new events are sealed with (None: the stream has none)."""
        now = time.monotonic()
        cached = self._streams.get(stream_id)
        if cached is None or cached[1] <= now:
            with self.engine.connect() as conn:
                key_id = conn.execute(_STREAM_KEY, {"stream_id": stream_id}).scalar()
            if len(self._streams) >= MAX_CACHED_STREAMS:
                self._streams.clear()
            cached = (key_id, now + STREAM_CACHE_SECONDS)
            self._streams[stream_id] = cached
        return self.key(cached[0]) if cached[0] else None

    # -- writes ----------------------------------------------------------------------

    def assign(self, stream_id: str, subject: str, new_stream: bool = False) -> DataKey:
        """Seal `stream_id`'s events from now on with `subject`'s key (made if needed);
        `new_stream`: the stream has no key yet (its creation)."""
        fresh: bytes | None = None
        now = time.monotonic()
        known = self._subjects.get(subject)
        if known is not None and known[1] <= now:
            known = None
        # No process lock here: joined to a command's transaction, the database's own
        # locks order concurrent writers (a lock taken inside theirs could deadlock).
        with self.writer() as conn:
            if known is not None:  # a subject seen lately: its key row is there (issue 21)
                key_id = known[0]
            else:
                # The subject's first key, unless it has one: two first tickets of one
                # subject at once both try, the first row wins (INSERT … IGNORE) and both
                # use its key.
                key_id = str(uuid.uuid4())
                if conn.execute(_NEW_SUBJECT, {"subject": subject, "key_id": key_id}).rowcount:
                    fresh = new_key()
                    conn.execute(_NEW_KEY, {"key_id": key_id, "subject": subject,
                                            "created_at": time.time(),
                                            "wrapped": wrap(self.kek, fresh, key_id)})
                else:
                    key_id = str(conn.execute(_SUBJECT_KEY,
                                              {"subject": subject}).scalar_one())
            if fresh is not None or new_stream:
                row = {"stream_id": stream_id, "key_id": key_id}
                if self.defer is None or not self.defer(_NEW_STREAM_KEY, row):
                    conn.execute(_NEW_STREAM_KEY, row)
            elif conn.execute(_STREAM_KEY, {"stream_id": stream_id}).scalar() != key_id:
                # Back to a key the stream used before: it becomes the newest again.
                conn.execute(_DROP_STREAM_KEY, {"stream_id": stream_id, "key_id": key_id})
                conn.execute(_NEW_STREAM_KEY, {"stream_id": stream_id, "key_id": key_id})
        until = time.monotonic() + CACHE_SECONDS
        # Kept even if a joined transaction then rolls back: the rolled-back events were
        # the only users of the key, and a retry maps the stream again.
        if fresh is not None:
            self._keys[key_id] = (DataKey(key_id, AESGCM(fresh)), until)
        if known is None and fresh is None:  # a fresh key is not known to be committed
            if len(self._subjects) >= MAX_CACHED_STREAMS:
                self._subjects.clear()
            self._subjects[subject] = (key_id, until)
        self._streams[stream_id] = (key_id, time.monotonic() + STREAM_CACHE_SECONDS)
        return self.key(key_id)

    def erase(self, subjects: Iterable[str]) -> list[str]:
        """Destroy the subjects' keys and those of every stream that used one of them;
        returns the ids of those streams (the tickets whose personal data is gone)."""
        with self._lock, write_transaction(self.engine) as conn:
            keys = set(conn.execute(select(privacy_keys.c.key_id).where(
                privacy_keys.c.subject.in_(list(subjects)))).scalars())
            streams: set[str] = set()
            frontier = set(keys)
            while frontier:
                found = set(conn.execute(select(privacy_streams.c.stream_id).where(
                    privacy_streams.c.key_id.in_(frontier))).scalars()) - streams
                streams |= found
                frontier = set(conn.execute(select(privacy_streams.c.key_id).where(
                    privacy_streams.c.stream_id.in_(found))).scalars()) - keys if found else set()
                keys |= frontier
            if keys:
                conn.execute(update(privacy_keys).where(privacy_keys.c.key_id.in_(keys)).values(
                    wrapped=None, erased_at=time.time()))
                conn.execute(delete(privacy_subjects).where(
                    privacy_subjects.c.key_id.in_(keys)))
        for key_id in keys:
            self._keys.pop(key_id, None)
        for subject, (key_id, _) in list(self._subjects.items()):
            if key_id in keys:
                self._subjects.pop(subject, None)
        for stream_id in streams:
            self._streams.pop(stream_id, None)
        return sorted(streams)

    def rewrap(self, new_master_key: bytes) -> int:
        """Wrap every live data key (and the e-mail index key) with a new master key."""
        new_kek = AESGCM(new_master_key)
        with self._lock, write_transaction(self.engine) as conn:
            rows = conn.execute(select(privacy_keys.c.key_id, privacy_keys.c.wrapped).where(
                privacy_keys.c.wrapped.is_not(None))).all()
            for key_id, wrapped in rows:
                conn.execute(update(privacy_keys).where(privacy_keys.c.key_id == key_id).values(
                    wrapped=wrap(new_kek, unwrap(self.kek, bytes(wrapped), key_id), key_id)))
            conn.execute(update(privacy_meta).where(privacy_meta.c.name == "check").values(
                value=seal(new_kek, CHECK_TEXT, CHECK_TEXT)))
            conn.execute(update(privacy_meta).where(privacy_meta.c.name == "index").values(
                value=wrap(new_kek, self._index_key, "email-index")))
        self.kek = new_kek
        self._keys.clear()
        return len(rows)
