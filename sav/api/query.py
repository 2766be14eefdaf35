"""Query strings, each declared once on its route as a pydantic model: `/openapi.json`
documents the declaration, and the same declaration validates the query string (a bad
value is a 422 whose `details` name the field).

    @bp.get("/events")
    @query(FeedQuery)
    async def feed_route(request: Request, query: FeedQuery) -> HTTPResponse: ...
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from sanic import HTTPResponse, Request

M = TypeVar("M", bound=BaseModel)
Handler = Callable[..., Awaitable[HTTPResponse | None]]


def query(model: type[M]) -> Callable[[Handler], Handler]:
    """The query string, validated into `model` before the handler runs; the handler
    gets it as `query`. Unknown parameters are ignored; a repeated one counts once."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def route(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse | None:
            return await handler(request, *args, **kwargs, query=parse_query(model, request))

        route.sav_query = model  # type: ignore[attr-defined]
        return route

    return decorate


def parse_query(model: type[M], request: Request) -> M:
    if not request.query_string and model.model_config.get("frozen"):
        return _defaults(model)  # no query string: nothing to validate (hot paths)
    return model.model_validate({name: values[0] for name, values in request.args.items()})


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
