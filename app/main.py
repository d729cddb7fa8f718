"""The one application: every surface, the admin console, docs, health and metrics.

``create_app()`` builds the Litestar app (API surfaces, /docs, /healthz, /readyz, /metrics);
``create_asgi()`` wraps it with the admin console at /admin — that is what servers run.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.plugins.prometheus import PrometheusController
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from admin.api.router import router as admin_api_router
from admin.app import BASE_URL as ADMIN_BASE
from admin.app import create_admin
from admin.auth import RuntimeRef
from app.auth import provide_staff_claims
from app.docs import assets_router, openapi_config
from app.errors import DocumentedErrors, handle_exception
from app.logging import access_log_middleware, configure_logging
from app.metrics import metrics_middleware
from app.request_id import request_id_middleware
from app.system import SystemController
from app.transactions import commit_or_rollback, provide_db_session
from backend.runtime import Runtime
from backend.settings import Settings, get_settings
from device_ingest.router import router as ingest_router
from device_ingest.startup import on_startup as ingest_startup
from field_app_api.context import on_startup as field_startup
from field_app_api.router import router as field_router
from miniprogram_api.open311.router import router as open311_router
from miniprogram_api.places_startup import on_shutdown as places_shutdown
from miniprogram_api.places_startup import on_startup as places_startup
from miniprogram_api.router import router as mp_router

API_VERSION = "1.0.0"


class Metrics(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def freeze_startup_heap() -> None:
    """Last start-up step: move everything loaded so far (modules, routes, caches) out of the garbage
    collector's sight. The collector's full passes then walk only what requests allocate, not the
    hundreds of thousands of long-lived objects of a started application (CPython's ``gc.freeze``)."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None,
    *,
    admin_sessions: async_sessionmaker[AsyncSession] | None = None,
    admin_ref: RuntimeRef | None = None,
) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings.app.log_level, settings.app.log_json)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Again here: a server (granian) may have reset logging after importing us.
        configure_logging(settings.app.log_level, settings.app.log_json)
        runtime = await Runtime.start(settings)
        app.state.runtime = runtime
        if admin_sessions is not None:
            admin_sessions.configure(bind=runtime.engine)
        if admin_ref is not None:
            admin_ref.runtime = runtime
        try:
            yield
        finally:
            if admin_ref is not None:
                admin_ref.runtime = None
            await runtime.close()

    return Litestar(
        route_handlers=[
            SystemController,
            Metrics,
            assets_router(),
            mp_router,
            open311_router,
            field_router,
            ingest_router,
            admin_api_router,
        ],
        dependencies={
            "db_session": Provide(provide_db_session, sync_to_thread=False),
            "staff": Provide(provide_staff_claims),
        },
        before_send=[commit_or_rollback],
        lifespan=[lifespan],
        on_startup=[ingest_startup, field_startup, places_startup, freeze_startup_heap],
        on_shutdown=[places_shutdown],
        exception_handlers={Exception: handle_exception},
        plugins=[DocumentedErrors()],
        middleware=[metrics_middleware],
        request_max_body_size=settings.app.max_body_bytes,
        openapi_config=openapi_config(API_VERSION),
        debug=settings.app.debug,
    )


def create_asgi(settings: Settings | None = None) -> ASGIApp:
    """The served application: Litestar for everything, sqladmin's Starlette app for /admin."""
    settings = settings or get_settings()
    admin_sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(expire_on_commit=False)
    ref = RuntimeRef()
    api = create_app(settings, admin_sessions=admin_sessions, admin_ref=ref)
    console = create_admin(settings.app.secret_key, admin_sessions, ref)
    prefix = ADMIN_BASE + "/"

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")  # type: ignore[assignment]
        if scope["type"] in {"http", "websocket"} and (path == ADMIN_BASE or path.startswith(prefix)):
            await console(scope, receive, send)  # type: ignore[arg-type]
        else:
            await api(scope, receive, send)

    wrapped = request_id_middleware(access_log_middleware(dispatch))
    wrapped.litestar = api  # type: ignore[attr-defined]
    return wrapped
