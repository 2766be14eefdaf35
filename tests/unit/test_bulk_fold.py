"""A rebuild's bulk load folds each batch in memory and writes final rows
(`sav.replay.bulk`): the same tables as the projector writing every event's changes,
whatever the batch size (a row made in one batch is read back and changed in the next)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine, Table, create_engine, select

from sav.commands import agents, messages, tickets
from sav.commands.app import SavApplication
from sav.events.ticket import Ticket
from sav.eventstore.tracking import tracked_position
from sav.projections.position import READ_MODEL
from sav.projections.runner import Projector, create_read_schema
from sav.replay.bulk import fold_in_bulk
from sav.replay.rebuild import BULK_MODELS
from tests.support.domain import ADMIN, AGENT, CUSTOMER, open_ticket


def attach(app: SavApplication, ticket_id: UUID, attachment_id: str,
           message_id: str | None) -> None:
    def change(ticket: Ticket) -> None:
        ticket.add_attachment({
            "attachment_id": attachment_id, "message_id": message_id,
            "user_id": AGENT.user_id, "file_name": f"{attachment_id}.pdf",
            "file_path": f"t/{attachment_id}.pdf", "file_type": "pdf", "file_size": 3,
            "mime_type": "application/pdf"}, by=AGENT.who)

    app.change_ticket(ticket_id, change)


def history(app: SavApplication) -> None:
    agents.upsert_agent(app, ADMIN, "agent-1", agents.UpsertAgent(name="Ada"))
    for n in range(3):
        ticket_id = open_ticket(app, subject=f"Parcel {n}")
        hello = messages.post_message(app, CUSTOMER, ticket_id,
                                      messages.PostMessage(content="where is it?"))
        note = messages.post_message(app, AGENT, ticket_id, messages.PostMessage(
            content="check the depot", is_internal=True))
        attach(app, ticket_id, f"file-{n}", note.message_id)
        attach(app, ticket_id, f"gone-{n}", None)
        app.change_ticket(ticket_id, lambda t, n=n: t.remove_attachment(f"gone-{n}", AGENT.who))
        tickets.assign_ticket(app, ADMIN, ticket_id, tickets.AssignTicket(agent_id="agent-1"))
        messages.post_message(app, AGENT, ticket_id, messages.PostMessage(content="on it"))
        messages.mark_all_read(app, CUSTOMER, ticket_id)
        messages.edit_message(app, CUSTOMER, ticket_id, hello.message_id,
                              messages.EditMessage(content="where is my parcel?"))
        messages.remove_message(app, AGENT, ticket_id, note.message_id)
        tickets.update_ticket(app, ADMIN, ticket_id, tickets.UpdateTicket.model_validate(
            {"subject": f"Parcel {n} lost", "internal_notes": "depot"}))
        tickets.resolve_ticket(app, ADMIN, ticket_id, tickets.ResolveTicket(resolution="found"))
        if n == 1:
            tickets.delete_ticket(app, ADMIN, ticket_id)
    agents.upsert_agent(app, ADMIN, "agent-1", agents.UpsertAgent(name="Ada L."))


def read_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")
    create_read_schema(engine)
    return engine


def rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    tables = {t.name: t for model in BULK_MODELS for t in vars(model).values()
              if isinstance(t, Table)}
    found: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for name, table in sorted(tables.items()):
            query = select(table).order_by(*table.primary_key.columns)
            found[name] = [dict(row._mapping) for row in conn.execute(query)]
        found["fts"] = [tuple(row) for row in conn.exec_driver_sql(
            "SELECT ticket_id, subject, description FROM support_tickets_fts "
            "ORDER BY ticket_id")]
    return found


@pytest.mark.parametrize("batch_size", [1, 5, 1000])
def test_bulk_folding_writes_the_projectors_rows(app: SavApplication, tmp_path: Path,
                                                 batch_size: int) -> None:
    history(app)
    live = read_engine(tmp_path / "live.sqlite3")
    Projector(app.recorder, app.mapper, live,
              handlers=[model.HANDLERS for model in BULK_MODELS]).run_once()
    bulk = read_engine(tmp_path / "bulk.sqlite3")
    reached = fold_in_bulk(app.recorder, app.mapper, bulk, BULK_MODELS, None, batch_size)
    assert reached == app.recorder.max_notification_id()
    expected = rows(live)
    assert expected["ticket_attachments"] and expected["support_agents"]
    assert rows(bulk) == expected
    with bulk.connect() as conn:
        assert tracked_position(conn, READ_MODEL) == reached
