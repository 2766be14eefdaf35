"""The single map from errors to HTTP responses: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import InternalError as StoreInternalError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from pydantic import ValidationError
from sanic import HTTPResponse, Request
from sanic.exceptions import MethodNotAllowed, RequestCancelled, SanicException
from sanic.handlers import ErrorHandler
from sqlalchemy import exc as sa_exc

from sav.api.conventions import allowed_methods, options_response
from sav.commands.attachments import AttachmentTooLargeError, UnsupportedFileTypeError
from sav.events import errors as domain
from sav.storage import BlobStoreError
from sav.storage.scanner import ScannerUnavailableError

log = logging.getLogger("sav.api")

STATUS_BY_DOMAIN_ERROR: list[tuple[type[domain.DomainError], int]] = [
    (domain.NotFoundError, 404),
    (domain.PermissionDeniedError, 403),
    (domain.PreconditionFailedError, 412),
    (domain.TicketErasedError, 409),  # before its base: the code says why
    (domain.InvalidTransitionError, 409),
    (domain.ConflictError, 409),
    (AttachmentTooLargeError, 413),
    (UnsupportedFileTypeError, 415),
    (domain.RuleViolationError, 422),
]


SCANNER_RETRY_AFTER_S = 10


class ApiError(Exception):
    """An HTTP-level failure raised by the edge (auth, parsing, limits)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers or {}


class DependencyDownError(Exception):
    """A backing service (database, blob store, broker) cannot be reached: 503."""


# A backing service that failed or went away under the request: 503 with Retry-After.
# `InternalError` is what the MySQL driver raises for a connection that lost its place in
# the protocol (a server killed mid-answer: "Packet sequence number wrong"); the pool's
# `TimeoutError` is every connection busy while a Galera node stalls.
_DEPENDENCY_DOWN = (DependencyDownError, BlobStoreError, sa_exc.OperationalError,
                    sa_exc.InterfaceError, sa_exc.InternalError, sa_exc.TimeoutError,
                    StoreOperationalError, StoreInterfaceError, StoreInternalError,
                    ConnectionError)


def dependency_down(exception: BaseException) -> bool:
    """Whether `exception` says a backing service is unreachable or dropped the
    connection (a 503), rather than a fault of SAV's (a 500)."""
    if isinstance(exception, _DEPENDENCY_DOWN):
        return True
    # SQLAlchemy marks the errors that invalidated their connection (it went away).
    return isinstance(exception, sa_exc.DBAPIError) and exception.connection_invalidated


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> HTTPResponse:
    """The envelope; `details`, when there are any, is always a list of `{field, message}`."""
    error: dict[str, Any] = {"code": code, "message": message}
    listed = detail_list(details)
    if listed:
        error["details"] = listed
    return HTTPResponse(orjson.dumps({"error": error}), status=status, headers=headers,
                        content_type="application/json")


def detail_list(details: Any) -> list[dict[str, str]]:
    """One shape for every error's details, whatever the raiser passed: a list of
    `{field, message}` stays; `{"field": f}` / `{"fields": [...]}` name fields; any
    other mapping becomes one entry per key (`{"max_bytes": 10}` → field `max_bytes`)."""
    if details is None or details == {} or details == []:
        return []
    if isinstance(details, list | tuple):
        return [entry for item in details for entry in detail_list(item)]
    if not isinstance(details, dict):
        return [{"field": "", "message": str(details)}]
    if "field" in details or "message" in details:
        entry = {"field": str(details.get("field") or ""),
                 "message": str(details.get("message") or "not valid")}
        rest = {k: v for k, v in details.items() if k not in ("field", "message")}
        return [entry, *detail_list(rest)]
    if isinstance(details.get("fields"), list | tuple):
        rest = {k: v for k, v in details.items() if k != "fields"}
        return [{"field": str(name), "message": "not allowed"} for name in details["fields"]
                ] + detail_list(rest)
    return [{"field": str(key), "message": _text(value)} for key, value in details.items()]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def validation_details(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in item["loc"]), "message": item["msg"]}
        for item in error.errors(include_url=False, include_input=False)
    ]


# nginx's "client closed request": the client went away before the answer (it is never
# sent). Counted apart in `sav_http_requests_total`, logged at info: not a server error,
# so half-sent requests cannot set off a 5xx alert.
CLIENT_CLOSED = 499

SANIC_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 408: "request_timeout", 413: "payload_too_large",
               416: "range_not_satisfiable", 431: "request_header_too_large",
               503: "service_unavailable"}
# Sanic raises PayloadTooLarge for both; the head's limit is HTTP's 431.
HEAD_TOO_LARGE = "Request header exceeds the size limit"


class SavErrorHandler(ErrorHandler):
    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, MethodNotAllowed):
            exception.allowed_methods = tuple(allowed_methods(request, exception))
            if request.method == "OPTIONS":
                return options_response(request, exception.allowed_methods)
        return to_response(exception)


def to_response(exception: BaseException) -> HTTPResponse:
    if isinstance(exception, RequestCancelled):
        log.info("the client closed the connection before the answer")
        return error_response(CLIENT_CLOSED, "client_closed_request",
                              "the client closed the connection")
    if isinstance(exception, ApiError):
        return error_response(exception.status, exception.code, exception.message,
                              exception.details, exception.headers)
    if isinstance(exception, domain.DomainError):
        for cls, status in STATUS_BY_DOMAIN_ERROR:
            if isinstance(exception, cls):
                return error_response(status, exception.code, exception.message,
                                      exception.details)
    if isinstance(exception, ScannerUnavailableError):
        return error_response(503, "scanner_unavailable", "the virus scanner is unavailable: "
                              "the upload was not stored, try again later",
                              headers={"Retry-After": str(SCANNER_RETRY_AFTER_S)})
    if isinstance(exception, ValidationError):
        return error_response(422, "validation_failed", "the request is not valid",
                              validation_details(exception))
    if isinstance(exception, SanicException):
        status = exception.status_code or 500
        message = str(exception.message or exception)
        if status == 413 and message == HEAD_TOO_LARGE:
            return error_response(431, SANIC_CODES[431], "the request head (request line and "
                                  "headers) is larger than the server accepts")
        if status == 413:
            message = "the request body is larger than this route accepts"
        headers = dict(getattr(exception, "headers", None) or {})
        if isinstance(exception, MethodNotAllowed):
            headers["Allow"] = ", ".join(sorted({*(exception.allowed_methods or ()),
                                                 "OPTIONS"}))
        if status < 500 or status == 503:
            return error_response(status, SANIC_CODES.get(status, "http_error"), message,
                                  headers=headers)
    if dependency_down(exception):
        log.warning("dependency down: %s", exception)
        return error_response(503, "dependency_unavailable", "a backing service is unavailable")
    log.error("unhandled error", exc_info=exception)
    return error_response(500, "internal_error", "internal server error")
