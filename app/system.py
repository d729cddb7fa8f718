"""Liveness, readiness and metrics — the endpoints an operator's load balancer and Prometheus call."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec

from backend.health import readiness


class CheckResult(msgspec.Struct, omit_defaults=True):
    ok: bool
    ms: float | None = None
    error: str | None = None


class Liveness(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    checks: dict[str, CheckResult]
    failed: list[str]


class SystemController(Controller):
    tags = ["system"]
    include_in_schema = True

    @get("/healthz", summary="Liveness: the process is up", sync_to_thread=False)
    def healthz(self) -> Liveness:
        return Liveness(status="ok")

    @get(
        "/readyz",
        summary="Readiness: PostgreSQL, Redis and S3 answer",
        description="200 when every dependency answers; 503 naming the ones that failed.",
        responses={503: ResponseSpec(data_container=Readiness, description="A dependency failed")},
    )
    async def readyz(self, state: State) -> Response[Readiness]:
        runtime = state.runtime
        results: dict[str, dict[str, Any]] = await readiness(runtime.engine, runtime.redis, runtime.storage)
        failed = [name for name, r in results.items() if not r["ok"]]
        body = Readiness(
            status="ok" if not failed else "unavailable",
            checks={name: msgspec.convert(r, CheckResult) for name, r in results.items()},
            failed=failed,
        )
        return Response(body, status_code=200 if not failed else 503)
