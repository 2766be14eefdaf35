"""Building the key store from settings and handing it to the application's mapper."""

from __future__ import annotations

from typing import Any

from sav.config import ConfigError, Settings
from sav.eventstore.db import engine_for
from sav.eventstore.recorder import SqlApplicationRecorder
from sav.eventstore.transcoder import PrivacyMapper
from sav.privacy.crypto import MasterKeyError, parse_master_key
from sav.privacy.keys import KeyStore


def open_key_store(settings: Settings) -> KeyStore:
    """The key store; a malformed master key, or one that does not open the keys already
    stored, stops the process here (it would otherwise write what nobody can read)."""
    try:
        master = parse_master_key(settings.privacy_master_key())
        return KeyStore(engine_for(settings.keys_database_url), master)
    except MasterKeyError as error:
        raise ConfigError(str(error)) from None


def install(app: Any, keys: KeyStore) -> None:
    mapper = app.mapper
    if not isinstance(mapper, PrivacyMapper):
        raise TypeError("the application's mapper does not encrypt personal data")
    recorder = app.recorder
    if isinstance(recorder, SqlApplicationRecorder) and recorder.engine is keys.engine:
        # Keys in the event store's database: written in the command's transaction (one
        # commit; on SQLite another connection could not write while it holds the lock).
        keys.writer = recorder.transaction
        keys.defer = recorder.defer
    mapper.keys = keys
