"""Opaque list cursors: they encode a row's global position (its `seq`)."""

from __future__ import annotations

import base64
import binascii

from sav.events.errors import RuleViolationError


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = (cursor + "=" * (-len(cursor) % 4)).encode()
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        if not raw.startswith("s") or not raw[1:].isascii() or not raw[1:].isdigit():
            raise ValueError
        position = int(raw[1:])
        if position >= 2**63:  # beyond any BIGINT position
            raise ValueError
        return position
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise RuleViolationError("invalid cursor", {"field": "cursor"}) from None
