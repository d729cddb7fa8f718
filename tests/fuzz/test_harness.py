"""The fuzz harness itself: the schema transform, the operation filter, and proof that it fails on a
broken handler (and passes on the same app without the bug)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import msgspec
import pytest
from asgi_lifespan import LifespanManager
from litestar import Litestar, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.response import Stream

from app.errors import DocumentedErrors, handle_exception
from app.request_id import request_id_middleware
from backend.errors import Forbidden, Unauthorized
from fuzz.harness import ANONYMOUS, Budget, Caller, FuzzReport, close_response_objects, fuzzed_document, run_fuzz

# --- close_response_objects -----------------------------------------------------------------------


def _document(components: dict[str, Any], response: dict[str, Any], request: dict[str, Any] | None = None) -> Any:
    operation: dict[str, Any] = {
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": response}}}}
    }
    if request is not None:
        operation["requestBody"] = {"content": {"application/json": {"schema": request}}}
    return {"openapi": "3.1.0", "paths": {"/x": {"post": operation}}, "components": {"schemas": components}}


def _response_schema(document: Any) -> Any:
    return document["paths"]["/x"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]


@pytest.mark.parametrize(
    ("schema", "closed"),
    [
        # an inline object is closed, and so is an object nested in it
        (
            {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}}}},
            {
                "type": "object",
                "properties": {
                    "a": {"type": "object", "properties": {"b": {"type": "string"}}, "additionalProperties": False}
                },
                "additionalProperties": False,
            },
        ),
        # a declared additionalProperties (a map, or explicitly open) is kept as it is
        (
            {"type": "object", "additionalProperties": {"type": "integer"}},
            {"type": "object", "additionalProperties": {"type": "integer"}},
        ),
        ({"type": "object", "additionalProperties": True}, {"type": "object", "additionalProperties": True}),
        # objects in arrays and in oneOf branches are closed; "type" lists count
        (
            {"type": "array", "items": {"oneOf": [{"type": ["object", "null"], "properties": {}}, {"type": "string"}]}},
            {
                "type": "array",
                "items": {
                    "oneOf": [
                        {"type": ["object", "null"], "properties": {}, "additionalProperties": False},
                        {"type": "string"},
                    ]
                },
            },
        ),
        # allOf members stay open (each would reject its siblings' properties)
        (
            {"allOf": [{"type": "object", "properties": {"a": {}}}, {"type": "object", "properties": {"b": {}}}]},
            {"allOf": [{"type": "object", "properties": {"a": {}}}, {"type": "object", "properties": {"b": {}}}]},
        ),
        # non-objects and data keywords (examples that look like schemas) are untouched
        (
            {"type": "string", "examples": [{"type": "object"}]},
            {"type": "string", "examples": [{"type": "object"}]},
        ),
    ],
)
def test_close_response_objects_closes_inline_objects(schema: Any, closed: Any) -> None:
    assert _response_schema(close_response_objects(_document({}, schema))) == closed


def test_a_component_shared_with_a_request_is_closed_only_for_the_response() -> None:
    components = {"User": {"type": "object", "properties": {"name": {"type": "string"}}}}
    ref = {"$ref": "#/components/schemas/User"}
    original = _document(components, ref, request=ref)
    closed = close_response_objects(original)
    assert _response_schema(closed) == {"$ref": "#/components/schemas/User__closed"}
    assert closed["paths"]["/x"]["post"]["requestBody"]["content"]["application/json"]["schema"] == ref
    assert closed["components"]["schemas"]["User"] == components["User"]
    assert closed["components"]["schemas"]["User__closed"]["additionalProperties"] is False
    assert "User__closed" not in original["components"]["schemas"], "the input document is not modified"


def test_a_recursive_component_is_closed_once_and_refers_to_its_closed_self() -> None:
    components = {
        "Node": {
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}},
        }
    }
    closed = close_response_objects(_document(components, {"$ref": "#/components/schemas/Node"}))
    node = closed["components"]["schemas"]["Node__closed"]
    assert node["additionalProperties"] is False
    assert node["properties"]["children"]["items"] == {"$ref": "#/components/schemas/Node__closed"}


def test_only_docs_metrics_and_html_pages_are_left_out() -> None:
    def op(media: str) -> dict[str, Any]:
        return {"responses": {"200": {"description": "ok", "content": {media: {"schema": {}}}}}}

    document = {
        "openapi": "3.1.0",
        "paths": {
            "/docs/openapi.json": {"get": op("application/json")},
            "/metrics": {"get": op("text/plain")},
            "/admin/cases": {"get": op("text/html; charset=utf-8")},
            "/admin/api/stats": {"get": op("application/json")},
            "/api/admin/v1/export.csv": {"get": op("text/csv")},
            "/api/mp/v1/anything-new": {
                "get": op("application/json"),
                "post": {"responses": {"204": {"description": "x"}}},
            },
            "/open311/v2/requests.json": {"get": op("application/json")},
        },
    }
    kept = {(path, method) for path, item in fuzzed_document(document)["paths"].items() for method in item}
    assert kept == {
        ("/admin/api/stats", "get"),
        ("/api/admin/v1/export.csv", "get"),
        ("/api/mp/v1/anything-new", "get"),
        ("/api/mp/v1/anything-new", "post"),
        ("/open311/v2/requests.json", "get"),
    }


# --- the harness against a tiny app ---------------------------------------------------------------


class SplitIn(msgspec.Struct, forbid_unknown_fields=True):
    total_fen: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
    people: Annotated[int, msgspec.Meta(ge=0, le=100)]


class SplitOut(msgspec.Struct):
    each_fen: int


class Profile(msgspec.Struct):
    name: str


class SignIn(msgspec.Struct):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]


def clerks_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    token = connection.headers.get("authorization", "")
    if token not in {"Bearer clerk", "Bearer intern"}:
        raise Unauthorized("a Bearer token is required")
    if token != "Bearer clerk":
        raise Forbidden("clerks only")


def tiny_app(*, broken: str = "") -> Any:
    """An app built the way ours is (error mapper, documented errors, request ids), with a public
    operation, a guarded one and a login; ``broken`` names the bug to put in."""

    @post("/api/demo/v1/split", status_code=200)
    async def split(data: SplitIn) -> SplitOut:
        if broken == "hang" and data.people == 0:
            await asyncio.Event().wait()  # waits for ever, like a forgotten lock
        if broken != "split" and data.people == 0:
            return SplitOut(each_fen=0)
        return SplitOut(each_fen=data.total_fen // data.people)  # ZeroDivisionError for 0 people

    @post("/api/demo/v1/payroll/split", status_code=200, guards=[clerks_only])
    async def payroll(data: SplitIn) -> SplitOut:
        if broken != "payroll" and data.people == 0:
            return SplitOut(each_fen=0)
        return SplitOut(each_fen=data.total_fen // data.people)

    @get("/api/demo/v1/profile")
    async def profile() -> Response[Profile]:
        body: dict[str, Any] = {"name": "王受理"}
        if broken == "leak":
            body["password_hash"] = "$argon2id$…"  # a field the schema does not declare
        return Response(body)  # type: ignore[arg-type]

    @post("/api/demo/v1/login", status_code=200)
    async def login(data: SignIn) -> Profile:
        raise Unauthorized("wrong username or password", code="invalid_credentials")

    @get("/api/demo/v1/events", media_type="text/event-stream")
    async def events() -> Stream:
        async def forever() -> AsyncIterator[bytes]:
            yield b"event: ready\ndata: {}\n\n"
            await asyncio.Event().wait()  # a stream that never ends: the client hangs up

        return Stream(forever(), media_type="text/event-stream")

    api = Litestar(
        route_handlers=[split, payroll, profile, login, events],
        exception_handlers={Exception: handle_exception},
        plugins=[DocumentedErrors()],
        openapi_config=OpenAPIConfig(title="demo", version="1", path="/docs"),
    )
    wrapped = request_id_middleware(api)
    wrapped.litestar = api  # type: ignore[attr-defined]
    return wrapped


CLERK = Caller("clerk", {"Authorization": "Bearer clerk"})
INTERN = Caller("intern", {"Authorization": "Bearer intern"})
SPLIT, PAYROLL, PROFILE, LOGIN, EVENTS = (
    "POST /api/demo/v1/split",
    "POST /api/demo/v1/payroll/split",
    "GET /api/demo/v1/profile",
    "POST /api/demo/v1/login",
    "GET /api/demo/v1/events",
)


@pytest.fixture
async def fuzz_tiny() -> AsyncIterator[Any]:
    async def run(
        app: Any, callers: list[Caller] | None = None, budget: Budget = Budget(max_examples=25)
    ) -> FuzzReport:
        async with LifespanManager(app.litestar):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                document = (await client.get("/docs/openapi.json")).json()
            loop = asyncio.get_running_loop()
            return await asyncio.to_thread(run_fuzz, document, app, loop=loop, callers=callers, budget=budget, seed=0)

    yield run


def _kinds(report: FuzzReport) -> dict[tuple[str, str], str]:
    return {(r.operation, r.role): r.kind for r in report.results}


async def test_the_harness_passes_a_correct_app(fuzz_tiny: Any) -> None:
    report = await fuzz_tiny(tiny_app(), [ANONYMOUS, CLERK, INTERN])
    assert report.failures == [], report.format_failures()
    assert report.operations == [SPLIT, PAYROLL, PROFILE, LOGIN, EVENTS]
    assert _kinds(report) == {
        # public: fuzzed anonymously, lightly as everyone else
        (SPLIT, "anonymous"): "fuzzed",
        (SPLIT, "clerk"): "light",
        (SPLIT, "intern"): "light",
        (PROFILE, "anonymous"): "fuzzed",
        (PROFILE, "clerk"): "light",
        (PROFILE, "intern"): "light",
        # guarded: fuzzed by whoever is let in; the others stop at the probes
        (PAYROLL, "anonymous"): "guarded",
        (PAYROLL, "clerk"): "fuzzed",
        (PAYROLL, "intern"): "guarded",
        # 401 for everyone is not a guard: the login is fuzzed in full
        (LOGIN, "anonymous"): "fuzzed",
        (LOGIN, "clerk"): "light",
        (LOGIN, "intern"): "light",
        # an endless event stream is listened to briefly, then hung up on
        (EVENTS, "anonymous"): "fuzzed",
        (EVENTS, "clerk"): "light",
        (EVENTS, "intern"): "light",
    }
    payroll = {r.role: r.examples for r in report.results if r.operation == PAYROLL}
    assert payroll["clerk"] >= 25 and payroll["anonymous"] == payroll["intern"] == Budget(1).probes


async def test_the_harness_fails_on_a_handler_that_raises(fuzz_tiny: Any) -> None:
    report = await fuzz_tiny(tiny_app(broken="split"))
    assert [(role, operation) for role, operation, _ in report.failures] == [("anonymous", SPLIT)]
    text = report.format_failures()
    assert "Server error" in text and '"people": 0' in text, text


async def test_the_harness_fails_on_a_handler_that_raises_behind_a_guard(fuzz_tiny: Any) -> None:
    report = await fuzz_tiny(tiny_app(broken="payroll"), [ANONYMOUS, CLERK, INTERN])
    assert [(role, operation) for role, operation, _ in report.failures] == [("clerk", PAYROLL)]
    assert '"people": 0' in report.format_failures()


async def test_a_request_that_hangs_is_a_failure_and_the_run_goes_on(fuzz_tiny: Any) -> None:
    started = time.perf_counter()
    report = await fuzz_tiny(tiny_app(broken="hang"), budget=Budget(max_examples=25, request_timeout_s=1))
    assert [(role, operation) for role, operation, _ in report.failures] == [("anonymous", SPLIT)]
    assert "No response within 1s" in report.format_failures() and '"people": 0' in report.format_failures()
    assert {r.operation for r in report.results if r.examples} == {SPLIT, PAYROLL, PROFILE, LOGIN, EVENTS}
    assert time.perf_counter() - started < 30, "a hung request is not retried while shrinking"


async def test_the_harness_fails_on_a_field_the_schema_does_not_declare(fuzz_tiny: Any) -> None:
    report = await fuzz_tiny(tiny_app(broken="leak"))
    assert [(role, operation) for role, operation, _ in report.failures] == [("anonymous", PROFILE)]
    assert "password_hash" in report.format_failures()


async def test_the_harness_fails_on_an_error_body_of_another_shape() -> None:
    @get("/api/demo/v1/item/{item_id:int}")
    async def item(item_id: int) -> Profile:
        raise NotFoundException(f"no item {item_id}")

    # Litestar's default error handler: {"status_code", "detail"}, not our error body.
    api = Litestar(route_handlers=[item], openapi_config=OpenAPIConfig(title="demo", version="1", path="/docs"))
    async with LifespanManager(api):  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=api)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            document = (await client.get("/docs/openapi.json")).json()
        report = await asyncio.to_thread(
            run_fuzz, document, api, loop=asyncio.get_running_loop(), budget=Budget(max_examples=10), seed=0
        )
    assert report.failures, "a 404 in Litestar's default body must fail the error-body check"
    assert "error body is not {'error': …}" in report.format_failures()
