"""One error body for every 4xx/5xx on every surface, mapped in one place:

{"error": {"code": "...", "message": "...", "details": ..., "request_id": "..."}}
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from sqlalchemy.exc import DBAPIError

from app.request_id import current_request_id
from backend.errors import DomainError

log = logging.getLogger("chengguan.errors")

STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ErrorDetail(msgspec.Struct):
    code: str
    message: str
    # Plain ``Any`` (null included): ``Any | None`` becomes ``oneOf: [{}, {type: null}]`` in OpenAPI,
    # which a null matches twice — so every error without details failed its own schema.
    details: Any
    request_id: str


class ErrorBody(msgspec.Struct):
    """The body of every error response."""

    error: ErrorDetail


# Statuses any operation can answer with (the mapper below, guards, the body limit), each with the
# one error body. Declared on every operation by ``DocumentedErrors``; a handler's own ``responses=``
# for the same status wins (a more specific description).
DOCUMENTED_ERRORS: dict[int, str] = {
    400: "Malformed body or a parameter that fails validation",
    401: "Missing or invalid credentials",
    403: "The caller's role may not do this",
    404: "No such resource, or not the caller's",
    409: "Conflicts with the current state",
    413: "Request body is too large",
    422: "Well-formed but not acceptable",
    429: "Too many requests",
    500: "Internal server error",
}


class DocumentedErrors(ReceiveRoutePlugin):
    """Documents the error body for every status in ``DOCUMENTED_ERRORS`` on every operation, so a
    client (and the schema fuzzer) knows each 4xx/5xx and its shape without each handler listing them.
    It also replaces Litestar's own 400 schema, which describes a body we never send."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            documented = {
                status: ResponseSpec(data_container=ErrorBody, description=text, generate_examples=False)
                for status, text in DOCUMENTED_ERRORS.items()
            }
            handler.responses = {**documented, **(handler.responses or {})}


def error_response(status: int, code: str, message: str, details: Any = None, headers: Any = None) -> Response[Any]:
    body = ErrorBody(ErrorDetail(code=code, message=message, details=details, request_id=current_request_id()))
    return Response(
        content=msgspec.to_builtins(body),
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


# PostgreSQL refuses text it cannot store — NUL above all, which JSON carries as "\u0000" and
# msgspec accepts in any str. Whichever field or parameter brought it, the client sent it: a 400.
UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})  # character_not_in_repertoire, untranslatable
# deadlock_detected, serialization_failure: two requests wrote the same rows in opposite orders (say,
# merging case A into B while someone merges B into A). PostgreSQL rolled one back; trying again works.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def _validation_details(exc: ValidationException) -> Any:
    extra = exc.extra
    if isinstance(extra, list):
        return [
            {k: v for k, v in item.items() if k in {"key", "message", "source"}} if isinstance(item, dict) else item
            for item in extra
        ]
    return extra


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, DomainError):
        return error_response(exc.status_hint, exc.code, exc.message, exc.details)
    if isinstance(exc, ValidationException):
        return error_response(400, "validation_failed", str(exc.detail), _validation_details(exc))
    if isinstance(exc, NotFoundException):
        return error_response(404, "not_found", "No such resource" if exc.detail == "Not Found" else exc.detail)
    if isinstance(exc, MethodNotAllowedException):
        return error_response(405, "method_not_allowed", exc.detail, headers=exc.headers)
    if isinstance(exc, HTTPException):
        status = exc.status_code
        if status >= 500:
            log.error("server error %s on %s %s: %s", status, request.method, request.url.path, exc.detail)
            return error_response(status, STATUS_CODES.get(status, "internal_error"), "Internal server error")
        message = exc.detail
        code = STATUS_CODES.get(status, "client_error")
        if status == 400 and isinstance(exc.__cause__, SerializationException | msgspec.DecodeError):
            code = "malformed_body"
            message = f"Request body is not valid JSON: {exc.detail}"
        if status == 413:
            message = "Request body is too large"
        return error_response(status, code, message, exc.extra or None, headers=exc.headers)
    if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in UNSTORABLE_TEXT_SQLSTATES:
        return error_response(400, "validation_failed", "Text contains a character that cannot be stored (such as NUL)")
    if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        log.warning("concurrent update on %s %s: %s", request.method, request.url.path, exc.orig)
        return error_response(
            409,
            "concurrent_update",
            "Someone else changed the same records at the same moment; nothing was saved, try again",
            headers={"Retry-After": "1"},
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "Internal server error")
