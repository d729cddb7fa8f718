"""Device ingest (signed telemetry batches), served under /ingest/v1."""

from litestar import Router

router = Router(path="/ingest/v1", route_handlers=[], tags=["devices"])
