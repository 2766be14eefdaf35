"""Every stored event class has a decision (a handler, or ignored on purpose) in each
read model, in the event log, and a routing key in the publisher's wire format: a new
event class fails here until each consumer of events decides what to do with it."""

from __future__ import annotations

import pytest

import sav.cli.main as cli
from sav.events.catalog import AGENT_EVENTS, ALL_EVENTS, TICKET_EVENTS
from sav.events.ticket import STATUS_AFTER, Ticket
from sav.projections.registry import READ_MODELS
from sav.workers import inprocess, scheduler
from sav.workers.event_log import LOG_HANDLERS
from sav.workers.routing import ROUTES

TABLES = {module.__name__: module.HANDLERS for module in READ_MODELS}
TABLES["sav.workers.event_log"] = LOG_HANDLERS


def test_the_catalog_lists_every_event_class_once() -> None:
    names = [cls.__qualname__ for cls in ALL_EVENTS]
    assert len(names) == len(set(names))
    assert len(TICKET_EVENTS) == 19 and len(AGENT_EVENTS) == 2
    assert "Agent.Created" not in names  # the library's unused default


@pytest.mark.parametrize("table", TABLES, ids=str)
@pytest.mark.parametrize("event_class", ALL_EVENTS, ids=lambda cls: cls.__qualname__)
def test_each_read_model_decides_on_each_event(table: str, event_class: type) -> None:
    assert event_class in TABLES[table], f"{table} has no decision for {event_class}"


@pytest.mark.parametrize("table", TABLES, ids=str)
def test_tables_know_no_stranger(table: str) -> None:
    assert set(TABLES[table]) <= set(ALL_EVENTS)


@pytest.mark.parametrize("event_class", ALL_EVENTS, ids=lambda cls: cls.__qualname__)
def test_each_event_has_a_routing_key(event_class: type) -> None:
    assert ROUTES[event_class].count(".") >= 1


def test_status_rules_name_ticket_events_only() -> None:
    assert set(STATUS_AFTER) <= set(TICKET_EVENTS)
    assert STATUS_AFTER[Ticket.Created] == "open"


def test_the_cli_offers_every_worker_kind_and_job() -> None:
    assert cli.WORKER_KINDS == inprocess.KINDS
    assert set(cli.JOBS) == set(scheduler.JOBS)


def test_no_event_class_is_named_by_a_string_in_sav() -> None:
    """Dispatch keys are classes: a qualname in a string would break silently on rename."""
    import pathlib

    root = pathlib.Path(cli.__file__).parent
    names = {cls.__qualname__ for cls in ALL_EVENTS}
    offenders = [
        f"{path.relative_to(root)}: {name}"
        for path in root.rglob("*.py")
        for name in names
        if f'"{name}"' in path.read_text() or f"'{name}'" in path.read_text()
    ]
    assert not offenders
