"""Opaque list cursors: they round-trip a position and refuse anything else (422)."""

from __future__ import annotations

import base64

import pytest

from sav.events.errors import RuleViolationError
from sav.projections.cursors import decode_cursor, encode_cursor


# 18 digits: the most a cursor holds (positions stay far below)
@pytest.mark.parametrize("position", [0, 1, 42, 10**9, 10**18 - 1])
def test_a_cursor_round_trips_its_position(position: int) -> None:
    cursor = encode_cursor(position)
    assert decode_cursor(cursor) == position
    assert "=" not in cursor


def raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "", "!!!", "not-a-cursor", raw("42"), raw("s"), raw("s-1"), raw("s+1"), raw("s 1"),
    raw("s1.5"), raw("x12"), raw(f"s{2**63}"), raw("s\u0661\u0662"), "gA",
])
def test_a_bad_cursor_is_a_validation_error(cursor: str) -> None:
    with pytest.raises(RuleViolationError) as bad:
        decode_cursor(cursor)
    assert bad.value.details == {"field": "cursor"}


def test_cursors_are_url_safe() -> None:
    cursor = encode_cursor(2**62 + 12345)
    assert all(c.isalnum() or c in "-_" for c in cursor)


def test_a_cursor_with_characters_outside_base64url_is_refused() -> None:
    with pytest.raises(RuleViolationError):
        decode_cursor("czEy!")
