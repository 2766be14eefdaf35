"""Service-level routes (issue 23): the business calendar (`/sla/calendar`) and the
policies (`/sla/policies`, `/sla/policies/{name}`). Staff read them, admins change
them; every route checks the caller before the body or the name. They read the
configuration's own streams (`sav.sla.config`), so a change is seen at once."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sanic import Blueprint, HTTPResponse, Request

from sav.api import http, schemas
from sav.api.auth import current_actor
from sav.api.body import JsonBody, deferred_body
from sav.api.errors import ApiError
from sav.api.openapi import responds
from sav.commands.actor import Actor
from sav.sla import calendar as cal
from sav.sla.commands import (
    PolicyBody,
    checked_name,
    delete_policy,
    policy_json,
    put_calendar,
    put_policy,
)
from sav.sla.config import calendar_json, policies

bp = Blueprint("sla")


class CalendarBody(BaseModel):
    """The business calendar: an IANA time zone, opening hours per weekday (local
    times, "24:00" allowed as an end; a day left out is closed) and holidays."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(default="UTC", examples=["Europe/Paris"])
    hours: dict[str, list[list[str]]] | None = Field(
        default=None, examples=[{"mon": [["09:00", "18:00"]], "sun": []}],
        description="mon..sun -> [[start, end], ...]; absent: every day 00:00-24:00")
    holidays: list[str] = Field(default_factory=list, examples=[["2026-12-25"]],
                                description="local dates YYYY-MM-DD, closed all day")


class SlaCalendar(schemas.Shape):
    timezone: str
    hours: dict[str, list[list[str]]]
    holidays: list[str]


class SlaPolicy(schemas.Shape):
    name: str
    priority: list[str] | None
    category: list[str] | None
    position: int
    first_response_minutes: float
    next_response_minutes: float | None
    resolution_minutes: float
    business_hours: bool


class SlaPolicyList(schemas.Shape):
    data: list[SlaPolicy]


def _staff(request: Request) -> Actor:
    actor = current_actor(request)
    if not actor.sees_internal:  # agents, admins, analysts
        raise ApiError(403, "forbidden", "only staff read service levels")
    return actor


def _admin(request: Request) -> Actor:
    actor = current_actor(request)
    if not actor.is_admin:
        raise ApiError(403, "forbidden", "only admins change service levels")
    return actor


def _name(name: str) -> str:
    try:
        return checked_name(name)
    except Exception:
        raise ApiError(404, "not_found", "policy not found") from None


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_failed", message, [{"field": field, "message": message}])


@bp.get("/sla/calendar")
@responds(200, SlaCalendar)
async def get_calendar_route(request: Request) -> HTTPResponse:
    """The business calendar (default: every day 00:00-24:00 UTC, no holidays)."""
    _staff(request)
    pool = http.command_pool(request)
    return http.json(await pool.call(calendar_json, pool.app))


@bp.put("/sla/calendar")
@responds(200, SlaCalendar)
@deferred_body(CalendarBody)
async def put_calendar_route(request: Request, body: JsonBody[CalendarBody]) -> HTTPResponse:
    """Replace the calendar. An unknown time zone or a bad interval is a 422. Tickets
    already matched keep the calendar recorded with their due times."""
    actor = _admin(request)
    cmd = body.parse(request)
    raw: dict[str, Any] = cmd.model_dump(exclude_unset=True)
    try:
        cal.parse(raw)
    except cal.CalendarError as error:
        field = "timezone" if "zone" in str(error) else "hours" if "hours" in str(
            error) or "time" in str(error) else "holidays"
        raise _invalid(field, str(error)) from None
    stored = await http.command_pool(request).run(put_calendar, actor, raw)
    return http.json(stored)


@bp.get("/sla/policies")
@responds(200, SlaPolicyList)
async def list_policies_route(request: Request) -> HTTPResponse:
    """Every policy in matching order (`position`, then name)."""
    _staff(request)
    pool = http.command_pool(request)
    found = await pool.call(policies, pool.app)
    return http.json({"data": [policy_json(p["name"], p) for p in found]})


@bp.get("/sla/policies/<name:str>")
@responds(200, SlaPolicy)
async def get_policy_route(request: Request, name: str) -> HTTPResponse:
    """One policy."""
    _staff(request)
    name = _name(name)
    pool = http.command_pool(request)
    found = next((p for p in await pool.call(policies, pool.app) if p["name"] == name), None)
    if found is None:
        raise ApiError(404, "not_found", "policy not found")
    return http.json(policy_json(name, found))


@bp.put("/sla/policies/<name:str>")
@responds(200, SlaPolicy, description="replaced")
@responds(201, SlaPolicy, description="created")
@deferred_body(PolicyBody)
async def put_policy_route(request: Request, name: str, body: JsonBody[PolicyBody]
                           ) -> HTTPResponse:
    """Create (201) or replace (200) a policy. It applies to tickets matched from now
    on (created, or their priority or category changed); matched ones keep theirs."""
    actor = _admin(request)
    name = _name(name)
    cmd = body.parse(request)
    created, stored = await http.command_pool(request).run(put_policy, actor, name, cmd)
    return http.json(policy_json(name, stored), status=201 if created else 200)


@bp.delete("/sla/policies/<name:str>")
@responds(200, schemas.Deleted)
async def delete_policy_route(request: Request, name: str) -> HTTPResponse:
    """Delete a policy; tickets it was applied to keep their due times."""
    actor = _admin(request)
    name = _name(name)
    await http.command_pool(request).run(delete_policy, actor, name)
    return http.json({"success": True, "message": "policy deleted", "id": name})
