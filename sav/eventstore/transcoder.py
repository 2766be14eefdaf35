"""orjson encoding of stored event state (eventsourcing's `Transcoder` interface) and the
mapper that encrypts personal fields on the way into the store (issue 12)."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from eventsourcing.persistence import Cipher, Compressor, Mapper, StoredEvent, Transcoder

from sav.privacy.crypto import open_sealed, seal
from sav.privacy.fields import Path, owner_subject, personal_paths
from sav.privacy.keys import DataKey, KeyStore, stream_subject, user_subject

_TAG, _DATA = "_type_", "_data_"


def _tag(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return {_TAG: "datetime_iso", _DATA: obj.isoformat()}
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _escape(value: Any) -> Any:
    """A user dict that looks like a tag is wrapped, so it decodes back to itself."""
    if isinstance(value, dict) and _TAG in value:
        return {_TAG: "dict", _DATA: value}
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 2 and _TAG in value and _DATA in value:
        kind, data = value[_TAG], value[_DATA]
        if kind == "dict":
            return data
        if kind == "datetime_iso":
            return datetime.fromisoformat(data)
    return value


class OrjsonTranscoder(Transcoder):
    """Datetimes keep their type through a tag; event fields are otherwise plain JSON.

    Only top-level fields are untagged: nested dicts are user data (metadata) and
    must come back exactly as they went in.
    """

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, dict):
            obj = {key: _escape(value) for key, value in obj.items()}
        return orjson.dumps(obj, default=_tag, option=orjson.OPT_PASSTHROUGH_DATETIME)

    def decode(self, data: bytes) -> Any:
        decoded = orjson.loads(data)
        if isinstance(decoded, dict):
            return {key: _untag(value) for key, value in decoded.items()}
        return decoded


class KeysNotInstalledError(RuntimeError):
    """A database-backed store got an event to encrypt before its key store was set."""


class PrivacyMapper(Mapper[Any]):
    """Seals the personal fields of ticket events (`sav.privacy.fields`) with the data
    key of the ticket's subject on the way into the store, and opens them on the way out;
    a field whose key was destroyed reads as erased (None), never as an error.

    Each sealed field is `{"_enc_": key_id, "c": base64(nonce ‖ ciphertext)}`, with the
    stream id and the field's path as associated data: a value copied to another field
    or ticket does not open. Plain values (stores written before issue 12) read as they are.
    """

    def __init__(self, transcoder: Transcoder, compressor: Compressor | None = None,
                 cipher: Cipher | None = None, keys: KeyStore | None = None,
                 require_keys: bool = False) -> None:
        super().__init__(transcoder, compressor, cipher)
        self.keys = keys
        self.require_keys = require_keys
        self.encrypting = True  # off only in scripts/bench/privacy.py, to compare

    def key_store(self) -> KeyStore:
        if self.keys is None:
            if self.require_keys:
                raise KeysNotInstalledError("no key store: build the application through "
                                            "sav.bootstrap (refusing to write plain text)")
            self.keys = KeyStore.in_memory()
        return self.keys

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        paths = personal_paths(type(domain_event))
        if not paths or not self.encrypting:
            return super().to_stored_event(domain_event)
        stream = str(domain_event.originator_id)
        key = self._key_for(domain_event, stream)
        state = dict(vars(domain_event))
        for path, erased in paths.items():
            _replace(state, path, partial(_seal, key, stream, path, erased))
        sealed = object.__new__(type(domain_event))
        object.__setattr__(sealed, "__dict__", state)
        return super().to_stored_event(sealed)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        paths = personal_paths(type(event))
        if paths:
            state = event.__dict__
            stream = str(stored_event.originator_id)
            for path, erased in paths.items():
                _replace(state, path, partial(self._open, stream, path, erased))
        return event

    def _key_for(self, event: Any, stream: str) -> DataKey | None:
        keys = self.key_store()
        owner = owner_subject(event)
        if owner is not None:
            kind, value = owner
            subject = (keys.email_subject(value) if kind == "email"
                       else user_subject(value) if kind == "user" else stream_subject(value))
            # A creation opens its stream (version 1): nothing to look up.
            return keys.assign(stream, subject,
                               new_stream=event.originator_version == 1)
        return keys.stream_key(stream) or keys.assign(stream, stream_subject(stream))

    def _open(self, stream: str, path: Path, erased: Any, value: Any) -> Any:
        if not (isinstance(value, dict) and value.keys() == {"_enc_", "c"}):
            return value  # plain (written before issue 12, or None)
        key = self.key_store().key(value["_enc_"])
        if key.cipher is None:
            return copy.copy(erased)
        plain = open_sealed(key.cipher, base64.b64decode(value["c"]), _aad(stream, path))
        return orjson.loads(plain)


def _aad(stream: str, path: Path) -> bytes:
    return f"{stream}|{'.'.join(path)}".encode()


def _seal(key: DataKey | None, stream: str, path: Path, erased: Any, value: Any) -> Any:
    if value is None or value == erased:
        return value
    if key is None or key.cipher is None:
        return copy.copy(erased)  # the ticket's subject was erased: nothing is kept
    sealed = seal(key.cipher, orjson.dumps(value), _aad(stream, path))
    return {"_enc_": key.key_id, "c": base64.b64encode(sealed).decode()}


def _replace(state: dict[str, Any], path: Path, change: Callable[[Any], Any]) -> None:
    """Apply `change` to the value at `path`, copying the dicts on the way (events are
    immutable: the domain event's own dicts must not change)."""
    head, *rest = path
    if head not in state:
        return
    if not rest:
        state[head] = change(state[head])
        return
    inner = state[head]
    if isinstance(inner, dict) and rest[0] in inner:
        state[head] = dict(inner)
        _replace(state[head], tuple(rest), change)
