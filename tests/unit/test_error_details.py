"""One shape for `details` (issue 13): whatever an error carries, the body has a list of
`{field, message}` strings, or no `details` at all."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sav.api.errors import detail_list, error_response


@pytest.mark.parametrize(("given", "listed"), [
    (None, []),
    ({}, []),
    ([], []),
    ([{"field": "limit", "message": "out of range"}],
     [{"field": "limit", "message": "out of range"}]),
    ({"field": "cursor"}, [{"field": "cursor", "message": "not valid"}]),
    ({"fields": ["tags", "status"]}, [{"field": "tags", "message": "not allowed"},
                                      {"field": "status", "message": "not allowed"}]),
    ({"current_version": 3}, [{"field": "current_version", "message": "3"}]),
    ({"field": "file", "max_bytes": 10}, [{"field": "file", "message": "not valid"},
                                          {"field": "max_bytes", "message": "10"}]),
    ({"ticket_id": "t-1", "version": 2}, [{"field": "ticket_id", "message": "t-1"},
                                          {"field": "version", "message": "2"}]),
    ("free text", [{"field": "", "message": "free text"}]),
])
def test_details_become_a_list_of_field_messages(given: Any, listed: Any) -> None:
    assert detail_list(given) == listed


def test_no_details_means_no_key() -> None:
    body = orjson.loads(error_response(404, "not_found", "ticket not found").body)
    assert body == {"error": {"code": "not_found", "message": "ticket not found"}}
    body = orjson.loads(error_response(412, "precondition_failed", "stale",
                                       {"current_version": 4}).body)
    assert body["error"]["details"] == [{"field": "current_version", "message": "4"}]
