"""Request metrics for Prometheus: count, errors, duration and in-flight requests per route.

The same metric names and labels as Litestar's ``PrometheusMiddleware`` (``chengguan_requests_total``,
``chengguan_requests_error_total``, ``chengguan_request_duration_seconds``,
``chengguan_requests_in_progress``; labels method, path — the route's template, never the raw path —
status_code, app_name), at a fraction of its cost per request: Litestar's builds a ``Request`` and
looks every labelled child up by name on each call, which cost more than some whole handlers here.
The children are looked up once per (method, route, status) and kept.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram

APP_NAME = "chengguan"
LABELS = ("method", "path", "status_code", "app_name")

REQUESTS = Counter("chengguan_requests_total", "Total requests", LABELS)
ERRORS = Counter("chengguan_requests_error_total", "Total errors in requests", LABELS)
DURATION = Histogram("chengguan_request_duration_seconds", "Request duration, in seconds", LABELS)
IN_PROGRESS = Gauge(
    "chengguan_requests_in_progress",
    "Total requests currently in progress",
    ("method", "path", "app_name"),
    multiprocess_mode="livesum",
)

_finished: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
_running: dict[tuple[str, str], Any] = {}


def _children(method: str, path: str, status: int) -> tuple[Any, Any, Any]:
    key = (method, path, status)
    found = _finished.get(key)
    if found is None:
        values = (method, path, str(status), APP_NAME)
        found = (REQUESTS.labels(*values), DURATION.labels(*values), ERRORS.labels(*values) if status >= 500 else None)
        _finished[key] = found
    return found


def metrics_middleware(app: ASGIApp) -> ASGIApp:
    """Litestar middleware (it runs inside the router, so ``path_template`` is known)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        method: str = scope["method"]  # type: ignore[typeddict-item]
        path: str = scope.get("path_template") or scope["path"]  # type: ignore[assignment]
        running = _running.get((method, path))
        if running is None:
            running = _running[(method, path)] = IN_PROGRESS.labels(method, path, APP_NAME)
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        running.inc()
        try:
            await app(scope, receive, send_status)
        finally:
            running.dec()
            requests, duration, errors = _children(method, path, status)
            requests.inc()
            duration.observe(time.perf_counter() - started)
            if errors is not None:
                errors.inc()

    return middleware
