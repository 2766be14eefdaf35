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
    "webhook_id": "the subscription's id (UUID)",
    "delivery_id": "the delivery's id, as its log lists it",
    "name": "the SLA policy's name (1-64 of `A-Z a-z 0-9 . _ -`)",
    "macro_id": "the macro's id (UUID)",
    "other_id": "the linked ticket's id (UUID) or number",
}
HEADERS = {
    "If-Match": "make the write conditional on the current ETag of what it changes (the "
                "ticket's; a message's on `/messages/{message_ref}`; the ticket's on a "
                "reply): 412 with the current version otherwise",
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
    "CreateWebhook": {"url": "https://crm.example.com/hooks/sav",
                      "events": ["ticket.created", "ticket.resolved"],
                      "description": "CRM sync"},
    "UpdateWebhook": {"active": False},
    "CalendarBody": {"timezone": "Europe/Paris",
                     "hours": {"mon": [["09:00", "18:00"]], "tue": [["09:00", "18:00"]],
                               "wed": [["09:00", "18:00"]], "thu": [["09:00", "18:00"]],
                               "fri": [["09:00", "17:00"]], "sat": [], "sun": []},
                     "holidays": ["2026-12-25", "2027-01-01"]},
    "PolicyBody": {"priority": ["urgent", "high"], "position": 0,
                   "first_response_minutes": 30, "next_response_minutes": 60,
                   "resolution_minutes": 480, "business_hours": True},
    "MacroBody": {"title": "Parcel replaced",
                  "content": "Hello {{customer.name}}, a replacement for {{ticket.number}} "
                             "ships today. {{agent.name}}",
                  "is_internal": False,
                  "actions": {"status": "waiting_customer", "priority": "high",
                              "add_tags": ["replacement"], "assign_to_me": True}},
    "BulkBody": {"ids": ["6f1c2a4e-8d3b-4b7e-9a51-2c0d9e7f3a10", "TICKET-20261129-002"],
                 "action": "assign", "agent_id": "agent-1"},
    "LinkBody": {"ticket_id": "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d", "kind": "duplicate"},
    "MergeBody": {"into": "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"},
}

# The request bodies' names in `components/schemas`, by body model: noun first, so a
# generated client's models read as what they are (`TicketCreate`, not `CreateTicket`
# nor a name made of the operation's). Bodies not listed keep their model's name.
REQUEST_BODY_NAMES: dict[str, str] = {
    "CreateTicket": "TicketCreate",
    "UpdateTicket": "TicketUpdate",
    "AssignTicket": "TicketAssignment",
    "ResolveTicket": "TicketResolution",
    "ReasonBody": "TicketStatusReason",
    "PostMessage": "MessageCreate",
    "PublicPostMessage": "PublicMessageCreate",
    "EditMessage": "MessageUpdate",
    "RateTicket": "SatisfactionRating",
    "CreatePublicTicket": "PublicTicketCreate",
    "UpsertAgent": "AgentUpsert",
    "EraseSubject": "ErasureRequest",
    "CreateWebhook": "WebhookCreate",
    "UpdateWebhook": "WebhookUpdate",
    "CalendarBody": "SlaCalendarUpdate",
    "PolicyBody": "SlaPolicyUpsert",
    "MacroBody": "MacroUpsert",
    "BulkBody": "TicketBulkAction",
    "LinkBody": "TicketLinkCreate",
    "MergeBody": "TicketMerge",
}
# Upload forms, by the operation that reads them.
UPLOAD_BODY_NAMES: dict[str, str] = {
    "uploadTicketAttachment": "AttachmentUpload",
    "uploadTicketAttachments": "AttachmentUploads",
}

# Every operation's id, `verbNoun`, written here rather than derived from a handler's
# name: a generated client's method names (`create_ticket`, `list_ticket_messages`)
# are part of the contract, and renaming a Python function must not change them.
OPERATION_IDS: dict[str, str] = {
    "GET /tickets": "listTickets",
    "POST /tickets": "createTicket",
    "GET /tickets/statistics": "getTicketStatistics",
    "GET /tickets/{ticket_ref}": "getTicket",
    "PUT /tickets/{ticket_ref}": "updateTicket",
    "DELETE /tickets/{ticket_ref}": "deleteTicket",
    "POST /tickets/{ticket_ref}/assign": "assignTicket",
    "POST /tickets/{ticket_ref}/start": "startTicket",
    "POST /tickets/{ticket_ref}/wait": "markTicketWaiting",
    "POST /tickets/{ticket_ref}/resolve": "resolveTicket",
    "POST /tickets/{ticket_ref}/close": "closeTicket",
    "POST /tickets/{ticket_ref}/reopen": "reopenTicket",
    "POST /tickets/{ticket_ref}/unassign": "unassignTicket",
    "POST /tickets/{ticket_ref}/restore": "restoreTicket",
    "GET /tickets/{ticket_ref}/messages": "listTicketMessages",
    "POST /tickets/{ticket_ref}/messages": "createTicketMessage",
    "GET /tickets/{ticket_ref}/messages/unread-count": "countUnreadTicketMessages",
    "POST /tickets/{ticket_ref}/messages/mark-all-read": "markAllTicketMessagesRead",
    "GET /tickets/{ticket_ref}/messages/{message_ref}": "getTicketMessage",
    "PUT /tickets/{ticket_ref}/messages/{message_ref}": "updateTicketMessage",
    "DELETE /tickets/{ticket_ref}/messages/{message_ref}": "deleteTicketMessage",
    "POST /tickets/{ticket_ref}/messages/{message_ref}/mark-read": "markTicketMessageRead",
    "GET /tickets/{ticket_ref}/attachments": "listTicketAttachments",
    "POST /tickets/{ticket_ref}/attachments": "uploadTicketAttachment",
    "POST /tickets/{ticket_ref}/attachments/multiple": "uploadTicketAttachments",
    "GET /tickets/{ticket_ref}/attachments/message/{message_id}": "listMessageAttachments",
    "GET /tickets/{ticket_ref}/attachments/{attachment_id}": "getTicketAttachment",
    "DELETE /tickets/{ticket_ref}/attachments/{attachment_id}": "deleteTicketAttachment",
    "GET /tickets/{ticket_ref}/attachments/{attachment_id}/download":
        "getAttachmentDownloadLink",
    "POST /tickets/{ticket_ref}/satisfaction": "rateTicket",
    "GET /tickets/{ticket_ref}/history": "listTicketHistory",
    "GET /tickets/{ticket_ref}/events": "listTicketEvents",
    "POST /tickets/{ticket_ref}/viewing": "markTicketViewing",
    "POST /public/tickets": "createPublicTicket",
    "GET /public/tickets/{ticket_ref}": "getPublicTicket",
    "POST /public/tickets/{ticket_ref}/messages": "createPublicTicketMessage",
    "POST /public/tickets/{ticket_ref}/satisfaction": "ratePublicTicket",
    "GET /public/tickets/{ticket_ref}/events": "listPublicTicketEvents",
    "GET /agents": "listAgents",
    "GET /agents/{agent_id}": "getAgent",
    "PUT /agents/{agent_id}": "upsertAgent",
    "GET /events": "listEvents",
    "GET /events/export": "exportEvents",
    "POST /privacy/erasures": "createErasure",
    "GET /privacy/erasures/{erasure_id}": "getErasure",
    "POST /webhooks": "createWebhook",
    "GET /webhooks": "listWebhooks",
    "GET /webhooks/{webhook_id}": "getWebhook",
    "PATCH /webhooks/{webhook_id}": "updateWebhook",
    "DELETE /webhooks/{webhook_id}": "deleteWebhook",
    "GET /webhooks/{webhook_id}/deliveries": "listWebhookDeliveries",
    "POST /webhooks/{webhook_id}/deliveries/{delivery_id}/retry": "retryWebhookDelivery",
    "POST /webhooks/{webhook_id}/secret/rotate": "rotateWebhookSecret",
    "GET /sla/calendar": "getSlaCalendar",
    "PUT /sla/calendar": "updateSlaCalendar",
    "GET /sla/policies": "listSlaPolicies",
    "GET /sla/policies/{name}": "getSlaPolicy",
    "PUT /sla/policies/{name}": "upsertSlaPolicy",
    "DELETE /sla/policies/{name}": "deleteSlaPolicy",
    "GET /macros": "listMacros",
    "POST /macros": "createMacro",
    "GET /macros/{macro_id}": "getMacro",
    "PUT /macros/{macro_id}": "updateMacro",
    "DELETE /macros/{macro_id}": "deleteMacro",
    "POST /tickets/{ticket_ref}/macros/{macro_id}": "applyTicketMacro",
    "POST /tickets/bulk": "updateTicketsInBulk",
    "GET /tickets/{ticket_ref}/links": "listTicketLinks",
    "POST /tickets/{ticket_ref}/links": "createTicketLink",
    "DELETE /tickets/{ticket_ref}/links/{other_id}": "deleteTicketLink",
    "POST /tickets/{ticket_ref}/merge": "mergeTicket",
    "POST /inbound/email": "receiveInboundEmail",
    "GET /health": "getHealth",
    "GET /ready": "getReadiness",
    "GET /status": "getStatus",
    "GET /metrics": "getMetrics",
    "GET /openapi.json": "getOpenApiDocument",
    "GET /asyncapi.json": "getAsyncApiDocument",
    "GET /docs": "getApiReference",
    "GET /docs/asyncapi": "getAsyncApiReference",
    "GET /docs/assets/{asset}": "getDocsAsset",
    "GET /files/{raw_key}": "downloadFile",
}

# The tags in reading order (the reference lists them so): the ticket API first, the
# operations' routes last. A tag not listed here follows, alphabetically.
TAGS: dict[str, str] = {
    "tickets": "Create, read, change and close tickets (staff and customers).",
    "messages": "The conversation of a ticket; internal notes for staff only.",
    "attachments": "Files of a ticket, checked by content, downloaded by presigned URL.",
    "satisfaction": "The customer's rating of a resolved ticket.",
    "history": "What happened to a ticket, event by event.",
    "live": "A ticket's conversation as it happens (Server-Sent Events) and who of the "
            "staff is looking at it.",
    "public": "Anonymous support by e-mail and access token; rate limited per client "
              "(`RateLimit` and `RateLimit-Policy` headers).",
    "agents": "The roster of support agents.",
    "events": "The published events, as a feed or an export.",
    "privacy": "Erasure of a person's data (crypto-shredding).",
    "webhooks": "Signed deliveries of the events to other services' URLs (admins).",
    "sla": "Service levels: the business calendar and the policies (staff read, admins "
           "change).",
    "macros": "Canned responses with actions: admins keep them, staff apply them.",
    "links": "Links between tickets: related, parent and child, duplicates (staff link).",
    "bulk": "One action on many tickets (staff), each ticket answering for itself.",
    "inbound": "Mail handed over by a mail provider's inbound webhook (its own token).",
    "health": "Liveness, readiness, status and this document.",
    "metrics": "Prometheus metrics.",
    "docs": "The rendered references.",
    "files": "Signed downloads from the local blob store.",
}
