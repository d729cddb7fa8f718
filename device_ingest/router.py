"""Device ingest (signed telemetry batches), served under /ingest/v1."""

from litestar import Router

from device_ingest.controllers.telemetry import TelemetryController

router = Router(path="/ingest/v1", route_handlers=[TelemetryController], tags=["devices"])
