"""API docs at /docs with Swagger UI served from our own process.

The UI's JavaScript and CSS come from the ``swagger-ui-py`` wheel's static folder, not a CDN: a city's
intranet and this build machine reach no CDN, and the docs must still render there.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/docs/assets"


def _static_dir() -> Path:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed; run scripts/setup")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH, directories=[_static_dir()], include_in_schema=False, name="docs-assets"
    )


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="chengguan 智慧城管 API",
        version=version,
        description=(
            "Citizen mini-program (/api/mp/v1), field app (/api/field/v1), device ingest (/ingest/v1). "
            'Every error is {"error": {"code", "message", "details", "request_id"}}.'
        ),
        path="/docs",
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                css_url=f"{ASSETS_PATH}/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
                path="/",
            )
        ],
    )
