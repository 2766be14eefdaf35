"""The SLA configuration's commands (admins) and reads, on the event store.

The calendar and the policies are two streams with fixed ids (`sav.events.sla`): they
are read straight from the store, with the repository's cache, when a ticket has to be
matched or when the API shows them; there is no read table to keep in step.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from sav.commands.actor import Actor
from sav.commands.admin_streams import require_admin, save_retrying
from sav.commands.app import SavApplication
from sav.commands.messages import integral
from sav.commands.policy import command_handler
from sav.events.errors import NotFoundError
from sav.events.rules import Priority
from sav.events.sla import CALENDAR_ID, POLICIES_ID, SlaCalendar, SlaPolicies
from sav.sla import calendar as cal
from sav.sla.config import get_aggregate

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# A target is at most a year, in minutes (fractions allowed: tests use seconds).
MAX_MINUTES = 366 * 24 * 60
Category = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class PolicyBody(BaseModel):
    """`PUT /sla/policies/{name}`: when a policy applies and its targets."""

    model_config = ConfigDict(extra="forbid")

    priority: list[Priority] | None = Field(
        default=None, max_length=4, description="the priorities it applies to (all if absent)")
    category: list[Category] | None = Field(
        default=None, max_length=100,
        description="the categories it applies to (all if absent)")
    # Strict: JSON's `true` is not a number (pydantic's lax mode read it as 1); `2.0` is
    # the integer 2 (JSON Schema's rule), a whole number a valid float (issue 19).
    position: Annotated[int, BeforeValidator(integral)] = Field(
        default=0, ge=-1_000_000, le=1_000_000, strict=True,
        description="lower is matched first")
    first_response_minutes: float = Field(gt=0, le=MAX_MINUTES, strict=True)
    next_response_minutes: float | None = Field(default=None, gt=0, le=MAX_MINUTES,
                                                 strict=True)
    resolution_minutes: float = Field(gt=0, le=MAX_MINUTES, strict=True)
    business_hours: bool = Field(default=False, strict=True,
                                 description="count only the calendar's open hours")

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def checked_name(name: str) -> str:
    if not NAME.match(name):
        raise NotFoundError("policy not found")
    return name


@command_handler
def put_calendar(app: SavApplication, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """Replace the calendar (422 `CalendarError` for an unknown zone or a bad interval)."""
    require_admin(actor, "service levels")
    calendar = cal.parse(body).as_json()

    def change() -> tuple[Any, dict[str, Any]]:
        found = get_aggregate(app, CALENDAR_ID)
        if found is None:
            return SlaCalendar(id=CALENDAR_ID, calendar=calendar, actor=actor.who.ref()), calendar
        found.change(calendar, actor=actor.who.ref())
        return found, calendar

    return save_retrying(app, change)


@command_handler
def put_policy(app: SavApplication, actor: Actor, name: str, body: PolicyBody
               ) -> tuple[bool, dict[str, Any]]:
    """Create or replace a policy; (created, the policy)."""
    require_admin(actor, "service levels")
    name = checked_name(name)
    policy = body.stored()

    def change() -> tuple[Any, tuple[bool, dict[str, Any]]]:
        found = get_aggregate(app, POLICIES_ID)
        if found is None:
            return SlaPolicies(id=POLICIES_ID, name=name, policy=policy,
                               actor=actor.who.ref()), (True, policy)
        created = name not in found.policies
        found.put(name, policy, actor=actor.who.ref())
        return found, (created, policy)

    return save_retrying(app, change)


@command_handler
def delete_policy(app: SavApplication, actor: Actor, name: str) -> None:
    require_admin(actor, "service levels")
    name = checked_name(name)

    def change() -> tuple[Any, None]:
        found = get_aggregate(app, POLICIES_ID)
        if found is None or not found.delete(name, actor=actor.who.ref()):
            raise NotFoundError("policy not found")
        return found, None

    save_retrying(app, change)


def policy_json(name: str, policy: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, **{k: v for k, v in policy.items() if k != "name"}}
