"""What `/openapi.json` says in words: descriptions of the parameters and headers SAV
reads, request examples by body model, the document's introduction."""

from __future__ import annotations

from typing import Any

DESCRIPTION = (
    "Customer-support tickets, event-sourced. Send `Authorization: Bearer <JWT>` "
    "except on the anonymous routes (no lock). Errors are always "
    '`{"error": {"code", "message", "details"}}`. Lists are cursor-paginated '
    "(`?limit=&cursor=`, `pagination.next_cursor`). Writes answer the new state with an "
    "`ETag`; `If-Match` makes them conditional, `Idempotency-Key` makes a POST safe to "
    "retry; reads carry an `ETag` too and answer 304 to `If-None-Match`. HEAD works on "
    "every GET, OPTIONS on every path (CORS for `SAV_CORS_ORIGINS`); `X-Request-ID` is "
    "echoed on every answer. The messages published to RabbitMQ are described in "
    "[/asyncapi.json](/asyncapi.json) ([rendered](/docs/asyncapi)).")

PATH_PARAMETERS = {
    "ticket_ref": "the ticket's id (UUID) or its number, e.g. TICKET-20261129-001",
    "message_ref": "the message's id (UUID)",
    "attachment_id": "the attachment's id (UUID)",
    "message_id": "the id of the message the attachments belong to",
    "agent_id": "the agent's user id",
    "raw_key": "the stored file's key, as in a signed download URL",
    "asset": "a file of the bundled documentation viewer",
    "erasure_id": "the id `POST /privacy/erasures` answered",
}
HEADERS = {
    "If-Match": "make the write conditional on the ticket's ETag (412 otherwise)",
    "If-None-Match": "an ETag this caller was given: 304, no body, while it still holds",
    "Idempotency-Key": "a retried POST with the same key answers the first result",
    "X-Access-Token": "the public ticket's access token (or `?token=`)",
    "Last-Event-ID": "with `Accept: text/event-stream`: resume the tail after this position",
    "X-Request-ID": "your id for this request (1-128 of `A-Z a-z 0-9 . _ : / + = @ -`), "
                    "echoed back and logged; a new one is made otherwise",
}

# Request examples, by body model: what the reference shows and "Try it out" sends.
EXAMPLES: dict[str, dict[str, Any]] = {
    "CreateTicket": {"subject": "Order not received", "priority": "high",
                     "description": "Parcel #42 never came"},
    "UpdateTicket": {"priority": "urgent"},
    "AssignTicket": {"agent_id": "agent-1"},
    "ResolveTicket": {"resolution": "Refund issued"},
    "ReasonBody": {"reason": "Solved by phone"},
    "PostMessage": {"content": "We are on it: a replacement ships today.",
                    "is_internal": False},
    "PublicPostMessage": {"content": "Thanks, received it today."},
    "EditMessage": {"content": "A replacement ships tomorrow."},
    "RateTicket": {"rating": 5, "comment": "Quick and kind"},
    "CreatePublicTicket": {"email": "jo@example.com", "name": "Jo", "subject": "Broken lid",
                           "description": "The lid of my kettle arrived broken"},
    "UpsertAgent": {"name": "Ada", "email": "ada@example.com", "active": True},
    "EraseSubject": {"user_id": "cust-1"},
}
