"""Examples of what the API answers, for `/openapi.json`: one per response body model
(by the model's name), one per error status, one per non-JSON content type. The reference
shows them, and tests/unit/test_openapi.py validates each against its schema, so they
cannot drift from the shapes in `sav.api.schemas`.

One coherent story: a customer's late parcel, ticket TICKET-20261129-001.
"""

from __future__ import annotations

from typing import Any

from sav.api import schemas

TICKET_ID = "6f1c2a4e-8d3b-4b7e-9a51-2c0d9e7f3a10"
MESSAGE_ID = "0b8e5d2c-47a1-4f3e-8c6d-91a2b3c4d5e6"
ATTACHMENT_ID = "9d4f1e2a-3b5c-4d6e-8f70-a1b2c3d4e5f6"
CREATED = "2026-11-29T09:14:03.120000+00:00"
ANSWERED = "2026-11-29T09:41:27.004000+00:00"

PAGINATION = {"limit": 20, "next_cursor": None}

TICKET: dict[str, Any] = {
    "id": TICKET_ID, "ticket_number": "TICKET-20261129-001", "user_id": "cust-1",
    "assigned_to": "agent-1", "subject": "Order not received",
    "description": "Parcel #42 never came", "status": "in_progress", "priority": "high",
    "category": "delivery", "source": "web", "contact_email": "jo@example.com",
    "contact_name": "Jo", "first_response_at": ANSWERED, "resolved_at": None,
    "closed_at": None, "resolution_notes": None, "satisfaction_rating": None,
    "satisfaction_comment": None, "tags": ["delivery"], "metadata": {"order": "42"},
    "escalated_at": None, "created_at": CREATED, "updated_at": ANSWERED, "version": 4,
    "merged_into": None, "merged_into_number": None,
    "links": [{"ticket_id": "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d", "kind": "duplicate_of",
               "ticket_number": "TICKET-20261128-004", "status": "open",
               "created_at": ANSWERED}],
}
MESSAGE: dict[str, Any] = {
    "id": MESSAGE_ID, "ticket_id": TICKET_ID, "user_id": "agent-1",
    "author_name": "Ada", "author_email": "ada@example.com",
    "content": "We are on it: a replacement ships today.", "is_internal": False,
    "is_read": False, "read_at": None, "created_at": ANSWERED, "updated_at": None,
}
ATTACHMENT: dict[str, Any] = {
    "id": ATTACHMENT_ID, "ticket_id": TICKET_ID, "message_id": MESSAGE_ID,
    "user_id": "cust-1", "file_name": "invoice.pdf",
    "file_path": f"tickets/{TICKET_ID}/{ATTACHMENT_ID}.pdf",
    "file_url": f"/tickets/{TICKET_ID}/attachments/{ATTACHMENT_ID}/download",
    "file_type": "pdf", "file_size": 48213, "mime_type": "application/pdf", "scanned": True,
    "created_at": ANSWERED, "updated_at": None,
}
PUBLIC_TICKET: dict[str, Any] = {
    **{key: TICKET[key] for key in (
        "id", "ticket_number", "subject", "description", "status", "priority", "category",
        "contact_email", "contact_name", "resolution_notes", "satisfaction_rating",
        "satisfaction_comment", "first_response_at", "resolved_at", "closed_at",
        "created_at", "updated_at", "merged_into", "merged_into_number")},
    "source": "public", "messages": [MESSAGE], "messages_truncated": False,
    "attachments": [], "messages_url": None, "links": [],
}
AGENT: dict[str, Any] = {"agent_id": "agent-1", "name": "Ada", "email": "ada@example.com",
                         "active": True, "open_tickets": 3, "created_at": CREATED,
                         "updated_at": CREATED}
WEBHOOK: dict[str, Any] = {
    "id": "3e9a7c51-0d2b-4f6e-a8c4-5b1d2e3f4a60", "url": "https://crm.example.com/hooks/sav",
    "events": ["ticket.created", "ticket.resolved"], "description": "CRM sync",
    "active": True, "disabled_reason": None, "created_at": CREATED, "updated_at": CREATED}
WEBHOOK_DELIVERY: dict[str, Any] = {
    "id": "8b2d4f6a-1c3e-5a7b-9d0f-2e4a6c8b0d1f", "webhook_id": WEBHOOK["id"],
    "event": "ticket.created", "position": 1842,
    "message_id": "c0a8e5f2-7b1d-5e3c-9a4f-6d2b8e0c1a3f", "status": "pending", "attempts": 1,
    "last_status_code": 500, "next_attempt_at": "2026-11-29T09:14:09.200000+00:00",
    "last_error": "answered 500", "created_at": CREATED, "updated_at": CREATED}
SLA_CALENDAR: dict[str, Any] = {
    "timezone": "Europe/Paris",
    "hours": {"mon": [["09:00", "18:00"]], "tue": [["09:00", "18:00"]],
              "wed": [["09:00", "18:00"]], "thu": [["09:00", "18:00"]],
              "fri": [["09:00", "17:00"]], "sat": [], "sun": []},
    "holidays": ["2026-12-25", "2027-01-01"]}
SLA_POLICY: dict[str, Any] = {
    "name": "priority", "priority": ["urgent", "high"], "category": None, "position": 0,
    "first_response_minutes": 30, "next_response_minutes": 60, "resolution_minutes": 480,
    "business_hours": True}
MACRO: dict[str, Any] = {
    "id": "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b", "title": "Parcel replaced",
    "content": "Hello {{customer.name}}, a replacement for {{ticket.number}} ships today.",
    "is_internal": False,
    "actions": {"status": "waiting_customer", "add_tags": ["replacement"],
                "assign_to_me": True},
    "created_at": CREATED, "updated_at": CREATED, "created_by": "admin-1",
    "updated_by": "admin-1"}
PROJECTION = {"position": 1842, "head": 1842, "lag_events": 0, "stalled_seconds": 0.0,
              "stalled": False}

# By response model name: the example of a 2xx answer with that body.
RESPONSES: dict[str, Any] = {
    schemas.Ticket.__name__: TICKET,
    schemas.TicketDetails.__name__: {
        **TICKET, "internal_notes": None, "messages": [MESSAGE], "messages_truncated": False,
        "attachments": [ATTACHMENT],
        "messages_url": f"/tickets/{TICKET_ID}/messages",
        "viewers": [{"id": "agent-2", "since": ANSWERED}]},
    schemas.TicketPage.__name__: {"data": [TICKET], "pagination": PAGINATION},
    schemas.Message.__name__: MESSAGE,
    schemas.MessagePage.__name__: {"data": [MESSAGE], "pagination": PAGINATION},
    schemas.Attachment.__name__: ATTACHMENT,
    schemas.AttachmentPage.__name__: {"data": [ATTACHMENT], "pagination": PAGINATION},
    schemas.Attachments.__name__: {"data": [ATTACHMENT]},
    schemas.DownloadLink.__name__: {
        "url": "https://files.example.com/sav/tickets/invoice.pdf?X-Amz-Signature=9f2c",
        "expires_at": "2026-11-29T10:41:27+00:00"},
    schemas.Deleted.__name__: {"success": True, "message": "ticket deleted",
                               "id": TICKET_ID},
    schemas.Marked.__name__: {"success": True, "marked": 2},
    schemas.UnreadCount.__name__: {"count": 2},
    schemas.HistoryPage.__name__: {"data": [{
        "position": 1838, "version": 2, "type": "ticket.assigned",
        "occurred_at": "2026-11-29T09:20:00+00:00",
        "actor": {"id": "admin-1", "role": "admin"},
        "changes": {"assigned_to": {"from": None, "to": "agent-1"}}}],
        "pagination": {"limit": 20, "next_cursor": "eyJwIjoxODM4fQ"}},
    schemas.Statistics.__name__: {
        "total": 120, "by_status": {"open": 30, "in_progress": 40, "resolved": 50},
        "by_priority": {"normal": 80, "high": 30, "urgent": 10},
        "avg_first_response_seconds": 1624.5, "avg_resolution_seconds": 86400.0,
        "satisfaction": {"average": 4.6, "count": 41}, "escalation_rate": 0.05,
        "agent_workload": [{"agent_id": "agent-1", "open": 3}],
        "sla": {"first_response": {"met": 95, "breached": 5, "compliance": 0.95},
                "resolution": {"met": 40, "breached": 10, "compliance": 0.8}},
        "macros": {"applied": 12, "by_macro": [{
            "macro_id": "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b", "title": "Parcel replaced",
            "uses": 12}]}},
    schemas.Agent.__name__: AGENT,
    schemas.AgentPage.__name__: {"data": [AGENT], "pagination": PAGINATION},
    schemas.FeedPage.__name__: {"data": [{
        "position": 1842, "message_id": "sav-1842", "event": "ticket.created",
        "timestamp": CREATED, "data": {"ticket_id": TICKET_ID, "priority": "high"}}],
        "pagination": {"limit": 100, "next_after": 1842}},
    schemas.PublicTicket.__name__: PUBLIC_TICKET,
    schemas.Health.__name__: {"status": "ok", "service": "sav-service"},
    schemas.Readiness.__name__: {
        "status": "ok", "database": "connected", "storage": "connected",
        "projection_position": 1842, "projection": PROJECTION},
    "PodReadiness": {"status": "ready", "database": "connected"},
    "ErasureStatus": {"id": "5c7d9e1f-2a3b-4c5d-8e6f-7a8b9c0d1e2f", "status": "completed"},
    "Webhook": WEBHOOK,
    "WebhookCreated": {**WEBHOOK, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
    "WebhookSecretRotated": {**WEBHOOK, "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                             "previous_secret_expires_at": "2026-12-08T09:30:00+00:00"},
    "WebhookList": {"data": [WEBHOOK]},
    "WebhookDelivery": WEBHOOK_DELIVERY,
    "WebhookDeliveryList": {"data": [WEBHOOK_DELIVERY]},
    "SlaCalendar": SLA_CALENDAR,
    "SlaPolicy": SLA_POLICY,
    "SlaPolicyList": {"data": [SLA_POLICY]},
    "Macro": MACRO,
    "MacroList": {"data": [MACRO]},
    "TicketLinks": {"id": TICKET_ID, "links": TICKET["links"]},
    "BulkResults": {"results": [
        {"id": TICKET_ID, "status": 200},
        {"id": "TICKET-20261129-002", "status": 409, "error": {
            "code": "invalid_transition", "message": "cannot assign a ticket that is resolved"}}]},
    "InboundEmailResult": {"ticket_id": TICKET_ID, "outcome": "created", "reason": None},
    "OpenApiDocument": {"openapi": "3.1.0", "info": {"title": "SAV ticket service",
                                                      "version": "0.1.0"}, "paths": {}},
    "AsyncApiDocument": {"asyncapi": "3.0.0", "info": {"title": "SAV events",
                                                       "version": "0.1.0"}},
}
# Where one model answers differently by status.
RESPONSES_BY_STATUS: dict[tuple[str, int], Any] = {
    (schemas.Readiness.__name__, 503): {
        "status": "degraded", "database": "connected", "storage": "connected",
        "projection_position": 1790,
        "projection": {**PROJECTION, "position": 1790, "lag_events": 52,
                       "stalled_seconds": 41.5, "stalled": True}},
    (schemas.PublicTicket.__name__, 201): {
        **PUBLIC_TICKET, "status": "open", "first_response_at": None, "messages": [],
        "access_token": "pt_3q9VxK2mB7wL0sYc4RzT8nHd"},
}

# The error envelope's example per status: the code a client branches on.
ERRORS: dict[int, dict[str, Any]] = {
    400: {"code": "bad_request", "message": "the body is not valid JSON"},
    401: {"code": "unauthorized", "message": "missing or invalid bearer token"},
    403: {"code": "forbidden", "message": "customers may not assign tickets"},
    404: {"code": "not_found", "message": "ticket not found"},
    409: {"code": "invalid_transition", "message": "a closed ticket cannot be assigned"},
    412: {"code": "precondition_failed", "message": "the ticket changed: its version is 5"},
    413: {"code": "payload_too_large", "message": "the file is over 10 MB"},
    415: {"code": "unsupported_file_type", "message": "files of this type are not allowed"},
    422: {"code": "validation_failed", "message": "the request is not valid",
          "details": [{"field": "priority", "message": "Input should be 'low', "
                       "'normal', 'high' or 'urgent'"}]},
    429: {"code": "rate_limited", "message": "too many requests, retry later",
          "details": [{"field": "retry_after_seconds", "message": "17"}]},
    431: {"code": "request_header_too_large", "message": "the request head is too large"},
    503: {"code": "dependency_unavailable", "message": "the database is unavailable"},
}

# Bodies that are not JSON, by content type (binary ones have none: bytes say nothing).
CONTENT: dict[str, str] = {
    "text/plain": "# TYPE sav_http_requests_total counter\n"
                  'sav_http_requests_total{method="GET",route="/tickets",status="200"} 42\n',
    "text/html; charset=utf-8": "<!doctype html><title>SAV API reference</title>",
    "text/event-stream": 'id: 1842\nevent: ticket.created\ndata: {"position": 1842}\n\n',
    "application/x-ndjson": '{"position": 1842, "event": "ticket.created"}\n',
    "text/csv; charset=utf-8": "position,event,timestamp\n1842,ticket.created," + CREATED
                               + "\n",
    "application/javascript; charset=utf-8": "window.ui = SwaggerUIBundle({});",
    "text/css; charset=utf-8": ".swagger-ui { margin: 0 }",
    "text/plain; charset=utf-8": "swagger-ui 5",
}


def response_example(model_name: str, status: int) -> Any:
    """The example of a `status` answer with a `model_name` body, if there is one."""
    return RESPONSES_BY_STATUS.get((model_name, status), RESPONSES.get(model_name))


def error_example(status: int) -> dict[str, Any]:
    return {"error": ERRORS[status]}
