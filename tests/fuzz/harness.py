"""Property-based fuzzing of an ASGI app from its own OpenAPI schema, with schemathesis 4.

``run_fuzz`` takes the app's OpenAPI document, the app and the callers to send requests as
(anonymous, each role's token), and for every operation the document lists (minus ``/docs``,
``/metrics`` and HTML pages) sends schemathesis' deterministic coverage cases and a bounded number of
generated valid and invalid requests — as the callers the operation lets in, see ``Budget`` — and
checks each response:

- no 5xx;
- the status code and content type are declared for the operation;
- the body matches the declared schema, with every object closed (``additionalProperties: false``,
  see ``close_response_objects``), so a field the schema does not declare is a failure;
- every 4xx/5xx has the one error body ``{"error": {"code", "message", "details", "request_id"}}``.

Invalid (negative) inputs are generated as well as valid ones, but schemathesis' check that they are
refused (``negative_data_rejection``) is not run: Litestar converts request data with msgspec's lax
rules (``"5"`` for an integer, ``0`` for a date-time are accepted), which that check would report on
every operation — a framework-wide choice, not a handler's bug.

The app under test usually lives on another event loop (the test session's, holding the database
connections); ``bridge`` carries each request there, so hypothesis runs in a worker thread while
the app keeps its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import time
import traceback
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fuzz.signing import INGEST_PREFIX, WireRequest, sign_device_request

# Never fuzzed: the docs UI and schema, Prometheus' text format. HTML pages (the admin console's)
# are left out by content type, see ``is_fuzzed``.
EXCLUDED_PREFIXES = ("/docs", "/metrics")
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
SCHEMA_REF = "#/components/schemas/"
CLOSED_SUFFIX = "__closed"
# Keywords whose value is a schema or a list of schemas (allOf and the maps are handled apart).
SUBSCHEMA_KEYWORDS = frozenset(
    {"items", "prefixItems", "additionalProperties", "not", "contains", "if", "then", "else", "anyOf", "oneOf"}
)
ERROR_KEYS = {"code", "message", "details", "request_id"}
# Operations that end the caller's session go last, so a signed-in run keeps its token until then.
SESSION_ENDING = re.compile(r"/(logout|log-out|sign-?out)$")


# --- the schema transform -------------------------------------------------------------------------


def _is_object_schema(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node


def close_response_objects(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an OpenAPI document in which every object a response can contain is closed.

    Each object schema reachable from a response, without an ``additionalProperties`` of its own,
    gets ``additionalProperties: false``. Components are shared with request bodies, so a referenced
    component is not changed in place: responses are pointed at a closed copy (``<Name>__closed``)
    and requests keep the original. Left open, because closing them would be wrong: members of an
    ``allOf`` (each would reject its siblings' properties) and objects with ``patternProperties`` or
    ``unevaluatedProperties``.
    """
    result = copy.deepcopy(dict(document))
    components: dict[str, Any] = result.setdefault("components", {}).setdefault("schemas", {})
    originals = copy.deepcopy(components)
    closed: dict[str, str] = {}

    def closed_ref(name: str) -> str:
        if name not in closed:
            closed[name] = f"{name}{CLOSED_SUFFIX}"
            components[closed[name]] = {}  # reserved first: a recursive schema refers to itself
            components[closed[name]] = close(originals[name])
        return SCHEMA_REF + closed[name]

    def close(node: Any, *, in_all_of: bool = False) -> Any:
        if isinstance(node, list):
            return [close(item, in_all_of=in_all_of) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF) and ref[len(SCHEMA_REF) :] in originals:
            return node if in_all_of else {**node, "$ref": closed_ref(ref[len(SCHEMA_REF) :])}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in {"properties", "patternProperties", "$defs", "definitions"} and isinstance(value, dict):
                out[key] = {name: close(sub) for name, sub in value.items()}
            elif key in SUBSCHEMA_KEYWORDS:
                out[key] = close(value)
            elif key == "allOf":
                out[key] = close(value, in_all_of=True)
            else:  # keywords whose values are data, not schemas: examples, enum, default, …
                out[key] = value
        if (
            _is_object_schema(node)
            and not in_all_of
            and not {"additionalProperties", "allOf", "patternProperties", "unevaluatedProperties"} & node.keys()
        ):
            out["additionalProperties"] = False
        return out

    shared_responses: dict[str, Any] = result["components"].get("responses", {})
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in HTTP_METHODS or not isinstance(operation, dict):
                continue
            for status, response in list(operation.get("responses", {}).items()):
                ref = response.get("$ref", "")
                if ref.startswith("#/components/responses/"):
                    response = copy.deepcopy(shared_responses[ref.rsplit("/", 1)[1]])
                    operation["responses"][status] = response
                for media in response.get("content", {}).values():
                    if "schema" in media:
                        media["schema"] = close(media["schema"])
    return result


def is_fuzzed(path: str, operation: Mapping[str, Any]) -> bool:
    """Every operation but the docs, metrics and pages that answer with HTML only (exports in CSV,
    SVG or XLSX are fuzzed: their errors are JSON, and a 5xx is a 5xx)."""
    if path.startswith(EXCLUDED_PREFIXES):
        return False
    media_types = {
        media
        for status, response in operation.get("responses", {}).items()
        if str(status).startswith("2")
        for media in response.get("content", {})
    }
    return not media_types or any(not media.startswith("text/html") for media in media_types)


def fuzzed_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document restricted to the fuzzed operations, response objects closed."""
    filtered = copy.deepcopy(dict(document))
    paths: dict[str, Any] = {}
    for path, item in filtered.get("paths", {}).items():
        kept = {
            key: value
            for key, value in item.items()
            if key not in HTTP_METHODS or (isinstance(value, dict) and is_fuzzed(path, value))
        }
        if HTTP_METHODS & kept.keys():
            paths[path] = kept
    filtered["paths"] = paths
    return close_response_objects(filtered)


# --- carrying requests to the app's event loop ----------------------------------------------------


# Plain ASGI, loosely typed: the apps fuzzed here are Litestar's, httpx's and schemathesis' clients' alike.
Message = dict[str, Any]
ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]
Signer = Callable[[WireRequest], Mapping[str, str]]


def bridge(app: Any, loop: asyncio.AbstractEventLoop, sign: Signer = sign_device_request) -> ASGIApp:
    """An ASGI app that runs each HTTP request on ``loop`` (where ``app`` and its connections live).

    It reads the whole request, adds the device signature headers for ``/ingest/`` paths, runs the
    request on ``loop`` and passes the response messages back as they come. An event stream is
    listened to until its first event (at most ``STREAM_LISTEN_S``) and then hung up on, as a client
    closing the connection would.
    Lifespan is answered here: ``app``'s own lifespan is owned by whoever started it.
    """

    async def bridged(
        scope: dict[str, Any], receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        forwarded = dict(scope)
        forwarded["state"] = {}
        if scope["path"].startswith(INGEST_PREFIX):
            wire = WireRequest(
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b""),
                headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
                body=body,
            )
            extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in sign(wire).items()]
            forwarded["headers"] = [*scope["headers"], *extra]
        await _Exchange(app, forwarded, body, loop).relay(send)

    return bridged


STREAM_LISTEN_S = 0.5
STREAM_GRACE_S = 2.0


class _Exchange:
    """One request: served on the app's loop, its response relayed on the caller's (schemathesis') loop."""

    def __init__(self, app: Any, scope: dict[str, Any], body: bytes, loop: asyncio.AbstractEventLoop) -> None:
        self.app, self.scope, self.body, self.loop = app, scope, body, loop
        self.hung_up = asyncio.Event()  # used on the app's loop only
        self.relayed: asyncio.Queue[Message | None] = asyncio.Queue()  # used on the caller's loop only

    async def serve(self, deliver: Callable[[Message | None], None]) -> None:
        """On the app's loop."""
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": self.body, "more_body": False}
            await self.hung_up.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            deliver(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.hung_up.set()

        await self.app(self.scope, receive, send)

    def hang_up(self) -> None:
        self.loop.call_soon_threadsafe(self.hung_up.set)

    async def relay(self, send: Callable[[Message], Awaitable[None]]) -> None:
        """On the caller's loop: until the app is done, or until a stream was listened to long enough."""
        here = asyncio.get_running_loop()

        def deliver(message: Message | None) -> None:
            here.call_soon_threadsafe(self.relayed.put_nowait, message)

        future = asyncio.run_coroutine_threadsafe(self.serve(deliver), self.loop)
        future.add_done_callback(lambda _: deliver(None))
        listen_until: float | None = None
        try:
            while True:
                wait = None if listen_until is None else max(listen_until - here.time(), 0.0)
                try:
                    message = await asyncio.wait_for(self.relayed.get(), wait)
                except TimeoutError:
                    self.hang_up()
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    # The app's next request shares its database connection: let this one finish first.
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), STREAM_GRACE_S)
                    return
                if message is None:
                    future.result()  # what the app raised, if it did
                    return
                if message["type"] == "http.response.start" and _is_event_stream(message):
                    listen_until = here.time() + STREAM_LISTEN_S
                elif listen_until is not None and message.get("body"):
                    listen_until = here.time()  # the first event is in: enough to check the stream
                await send(message)
        finally:
            future.cancel()  # no-op once the app is done; otherwise the caller gave up (a timeout)


def _is_event_stream(start: Message) -> bool:
    return any(
        name.lower() == b"content-type" and value.startswith(b"text/event-stream")
        for name, value in start.get("headers", [])
    )


# --- checks ---------------------------------------------------------------------------------------


def error_body_shape(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx/5xx carries exactly {"error": {"code", "message", "details", "request_id"}}."""
    del ctx
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return
    try:
        body = response.json()
    except Exception:
        raise AssertionError(
            f"{response.status_code} body is not the JSON error body: {response.content[:200]!r}"
        ) from None
    assert isinstance(body, dict) and set(body) == {"error"}, f"error body is not {{'error': …}}: {body!r}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == ERROR_KEYS, f"error keys are not {sorted(ERROR_KEYS)}: {error!r}"
    assert isinstance(error["code"], str) and error["code"], f"error code is not a non-empty string: {error!r}"
    assert isinstance(error["message"], str), f"error message is not a string: {error!r}"
    echoed = {name.lower(): values for name, values in response.headers.items()}.get("x-request-id", [])
    assert echoed and error["request_id"] == echoed[0], (
        f"request_id {error['request_id']!r} is not the X-Request-ID header {echoed!r}"
    )


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    error_body_shape,
]


# --- callers, budget and report ------------------------------------------------------------------

GUARD_STATUSES = frozenset({401, 403})


@dataclass(frozen=True)
class Caller:
    """Who sends the requests: a role name and the headers that sign it in (none: anonymous)."""

    role: str
    headers: Mapping[str, str] = field(default_factory=dict)


ANONYMOUS = Caller("anonymous")


@dataclass(frozen=True)
class Budget:
    """How much each operation is fuzzed, and by whom.

    Every caller first sends ``probes`` valid requests. If anonymous callers are let in (anything but
    401/403), or nobody is (a login with random credentials, a signed device endpoint), the operation
    is "fuzzed" anonymously and every signed-in caller sends ``public_examples`` ("light"). Otherwise
    the callers let in share ``max_examples`` ("fuzzed", each at least ``min_examples``) and the
    others stop at the probes ("guarded": their guard refuses every input). The deterministic
    coverage cases run once per operation, with the first fuzzing caller.
    """

    max_examples: int
    """Generated examples (positive and negative) per operation, besides the coverage cases."""
    min_examples: int = 10
    public_examples: int = 5
    probes: int = 3
    coverage: bool = True
    """Run schemathesis' deterministic coverage cases (boundaries, missing and wrong-typed values)."""
    deadline_ms: int | None = 5_000
    """One example slower than this is a failure (a pathological input, e.g. a regex blow-up)."""
    request_timeout_s: float = 15.0
    """A request unanswered this long has hung: a failure, and the end of that operation's run."""


@dataclass
class OperationResult:
    role: str
    operation: str
    kind: str = "guarded"
    """fuzzed, light or guarded (see ``Budget``)."""
    examples: int = 0
    seconds: float = 0.0
    app_seconds: float = 0.0
    """Of ``seconds``, the time spent sending requests and checking responses (the rest is generation)."""
    statuses: set[int] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)


@dataclass
class FuzzReport:
    seed: int
    roles: list[str] = field(default_factory=list)
    results: list[OperationResult] = field(default_factory=list)
    cpu_seconds: float = 0.0
    """CPU time of this process (fuzzer and app) for the run: wall time inflates on a busy machine."""

    def of(self, role: str) -> list[OperationResult]:
        return [r for r in self.results if r.role == role]

    @property
    def operations(self) -> list[str]:
        return list(dict.fromkeys(r.operation for r in self.results))

    @property
    def examples(self) -> int:
        return sum(r.examples for r in self.results)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)

    @property
    def failures(self) -> list[tuple[str, str, str]]:
        return [(r.role, r.operation, failure) for r in self.results for failure in r.failures]

    def kinds(self, role: str) -> dict[str, int]:
        results = self.of(role)
        return {kind: sum(r.kind == kind for r in results) for kind in ("fuzzed", "light", "guarded")}

    def line(self, role: str) -> str:
        results = self.of(role)
        kinds = ", ".join(f"{count} {kind}" for kind, count in self.kinds(role).items())
        return (
            f"{role}: {len(results)} operations ({kinds}), {sum(r.examples for r in results)} examples, "
            f"{sum(len(r.failures) for r in results)} failures in {sum(r.seconds for r in results):.1f}s"
        )

    def format_failures(self) -> str:
        parts = [f"fuzzing (FUZZ_SEED={self.seed}) found {len(self.failures)} failure(s):"]
        parts += [f"\n=== {operation} as {role} ===\n{failure}" for role, operation, failure in self.failures]
        return "\n".join(parts)


def _describe(exc: BaseException) -> list[str]:
    """One readable text per distinct failure: schemathesis' own report (checks that failed, the
    response, a curl command) or, for anything else, the exception; hypothesis' notes appended."""
    if isinstance(exc, BaseExceptionGroup) and not isinstance(exc, FailureGroup):
        return [text for sub in exc.exceptions for text in _describe(sub)]
    text = str(exc) if isinstance(exc, FailureGroup) else "".join(traceback.format_exception_only(exc))
    notes = "\n".join(getattr(exc, "__notes__", []))
    return [f"{text.strip()}\n{notes}".strip()]


class RequestHung(BaseException):
    """No response within ``Budget.request_timeout_s``. A BaseException, so hypothesis stops at once instead of
    shrinking — every attempt would wait that long — and the run goes on with the next operation."""


def _send(case: schemathesis.Case, caller: Caller, result: OperationResult, timeout: float) -> None:
    result.examples += 1
    started = time.perf_counter()
    try:
        headers = dict(caller.headers)
        try:
            response = case.call(headers=headers, timeout=timeout)
        except requests.exceptions.Timeout:
            curl = case.as_curl_command(headers=headers)
            raise RequestHung(f"No response within {timeout:g}s. Reproduce with:\n\n    {curl}") from None
        result.statuses.add(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)
    finally:
        result.app_seconds += time.perf_counter() - started


def _operation_seed(seed: int, role: str, label: str) -> int:
    return zlib.crc32(f"{seed}:{role}:{label}".encode())


class _Operation:
    """Fuzzes one operation: probes as every caller, then the budget as ``Budget`` says."""

    def __init__(self, operation: Any, budget: Budget, seed: int) -> None:
        self.operation = operation
        self.label: str = operation.label
        self.budget = budget
        self.seed = seed

    def settings(self, max_examples: int, phases: list[Phase]) -> hypothesis.settings:
        deadline = self.budget.deadline_ms
        return hypothesis.settings(
            max_examples=max_examples,
            deadline=None if deadline is None else timedelta(milliseconds=deadline),
            database=None,
            derandomize=False,
            phases=phases,
            print_blob=False,
            suppress_health_check=list(HealthCheck),
        )

    @staticmethod
    def run(test: Callable[[], None]) -> tuple[list[str], float]:
        """Run a hypothesis test: (what it found, seconds)."""
        started = time.perf_counter()
        try:
            test()
        except (Exception, FailureGroup) as exc:  # FailureGroup is a BaseExceptionGroup
            return _describe(exc), time.perf_counter() - started
        except RequestHung as exc:
            return [str(exc)], time.perf_counter() - started
        return [], time.perf_counter() - started

    def probe(self, callers: list[Caller], results: dict[str, OperationResult]) -> None:
        """The same few valid requests as every caller (generated once)."""
        failed_as: list[str] = []

        def exercise(case: schemathesis.Case) -> None:
            failed_as.clear()
            errors: list[BaseException] = []
            for caller in callers:
                try:
                    _send(case, caller, results[caller.role], self.budget.request_timeout_s)
                except RequestHung:
                    failed_as.append(caller.role)
                    raise
                except (Exception, FailureGroup) as exc:
                    failed_as.append(caller.role)
                    errors.append(exc)
            if errors:
                raise errors[0]

        strategy = self.operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
        test = hypothesis.seed(_operation_seed(self.seed, "probe", self.label))(
            self.settings(self.budget.probes, [Phase.generate, Phase.shrink])(hypothesis.given(case=strategy)(exercise))
        )
        failures, seconds = self.run(test)
        # After shrinking, the last run is hypothesis' minimal example: who it failed for is who to blame.
        results[failed_as[0] if failed_as else callers[0].role].failures.extend(failures)
        for caller in callers:
            results[caller.role].seconds += seconds / len(callers)

    def fuzz(self, caller: Caller, result: OperationResult, examples: int, coverage: bool) -> None:
        def exercise(case: schemathesis.Case) -> None:
            _send(case, caller, result, self.budget.request_timeout_s)

        modes = [HypothesisTestMode.FUZZING, *([HypothesisTestMode.COVERAGE] if coverage else [])]
        test = create_test(
            operation=self.operation,
            test_func=exercise,
            config=HypothesisTestConfig(
                project=self.operation.schema.config,
                modes=modes,
                settings=self.settings(examples, [Phase.explicit, Phase.generate, Phase.shrink]),
                explicit_setting_names={"max_examples", "deadline", "database", "derandomize", "phases"},
                seed=_operation_seed(self.seed, caller.role, self.label),
            ),
        )
        failures, seconds = self.run(test)
        result.failures.extend(failures)
        result.seconds += seconds

    def __call__(self, callers: list[Caller]) -> list[OperationResult]:
        results = {caller.role: OperationResult(caller.role, self.label) for caller in callers}
        self.probe(callers, results)
        let_in = [c for c in callers if results[c.role].statuses - GUARD_STATUSES]
        anonymous = next((c for c in callers if not c.headers), callers[0])
        if anonymous in let_in or not let_in:
            plan = {c.role: ("fuzzed" if c == anonymous else "light") for c in callers}
        else:
            plan = {c.role: ("fuzzed" if c in let_in else "guarded") for c in callers}
        fuzzing = [c for c in callers if plan[c.role] == "fuzzed"]
        share = max(self.budget.max_examples // len(fuzzing), self.budget.min_examples)
        for caller in callers:
            result = results[caller.role]
            result.kind = plan[caller.role]
            if result.kind == "guarded" or result.failures:  # a probe already failed: one report is enough
                continue
            fuzzed = result.kind == "fuzzed"
            coverage = self.budget.coverage and caller == fuzzing[0]
            self.fuzz(caller, result, share if fuzzed else self.budget.public_examples, coverage)
        return list(results.values())


def run_fuzz(
    document: Mapping[str, Any],
    app: Any,
    *,
    loop: asyncio.AbstractEventLoop,
    callers: list[Caller] | None = None,
    budget: Budget,
    seed: int,
) -> FuzzReport:
    """Fuzz every operation of ``document`` against ``app`` (which runs on ``loop``) as ``callers``
    (default: anonymous only); never raises for what it finds — the failures are in the report.
    Call it from a thread other than ``loop``'s."""
    callers = callers or [ANONYMOUS]
    cpu_started = time.process_time()
    schema = schemathesis.openapi.from_dict(fuzzed_document(document), config=schemathesis.Config())
    schema.app = bridge(app, loop)
    report = FuzzReport(seed=seed, roles=[caller.role for caller in callers])
    found_operations = sorted(
        schema.get_all_operations(),
        key=lambda found: isinstance(found, Ok) and bool(SESSION_ENDING.search(found.ok().path)),
    )
    for found in found_operations:
        if not isinstance(found, Ok):
            report.results.append(OperationResult(callers[0].role, "schema", failures=_describe(found.err())))
            continue
        report.results.extend(_Operation(found.ok(), budget, seed)(callers))
    report.cpu_seconds = time.process_time() - cpu_started
    return report
