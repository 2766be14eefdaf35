"""Every stored event class has a decision (a handler, or ignored on purpose) in each
read model's fold and handlers, in the event log, in the ticket history, a routing key
in the publisher's wire format and a privacy classification: a new event class fails
here until each consumer of events decides what to do with it."""

from __future__ import annotations

import importlib
import pathlib
import re

import pytest
from eventsourcing.domain import Aggregate

import sav.cli.main as cli
from sav.events.agent import Agent
from sav.events.catalog import AGENT_EVENTS, AGGREGATES, ALL_EVENTS, TICKET_EVENTS, event_classes
from sav.events.privacy import Erasure
from sav.events.ticket import SLA_EVENTS, STATUS_AFTER, Ticket
from sav.events.webhook import Webhook
from sav.history.entries import CHANGES
from sav.privacy.fields import PERSONAL, UndecidedPrivacyError, personal_paths
from sav.projections import registry
from sav.projections.registry import READ_MODELS, in_dependency_order, name_of
from sav.workers import inprocess, scheduler
from sav.workers.event_log import LOG_HANDLERS
from sav.workers.routing import ROUTES, message_data

TABLES = {module.__name__: module.HANDLERS for module in READ_MODELS}
TABLES.update({f"{module.__name__}.FOLD": module.FOLD for module in READ_MODELS
               if hasattr(module, "FOLD")})
TABLES["sav.workers.event_log"] = LOG_HANDLERS
TABLES["sav.privacy.fields.PERSONAL"] = PERSONAL
TABLES["sav.workers.routing.ROUTES"] = ROUTES
SAV = pathlib.Path(cli.__file__).parents[1]


def test_the_catalog_lists_every_stored_aggregate() -> None:
    """A new aggregate's events join the catalog, so every table above must decide."""
    found = {value for path in (SAV / "events").glob("*.py")
             for value in vars(importlib.import_module(f"sav.events.{path.stem}")).values()
             if isinstance(value, type) and issubclass(value, Aggregate)
             and value is not Aggregate and value.__module__.startswith("sav.events")}
    assert found == set(AGGREGATES)
    assert {cls for aggregate in AGGREGATES for cls in event_classes(aggregate)} == set(
        ALL_EVENTS)


def test_the_catalog_lists_every_event_class_once() -> None:
    names = [cls.__qualname__ for cls in ALL_EVENTS]
    assert len(names) == len(set(names))
    assert len(TICKET_EVENTS) == 25 + len(SLA_EVENTS) and len(AGENT_EVENTS) == 2
    assert "Agent.Created" not in names  # the library's unused default


@pytest.mark.parametrize("table", TABLES, ids=str)
@pytest.mark.parametrize("event_class", ALL_EVENTS, ids=lambda cls: cls.__qualname__)
def test_each_read_model_decides_on_each_event(table: str, event_class: type) -> None:
    assert event_class in TABLES[table], f"{table} has no decision for {event_class}"


@pytest.mark.parametrize("table", TABLES, ids=str)
def test_tables_know_no_stranger(table: str) -> None:
    # A ticket's snapshot is stored too: privacy decides on it as well.
    assert set(TABLES[table]) <= {*ALL_EVENTS, Ticket.Snapshot}


def test_the_read_models_fold_three_quarters_of_the_ticket() -> None:
    """The ticket's own read models are folds (one definition for the projector, time
    travel and replay); the statistics read the folded row instead."""
    folded = {name_of(module) for module in READ_MODELS if hasattr(module, "FOLD")}
    assert {"tickets", "messages", "attachments", "agents"} <= folded


@pytest.mark.parametrize("event_class", TICKET_EVENTS, ids=lambda cls: cls.__qualname__)
def test_the_history_describes_each_ticket_event(event_class: type) -> None:
    assert event_class in CHANGES
    assert set(CHANGES) == set(TICKET_EVENTS)


def test_privacy_decides_on_snapshots_and_refuses_an_undecided_class() -> None:
    assert Ticket.Snapshot in PERSONAL

    class Noted(Ticket.Event):  # a new event class nobody classified yet
        note: str

    with pytest.raises(UndecidedPrivacyError):
        personal_paths(Noted)
    assert personal_paths(Agent.Changed) == {}


def test_statistics_run_after_the_tickets_they_read() -> None:
    order = [name_of(module) for module in READ_MODELS]
    for module in READ_MODELS:
        for dependency in getattr(module, "DEPENDS_ON", ()):
            assert order.index(dependency) < order.index(name_of(module))
    assert "tickets" in registry.ticket_stats.DEPENDS_ON


def test_the_order_follows_declared_dependencies_not_the_listing() -> None:
    stats, tickets = registry.ticket_stats, registry.tickets
    assert in_dependency_order((stats, tickets)) == (tickets, stats)
    with pytest.raises(ValueError, match="cannot be met"):
        in_dependency_order((stats,))


def test_no_consumer_ignores_a_whole_catalog_at_once() -> None:
    """`ignored(*ALL_EVENTS)` would decide for event classes not written yet."""
    blanket = re.compile(r"(ignored|skipped)\(\*(ALL|TICKET|AGENT|ERASURE)_EVENTS")
    offenders = [str(path.relative_to(SAV)) for path in SAV.rglob("*.py")
                 if blanket.search(path.read_text())]
    assert not offenders
    assert Erasure.SubjectErased in LOG_HANDLERS


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
    root = SAV
    names = {cls.__qualname__ for cls in ALL_EVENTS}
    offenders = [
        f"{path.relative_to(root)}: {name}"
        for path in root.rglob("*.py")
        for name in names
        if f'"{name}"' in path.read_text() or f"'{name}'" in path.read_text()
    ]
    assert not offenders


def test_a_webhooks_secret_is_sealed_and_neither_it_nor_its_url_published() -> None:
    assert personal_paths(Webhook.Created) == {("secret",): None}
    record = {"stream_id": "w-1", "data": {"url": "https://h/x?token=t", "secret": "whsec_x",
                                           "events": ["*"], "changes": {"url": "https://y"}}}
    data = message_data(Webhook.Created, record, {})
    assert data == {"webhook_id": "w-1", "events": ["*"], "changes": {}}
