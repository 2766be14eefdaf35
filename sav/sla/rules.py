"""What a command's outcome means for a ticket's service levels.

`follow(ticket, config, now, rematch)` runs after every change to a ticket (and at its
creation), on the aggregate, before the append: it compares the ticket's state with its
SLA state and triggers the events that bring the two in line, in the same append as the
change. The due times are computed here, once, and recorded in the events, so the
folds, time travel and replay only copy them.

- matching (creation, a priority or category change): the first policy, in `position`
  order, whose conditions all hold; its due times count from the ticket's creation
  (plus the open time it already spent paused), in business hours when it says so;
- first response: met by the first public staff message (`first_response_at`);
- next response: a customer message after a met reply starts the clock, the next
  public staff message meets it;
- resolution: met by `resolved` (or `closed`); paused while `waiting_customer`;
- a metric whose due time has passed is broken (`SlaBreached`), once: by the scheduler's
  `sla` job, or by the command that finds it late;
- once resolved or closed, the clocks still running stop (`SlaStopped`): a ticket
  solved without a reply is not breached later (a re-match starts them again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sav.events.rules import DONE, SYSTEM, Side, Status
from sav.events.ticket import Ticket
from sav.sla import calendar as cal
from sav.sla import state as sla
from sav.sla.state import FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION


@dataclass(frozen=True)
class Config:
    """The calendar and the policies in matching order, as the API stores them."""

    calendar: dict[str, Any] = field(default_factory=lambda: cal.DEFAULT.as_json())
    policies: tuple[dict[str, Any], ...] = ()


def key_of(ticket: Ticket) -> tuple[str, str | None]:
    """What matching depends on."""
    return str(ticket.priority), ticket.category


def matches(policy: dict[str, Any], priority: str, category: str | None) -> bool:
    wanted_priorities = policy.get("priority")
    wanted_categories = policy.get("category")
    return ((not wanted_priorities or priority in wanted_priorities)
            and (not wanted_categories or category in wanted_categories))


def match(policies: tuple[dict[str, Any], ...], priority: str,
          category: str | None) -> dict[str, Any] | None:
    return next((p for p in policies if matches(p, priority, category)), None)


def _calendar(state: sla.State) -> cal.Calendar | None:
    return cal.parse(state["calendar"]) if state.get("business_hours") else None


def _trigger(ticket: Ticket, event_class: type, **values: Any) -> None:
    ticket.trigger_event(event_class, actor=SYSTEM.ref(), **values)


def _state(ticket: Ticket) -> sla.State | None:
    return getattr(ticket, "sla_state", None)


def follow(ticket: Ticket, config: Callable[[], Config], now: datetime,
           rematch: bool = False) -> None:
    """Trigger the SLA events this ticket's state calls for (none most of the time).
    `config` is read only when the ticket has to be matched."""
    if rematch:
        _match(ticket, config(), now)
    state = _state(ticket)
    if state is None or state.get("policy") is None:
        return
    if state.get("stopped"):
        return
    _resolution(ticket, now)
    _responses(ticket, now)
    _breaches(ticket, now)
    if ticket.status in DONE and sla.pending(_state(ticket)):
        _trigger(ticket, Ticket.SlaStopped)


def _match(ticket: Ticket, config: Config, now: datetime) -> None:
    state = _state(ticket)
    priority, category = key_of(ticket)
    policy = match(config.policies, priority, category)
    if policy is None:
        if state is not None and state.get("policy") is not None:
            _trigger(ticket, Ticket.SlaApplied, policy=None, business_hours=False,
                     calendar=None, targets={}, matched_on=[priority, category],
                     due=dict.fromkeys(sla.METRICS))
        return
    business = bool(policy.get("business_hours"))
    calendar_json = config.calendar if business else None
    calendar = cal.parse(calendar_json) if calendar_json is not None else None
    targets = {metric: policy.get(f"{metric}_minutes") for metric in sla.METRICS}
    old = state or {}
    done, old_due = old.get("done", {}), old.get("due", {})
    start = ticket.created_on
    paused = float(old.get("paused_seconds") or 0.0)
    due: dict[str, str | None] = {}
    for metric in sla.METRICS:
        minutes = targets[metric]
        if metric in done and metric != NEXT_RESPONSE:
            due[metric] = old_due.get(metric)  # decided: its due time stays as it was
        elif minutes is None:
            due[metric] = None
        elif metric == NEXT_RESPONSE:
            since = old.get("next_since") if NEXT_RESPONSE not in done else None
            due[metric] = (sla.text(cal.add(calendar, datetime.fromisoformat(since),
                                            minutes * 60)) if since else None)
        else:
            extra = paused if metric == RESOLUTION else 0.0
            due[metric] = sla.text(cal.add(calendar, start, minutes * 60 + extra))
    if old.get("policy") == policy["name"] and old.get("due") == due:
        return
    _trigger(ticket, Ticket.SlaApplied, policy=policy["name"], business_hours=business,
             calendar=calendar_json, targets=targets, matched_on=[priority, category],
             due=due)


def _fulfil(ticket: Ticket, metric: str, now: datetime) -> None:
    """The metric's condition holds: met, unless its due time passed first."""
    state = _state(ticket)
    assert state is not None
    due = state["due"].get(metric)
    late = due is not None and datetime.fromisoformat(due) < now
    if late and not (metric == RESOLUTION and state["paused"]):
        _trigger(ticket, Ticket.SlaBreached, metric=metric, due_at=due,
                 policy=state["policy"])
    else:
        _trigger(ticket, Ticket.SlaMet, metric=metric, due_at=due)


def _resolution(ticket: Ticket, now: datetime) -> None:
    state = _state(ticket)
    assert state is not None
    running = state["due"].get(RESOLUTION) is not None and RESOLUTION not in state["done"]
    if not running:
        return
    if ticket.status in DONE:
        _fulfil(ticket, RESOLUTION, now)
    elif ticket.status == Status.WAITING and not state["paused"]:
        due = sla.moment(state["due"][RESOLUTION])
        assert due is not None
        if due <= now:
            return  # already late: `_breaches` breaks it rather than pausing it
        _trigger(ticket, Ticket.SlaPaused, remaining=cal.elapsed(_calendar(state), now, due))
    elif ticket.status != Status.WAITING and state["paused"]:
        calendar = _calendar(state)
        paused_at = _paused_at(ticket)
        spent = cal.elapsed(calendar, paused_at, now) if paused_at else 0.0
        due_at = cal.add(calendar, now, float(state["remaining"] or 0.0))
        _trigger(ticket, Ticket.SlaResumed, resolution_due_at=sla.text(due_at),
                 paused_seconds=float(state.get("paused_seconds") or 0.0) + spent)


def _paused_at(ticket: Ticket) -> datetime | None:
    """When the running pause began (the pause event's time)."""
    state = _state(ticket)
    return sla.moment(state.get("paused_at")) if state else None


def _last_public_side(ticket: Ticket) -> Side | None:
    for message in reversed(ticket.messages.values()):
        if not message.is_internal:
            return message.side
    return None


def _responses(ticket: Ticket, now: datetime) -> None:
    state = _state(ticket)
    assert state is not None
    if (state["due"].get(FIRST_RESPONSE) is not None and FIRST_RESPONSE not in state["done"]
            and ticket.first_response_at is not None):
        _fulfil(ticket, FIRST_RESPONSE, now)
    state = _state(ticket)
    assert state is not None
    last = _last_public_side(ticket)
    running = state["due"].get(NEXT_RESPONSE) is not None and NEXT_RESPONSE not in state["done"]
    if running and last == Side.STAFF:
        _fulfil(ticket, NEXT_RESPONSE, now)
    elif (not running and last == Side.CUSTOMER and ticket.first_response_at is not None
          and state["targets"].get(NEXT_RESPONSE)
          and state["done"].get(NEXT_RESPONSE) != sla.BREACHED
          and ticket.status not in DONE):
        due = cal.add(_calendar(state), now, state["targets"][NEXT_RESPONSE] * 60)
        _trigger(ticket, Ticket.SlaClockStarted, metric=NEXT_RESPONSE,
                 due_at=sla.text(due), since=sla.text(now))


def _breaches(ticket: Ticket, now: datetime) -> None:
    state = _state(ticket)
    for metric, due in sorted(sla.pending(state).items(), key=lambda item: item[1]):
        if due <= now:
            assert state is not None
            _trigger(ticket, Ticket.SlaBreached, metric=metric,
                     due_at=state["due"][metric], policy=state["policy"])
