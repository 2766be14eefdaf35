"""Query strings, each declared once on its route as a pydantic model: `/openapi.json`
documents the declaration, and the same declaration validates the query string (a bad
value is a 422 whose `details` name the field).

    @bp.get("/events")
    @query(FeedQuery)
    async def feed_route(request: Request, query: FeedQuery) -> HTTPResponse: ...
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, get_args

from pydantic import BaseModel
from sanic import Blueprint, HTTPResponse, Request

from sav.api.errors import ApiError

M = TypeVar("M", bound=BaseModel)
Handler = Callable[..., Awaitable[HTTPResponse | None]]


def query(model: type[M]) -> Callable[[Handler], Handler]:
    """The query string, validated into `model` before the handler runs; the handler
    gets it as `query`. A repeated parameter counts once; unknown ones are refused on list
    routes (`strict_lists`)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def route(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse | None:
            return await handler(request, *args, **kwargs, query=parse_query(model, request))

        route.sav_query = model  # type: ignore[attr-defined]
        return route

    return decorate


def declared_query(handler: Any) -> type[BaseModel] | None:
    """The query model a route declared (validated by `query`, or read by hand and
    documented by `sav.api.openapi.documents_query`)."""
    return getattr(handler, "sav_query", None) or getattr(handler, "sav_documented_query", None)


def is_list(handler: Any) -> bool:
    """A list route: its declared query pages (`limit`)."""
    model = declared_query(handler)
    return model is not None and "limit" in model.model_fields


def strict_lists(blueprint: Blueprint) -> Blueprint:
    """Every route of the blueprint that declares its query string (the lists, and the
    others: time travel, the event export, statistics...) refuses a query parameter it
    does not declare (422 naming it): a misspelt filter must not silently return
    everything, nor `?verison=3` the ticket as it is now (issue 19: the document says
    which parameters there are). Applied once at registration, like
    `sav.api.idempotency.idempotent_posts` (idempotent itself)."""
    futures: set[Any] = blueprint._future_routes
    blueprint._future_routes = {
        future._replace(handler=strict(future.handler))
        if "GET" in (future.methods or ()) and declared_query(future.handler) is not None
        and not getattr(future.handler, "sav_strict", False)
        else future
        for future in futures
    }
    return blueprint


def strict(handler: Handler) -> Handler:
    model = declared_query(handler)
    assert model is not None
    known = frozenset(field.alias or name for name, field in model.model_fields.items())

    @functools.wraps(handler)
    async def route(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse | None:
        if request.query_string:  # none at all: nothing unknown (the hot paths)
            refuse_unknown(request, known)
        return await handler(request, *args, **kwargs)

    route.sav_strict = True  # type: ignore[attr-defined]
    return route


def refuse_unknown(request: Request, known: frozenset[str]) -> None:
    given = {name for name, _ in request.get_query_args(keep_blank_values=True)}
    unknown = sorted(given - known)
    if unknown:
        raise ApiError(422, "validation_failed",
                       f"unknown query parameter: {', '.join(unknown)}",
                       [{"field": name, "message": "unknown query parameter"}
                        for name in unknown])


def parse_query(model: type[M], request: Request) -> M:
    if not request.query_string and model.model_config.get("frozen"):
        return _defaults(model)  # no query string: nothing to validate (hot paths)
    # Blank values count (`ticket_id=` is not "every ticket", `format=` not the default):
    # validated like any other, as the document describes them.
    given: dict[str, str] = {}
    for name, value in request.get_query_args(keep_blank_values=True):
        given.setdefault(name, value)
    for name, grammar in _numbers(model).items():
        if name in given and not grammar.match(given[name]):
            raise ApiError(422, "validation_failed", f"{name} must be a number as JSON "
                           "writes it", [{"field": name, "message": "not a JSON number"
                                          if grammar is JSON_NUMBER else "not an integer"}])
    return model.model_validate(given)


# Numbers in a query string as JSON writes them (what the document's `integer` and
# `number` mean): pydantic alone would also take ` 5`, `+5`, `5.0` for an integer, `1_0`.
JSON_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")


@functools.cache
def _numbers(model: type[BaseModel]) -> dict[str, re.Pattern[str]]:
    """The grammar of each numeric field of `model`, by its name in the query string."""
    found = {}
    for name, field in model.model_fields.items():
        kinds = set(get_args(field.annotation)) or {field.annotation}
        if int in kinds or float in kinds:
            found[field.alias or name] = JSON_INTEGER if int in kinds else JSON_NUMBER
    return found


@functools.cache
def _defaults(model: type[M]) -> M:
    """A frozen model's instance when nothing is given (shared: it cannot change)."""
    return model.model_validate({})


def query_parameters(handler: Any) -> list[dict[str, Any]]:
    """The OpenAPI `parameters` (in: query) a route handler declared, if any."""
    model: type[BaseModel] | None = getattr(handler, "sav_query", None)
    if model is None:
        return []
    properties = model.model_json_schema()["properties"]
    return [
        {"name": name, "in": "query", "required": field.is_required(),
         "description": field.description or "",
         "schema": {k: v for k, v in properties[name].items()
                    if k not in ("title", "description")}}
        for name, field in model.model_fields.items()
    ]
