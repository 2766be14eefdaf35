"""What `GET /tickets/{id}` adds to a ticket: its visible messages and attachments."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sav.commands.actor import Actor
from sav.projections.attachments import attachment_json, visible_attachments
from sav.projections.messages import latest_messages, message_json


def no_details(messages_path: str | None) -> dict[str, Any]:
    """The details of a ticket just created: no conversation yet (no query needed)."""
    return {"messages": [], "messages_truncated": False, "attachments": [],
            "links": {"messages": messages_path}}


async def ticket_details(conn: AsyncConnection, row: Any, actor: Actor | None,
                         messages_path: str | None) -> dict[str, Any]:
    """`actor` None means a public (access-token) caller: public messages only. The
    latest messages are embedded; `messages_truncated` says earlier ones exist, listed
    (oldest first, paginated) at `links.messages`."""
    messages, truncated = await latest_messages(conn, row.id, actor)
    attachments = [attachment_json(a) for a in await visible_attachments(conn, row.id, actor)]
    return {**no_details(messages_path), "messages": [message_json(m) for m in messages],
            "messages_truncated": truncated, "attachments": attachments}
