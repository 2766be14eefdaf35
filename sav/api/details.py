"""What `GET /tickets/{id}` adds to a ticket: its visible messages and attachments."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sav.commands.actor import Actor
from sav.projections.attachments import attachment_json, visible_attachments
from sav.projections.messages import message_json, visible_messages


async def ticket_details(conn: AsyncConnection, row: Any, actor: Actor | None) -> dict[str, Any]:
    """`actor` None means a public (access-token) caller: public messages only."""
    messages = [message_json(m) for m in await visible_messages(conn, row.id, actor)]
    attachments = [attachment_json(a) for a in await visible_attachments(conn, row.id, actor)]
    return {"messages": messages, "attachments": attachments}
