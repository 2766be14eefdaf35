"""Agent roster routes: `PUT /agents/{agent_id}`, `GET /agents` (admins) and
`GET /agents/{agent_id}` (staff: an agent reads a colleague an assignment names)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from sav.api import http, schemas
from sav.api.auth import current_actor
from sav.api.body import body
from sav.api.errors import ApiError
from sav.api.openapi import documents_query, responds
from sav.commands.actor import Actor
from sav.commands.agents import UpsertAgent, upsert_agent
from sav.projections.agents import agent_json, find_agent, list_agents

bp = Blueprint("agents")


def require_admin(request: Request) -> Actor:
    actor = current_actor(request)
    if not actor.is_admin:
        raise ApiError(403, "forbidden", "only admins manage the agent roster")
    return actor


def active_filter(request: Request) -> bool | None:
    raw = http.first_arg(request, "active")
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise ApiError(422, "validation_failed", "active must be true or false",
                       [{"field": "active", "message": "not a boolean"}])
    return raw.lower() == "true"


@bp.put("/agents/<agent_id:str>", unquote=True)
@responds(200, schemas.Agent, description="changed")
@responds(201, schemas.Agent, description="registered")
@body(UpsertAgent)
async def put_agent_route(request: Request, agent_id: str, cmd: UpsertAgent) -> HTTPResponse:
    """Register an agent (201) or change its name, email or active flag (200)."""
    actor = require_admin(request)
    outcome = await http.command_pool(request).run(upsert_agent, actor, agent_id, cmd)
    await http.wait_until_visible(request, outcome.position, {"agent_id": outcome.agent_id})
    async with http.reads(request).connect() as conn:
        row = await find_agent(conn, outcome.agent_id)
    if row is None:  # The read model did not catch up in time.
        raise ApiError(503, "dependency_unavailable", "the roster is not up to date yet")
    return http.json(agent_json(row), status=201 if outcome.created else 200)


@bp.get("/agents/<agent_id:str>", unquote=True)
@responds(200, schemas.Agent)
async def get_agent_route(request: Request, agent_id: str) -> HTTPResponse:
    """One agent of the roster with its open workload (agents, admins and analysts: the
    name behind a ticket's `assigned_to`); 404 for an id never registered."""
    actor = current_actor(request)
    if not (actor.is_staff or actor.read_only):
        raise ApiError(403, "forbidden", "customers may not read the agent roster")
    async with http.reads(request).connect() as conn:
        row = await find_agent(conn, agent_id)
    if row is None:
        raise ApiError(404, "not_found", "agent not found")
    return http.json(agent_json(row))


@bp.get("/agents")
@responds(200, schemas.AgentPage)
@documents_query(schemas.AgentListQuery)
async def list_agents_route(request: Request) -> HTTPResponse:
    """The roster with each agent's open workload (filter: active=true|false)."""
    require_admin(request)
    limit, cursor = http.pagination(request)
    active = active_filter(request)
    async with http.reads(request).connect() as conn:
        rows, next_cursor = await list_agents(conn, limit, cursor, active)
    return http.json(http.page([agent_json(row) for row in rows], limit, next_cursor))
