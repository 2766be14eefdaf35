"""What `GET /tickets/{id}` adds to a ticket: its visible messages, attachments and
links to other tickets."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sav.commands.actor import Actor
from sav.projections.attachments import attachment_json, visible_attachments
from sav.projections.links import embedded_links
from sav.projections.messages import latest_messages, message_json


def no_details(messages_url: str | None) -> dict[str, Any]:
    """The details of a ticket just created: no conversation, no link (no query needed)."""
    return {"messages": [], "messages_truncated": False, "attachments": [],
            "messages_url": messages_url, "links": []}


async def ticket_details(conn: AsyncConnection, row: Any, actor: Actor | None,
                         messages_url: str | None) -> dict[str, Any]:
    """`actor` None means a public (access-token) caller: public messages only. The
    latest messages are embedded; `messages_truncated` says earlier ones exist, listed
    (oldest first, paginated) at `messages_url`. `links`: the linked tickets the caller's
    side sees (`sav.projections.links.shown`)."""
    messages, truncated = await latest_messages(conn, row.id, actor)
    attachments = [attachment_json(a) for a in await visible_attachments(conn, row.id, actor)]
    staff = actor is not None and actor.sees_internal
    links = await embedded_links(conn, {row.id: row.user_id}, staff)
    return {**no_details(messages_url), "messages": [message_json(m) for m in messages],
            "messages_truncated": truncated, "attachments": attachments,
            "links": links[row.id]}
