"""`POST /inbound/email`: a mail provider's inbound webhook hands SAV one raw mail.

The route is public as far as the JWT middleware goes and checks its own shared secret,
`SAV_INBOUND_EMAIL_TOKEN`, in constant time: providers post with a fixed Bearer token,
not a user's JWT. The mail then takes the same path as one the SMTP listener received.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from sanic import Blueprint, HTTPResponse, Request

from sav.api import http
from sav.api.errors import ApiError
from sav.api.openapi import responds
from sav.mail.deliver import deliver

bp = Blueprint("inbound")
MAIL_TYPE = "message/rfc822"


@dataclass(frozen=True)
class MailBody:
    """The body `/openapi.json` documents: one whole mail, as the provider received it
    (the handler reads `request.body` itself, after checking the token)."""

    def openapi(self, schemas: dict[str, Any]) -> dict[str, Any]:
        return {"required": True, "description": "One raw mail (RFC 5322), headers and "
                "body as received; attachments stay inside it (MIME).",
                "content": {MAIL_TYPE: {"schema": {"type": "string", "format": "binary"},
                                        "example": MAIL_EXAMPLE}}}


MAIL_EXAMPLE = ("From: Ada <ada@example.com>\r\nTo: support@help.example.com\r\n"
                "Subject: My order never arrived\r\nMessage-ID: <a1@example.com>\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                "Order 1042 was due on Monday.\r\n")


class InboundEmailResult(BaseModel):
    """What became of the mail: a new ticket, a message on one, or nothing."""

    ticket_id: str | None
    outcome: Literal["created", "threaded", "duplicate", "ignored"]
    reason: str | None = None


def _authorized(request: Request) -> bool:
    expected = request.app.ctx.settings.inbound_email_token
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


@bp.post("/inbound/email")
@responds(202, InboundEmailResult, description="taken: a ticket opened or continued, a "
          "duplicate, or an automatic mail ignored")
@responds(401, description="missing or wrong `SAV_INBOUND_EMAIL_TOKEN`")
@responds(413, description="the mail is larger than `SAV_MAX_JSON_BODY` (the SMTP "
          "listener takes up to 32 MiB)")
@responds(415, description="the body is not `message/rfc822`")
@responds(422, description="the body is empty")
async def receive_route(request: Request) -> HTTPResponse:
    """Receive one raw mail (`Content-Type: message/rfc822`) from a mail provider.

    Authorized by `Authorization: Bearer $SAV_INBOUND_EMAIL_TOKEN`, not a user token.
    """
    if not _authorized(request):
        raise ApiError(401, "unauthorized", "missing or wrong inbound e-mail token",
                       headers={"WWW-Authenticate": "Bearer"})
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type != MAIL_TYPE:
        raise ApiError(415, "unsupported_media_type", f"the body must be {MAIL_TYPE}")
    if not request.body:
        raise ApiError(422, "validation_failed", "the body is empty")
    pool = http.command_pool(request)
    settings = request.app.ctx.settings
    received = await deliver(pool.call, pool.app, bytes(request.body), settings.mail_address,
                             http.storage(request), settings.max_attachment_bytes)
    result = InboundEmailResult(
        ticket_id=str(received.ticket_id) if received.ticket_id else None,
        outcome=received.outcome, reason=received.reason)  # type: ignore[arg-type]
    return http.json(result.model_dump(), status=202)


receive_route.sav_request_body = MailBody()  # type: ignore[attr-defined]
