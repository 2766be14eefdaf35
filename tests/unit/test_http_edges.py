"""The shortcuts `GET /tickets/{id}` takes (issue 21) answer exactly as the long ways did."""

from __future__ import annotations

import uuid

from sanic import HTTPResponse
from sanic.headers import format_http1_response

from sav.api.conventions import random_request_id
from sav.api.http import CANONICAL_UUID, Response

HEADERS = {"ETag": '"3-fc41e84e199bab16"', "Cache-Control": "private, max-age=60",
           "X-Injected": "a\r\nSet-Cookie: x=1\x00", "X-\nName": "1", "X-Raw": "v\udcffé",
           "content-length": 2}


def head_of(response: HTTPResponse) -> bytes:
    response.headers.update(HEADERS)
    return format_http1_response(200, response.processed_headers)


def test_header_lines_are_the_bytes_sanic_sends() -> None:
    ours = head_of(Response(b"{}", content_type="application/json"))
    assert ours == head_of(HTTPResponse(b"{}", content_type="application/json"))
    assert b"X-Injected: aSet-Cookie: x=1\r\n" in ours and b"X-Name: 1\r\n" in ours


def test_a_new_request_id_is_a_random_uuid_in_hex() -> None:
    ids = {random_request_id() for _ in range(100)}
    assert len(ids) == 100
    for given in ids:
        parsed = uuid.UUID(hex=given)
        assert parsed.hex == given and parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_only_a_uuid_written_as_the_read_model_keys_it_skips_parsing() -> None:
    ticket_id = str(uuid.uuid4())
    assert CANONICAL_UUID.match(ticket_id)
    for other in (ticket_id.upper(), ticket_id.replace("-", ""), f"{{{ticket_id}}}",
                  f"urn:uuid:{ticket_id}", ticket_id + "\n", "TICKET-20261207-001"):
        assert not CANONICAL_UUID.match(other)
