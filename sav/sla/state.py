"""A ticket's SLA state and its transitions: pure, shared by the aggregate (which
decides on it), the read model's fold (which shows it) and time travel.

The state is plain JSON (snapshots and the `sla_state` column keep it as is):

- `policy`, `business_hours`, `calendar` (the calendar's JSON when the policy counts
  business hours, as it was when applied), `targets` (minutes per metric),
  `matched_on` ([priority, category]);
- `due`: metric -> the UTC instant it is due (ISO text), None when not running;
- `done`: metric -> "met" or "breached" (a metric is decided once; the next-response
  clock starts again on the next customer message after a met reply);
- `breaches`: metrics in the order they broke; `paused` with the resolution's
  `remaining` seconds of open time (since `paused_at`); `paused_seconds`: the total
  open time spent paused;
  `next_since`: when the running next-response clock started; `stopped`: the ticket
  was resolved or closed, the clocks still running then stopped (neither met nor
  breached) until a re-match.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from typing_extensions import TypedDict  # pydantic documents it (Python 3.11)

FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION = "first_response", "next_response", "resolution"
METRICS = (FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION)
MET, BREACHED = "met", "breached"

State = dict[str, Any]


class SlaView(TypedDict):
    """The `sla` object of a staff view of a ticket."""

    policy: str
    first_response_due_at: str | None
    next_response_due_at: str | None
    resolution_due_at: str | None
    breaches: list[str]
    paused: bool


def text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def applied(state: State | None, data: dict[str, Any]) -> State:
    """A policy (or none: `policy` None) matched; what was decided and broken stays."""
    old = state or {}
    return {
        "policy": data["policy"], "business_hours": data["business_hours"],
        "calendar": data["calendar"], "targets": dict(data["targets"]),
        "matched_on": list(data["matched_on"]), "due": dict(data["due"]),
        "done": dict(old.get("done", {})), "breaches": list(old.get("breaches", [])),
        "paused": False, "remaining": None, "paused_at": None,
        "paused_seconds": old.get("paused_seconds", 0.0),
        "next_since": old.get("next_since") if data["due"].get(NEXT_RESPONSE) else None,
    }


def paused(state: State, remaining: float | None, at: str | None) -> State:
    return {**state, "paused": True, "remaining": remaining, "paused_at": at}


def resumed(state: State, resolution_due_at: str | None, paused_seconds: float) -> State:
    due = {**state["due"], RESOLUTION: resolution_due_at}
    return {**state, "paused": False, "remaining": None, "paused_at": None, "due": due,
            "paused_seconds": paused_seconds}


def clock_started(state: State, metric: str, due_at: str, since: str) -> State:
    done = {k: v for k, v in state["done"].items() if k != metric}
    return {**state, "due": {**state["due"], metric: due_at}, "done": done,
            "next_since": since}


def met(state: State, metric: str) -> State:
    new = {**state, "done": {**state["done"], metric: MET}}
    if metric == RESOLUTION:
        new.update(paused=False, remaining=None, paused_at=None)
    return new


def breached(state: State, metric: str) -> State:
    return {**state, "done": {**state["done"], metric: BREACHED},
            "breaches": [*state["breaches"], metric]}


def stopped(state: State) -> State:
    return {**state, "stopped": True}


def pending(state: State | None) -> dict[str, datetime]:
    """The running clocks: metric -> due instant (a paused resolution is not running,
    and nothing runs once the ticket was resolved or closed)."""
    if not state or state.get("policy") is None or state.get("stopped"):
        return {}
    running = {}
    for metric in METRICS:
        due = state["due"].get(metric)
        if due is None or metric in state["done"]:
            continue
        if metric == RESOLUTION and state["paused"]:
            continue
        running[metric] = datetime.fromisoformat(due)
    return running


def next_due(state: State | None) -> datetime | None:
    dues = pending(state).values()
    return min(dues) if dues else None


def view(state: State | None) -> SlaView | None:
    """The `sla` object of a staff view; null when no policy applies."""
    if not state or state.get("policy") is None:
        return None
    due = state["due"]
    return {"policy": state["policy"],
            "first_response_due_at": due.get(FIRST_RESPONSE),
            "next_response_due_at": due.get(NEXT_RESPONSE),
            "resolution_due_at": due.get(RESOLUTION),
            "breaches": list(state["breaches"]), "paused": bool(state["paused"])}
