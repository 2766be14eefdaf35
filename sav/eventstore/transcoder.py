"""orjson encoding of stored event state (eventsourcing's `Transcoder` interface)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import Transcoder

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
