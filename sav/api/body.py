"""Request bodies, each declared once on its route: `/openapi.json` documents the
declaration, and the same declaration validates (JSON) or reads (multipart) the body.

    @bp.post("/tickets")
    @body(CreateTicket)
    async def create_route(request: Request, cmd: CreateTicket) -> HTTPResponse: ...
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import orjson
from pydantic import BaseModel
from sanic import HTTPResponse, Request

from sav.api.errors import ApiError
from sav.api.uploads import UploadForm, read_upload_form

M = TypeVar("M", bound=BaseModel)
Handler = Callable[..., Awaitable[HTTPResponse]]
SCHEMA_REF = "#/components/schemas/{model}"


class RequestBody(Protocol):
    def openapi(self, schemas: dict[str, Any]) -> dict[str, Any]:
        """The operation's `requestBody`; shared schemas are added to `schemas`."""
        ...


@dataclass(frozen=True)
class JsonBody(Generic[M]):
    model: type[M]
    allow_empty: bool = False

    def parse(self, request: Request) -> M:
        """Decode a JSON object body into the model: 400 if not JSON, 422 if not valid."""
        raw = request.body
        if not raw or not raw.strip():
            if self.allow_empty:
                return self.model.model_validate({})
            raise ApiError(400, "bad_request", "a JSON body is required")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ApiError(400, "bad_request", "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_request", "the body must be a JSON object")
        return self.model.model_validate(data)

    def openapi(self, schemas: dict[str, Any]) -> dict[str, Any]:
        schema = self.model.model_json_schema(ref_template=SCHEMA_REF)
        # Enumerations become `$defs`: shared components, so every `$ref` resolves.
        schemas.update(schema.pop("$defs", {}))
        return {"required": not self.allow_empty,
                "content": {"application/json": {"schema": schema}}}


@dataclass(frozen=True)
class MultipartBody:
    """An upload: `max_files` files in `file_field`, plus small text fields."""

    file_field: str
    max_files: int
    text_fields: tuple[str, ...] = ("message_id",)

    async def read(self, request: Request, max_file_bytes: int) -> UploadForm:
        return await read_upload_form(request, file_field=self.file_field,
                                      text_fields=set(self.text_fields),
                                      max_files=self.max_files, max_file_bytes=max_file_bytes)

    def openapi(self, schemas: dict[str, Any]) -> dict[str, Any]:
        binary = {"type": "string", "format": "binary"}
        files = binary if self.max_files == 1 else {"type": "array", "items": binary}
        properties = {self.file_field: files,
                      **{name: {"type": "string"} for name in self.text_fields}}
        return {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": [self.file_field], "properties": properties}}}}


def body(model: type[M], *, allow_empty: bool = False) -> Callable[[Handler], Handler]:
    """A JSON body, validated before the handler runs; the handler gets it as `cmd`."""
    declared = JsonBody(model, allow_empty)
    return _declare(declared, "cmd", declared.parse)


def deferred_body(model: type[M]) -> Callable[[Handler], Handler]:
    """A JSON body the handler validates itself, when it is ready, with
    `body.parse(request)`: the public routes check the access token first."""
    declared = JsonBody(model)
    return _declare(declared, "body")


def multipart_body(file_field: str, *, max_files: int) -> Callable[[Handler], Handler]:
    """A multipart upload; the handler gets the declaration as `form` and streams the
    body in with `form.read(request, max_file_bytes)` once it has checked the caller."""
    declared = MultipartBody(file_field, max_files)
    return _declare(declared, "form")


def request_body(handler: Any) -> RequestBody | None:
    """What a route handler declared about its body, if anything."""
    return getattr(handler, "sav_request_body", None)


def _declare(declared: RequestBody, keyword: str,
             parse: Callable[[Request], Any] | None = None) -> Callable[[Handler], Handler]:
    """Mark the handler with the declaration; pass it `keyword=`: the parsed body, or
    (no `parse`) the declaration itself, for the handler to read when it is ready."""
    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def route(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            value = declared if parse is None else parse(request)
            return await handler(request, *args, **kwargs, **{keyword: value})

        route.sav_request_body = declared  # type: ignore[attr-defined]
        return route

    return decorate
