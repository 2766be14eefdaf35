"""The single map from errors to HTTP responses: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from eventsourcing.persistence import OperationalError as StoreOperationalError
from pydantic import ValidationError
from sanic import HTTPResponse, Request
from sanic.exceptions import SanicException
from sanic.handlers import ErrorHandler
from sqlalchemy import exc as sa_exc

from sav.commands.attachments import AttachmentTooLargeError, UnsupportedFileTypeError
from sav.events import errors as domain
from sav.storage import BlobStoreError

log = logging.getLogger("sav.api")

STATUS_BY_DOMAIN_ERROR: list[tuple[type[domain.DomainError], int]] = [
    (domain.NotFoundError, 404),
    (domain.PermissionDeniedError, 403),
    (domain.PreconditionFailedError, 412),
    (domain.InvalidTransitionError, 409),
    (domain.ConflictError, 409),
    (AttachmentTooLargeError, 413),
    (UnsupportedFileTypeError, 415),
    (domain.RuleViolationError, 422),
]


class ApiError(Exception):
    """An HTTP-level failure raised by the edge (auth, parsing, limits)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers or {}


class DependencyDownError(Exception):
    """A backing service (database, blob store, broker) cannot be reached: 503."""


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> HTTPResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return HTTPResponse(orjson.dumps(body), status=status, headers=headers,
                        content_type="application/json")


def validation_details(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in item["loc"]), "message": item["msg"]}
        for item in error.errors(include_url=False, include_input=False)
    ]


SANIC_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 408: "request_timeout", 413: "payload_too_large",
               416: "range_not_satisfiable", 503: "service_unavailable"}


class SavErrorHandler(ErrorHandler):
    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        return to_response(exception)


def to_response(exception: BaseException) -> HTTPResponse:
    if isinstance(exception, ApiError):
        return error_response(exception.status, exception.code, exception.message,
                              exception.details, exception.headers)
    if isinstance(exception, domain.DomainError):
        for cls, status in STATUS_BY_DOMAIN_ERROR:
            if isinstance(exception, cls):
                return error_response(status, exception.code, exception.message,
                                      exception.details)
    if isinstance(exception, ValidationError):
        return error_response(422, "validation_failed", "the request is not valid",
                              validation_details(exception))
    if isinstance(exception, SanicException):
        status = exception.status_code or 500
        if status < 500 or status == 503:
            return error_response(status, SANIC_CODES.get(status, "http_error"),
                                  str(exception.message or exception))
    if isinstance(exception, DependencyDownError | BlobStoreError | sa_exc.OperationalError |
                  sa_exc.InterfaceError | StoreOperationalError | ConnectionError):
        log.warning("dependency down: %s", exception)
        return error_response(503, "dependency_unavailable", "a backing service is unavailable")
    log.error("unhandled error", exc_info=exception)
    return error_response(500, "internal_error", "internal server error")
