"""The one error body, health and readiness, docs and the admin login page."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from app.logging import configure_logging
from backend.embedded import EmbeddedValkey, free_port
from backend.redis import create_redis


def assert_error_body(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


async def test_unknown_route_is_404_in_the_error_body(client: httpx.AsyncClient) -> None:
    assert_error_body(await client.get("/api/mp/v1/no-such-thing"), 404, "not_found")


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/field/v1/auth/login", content=b'{"username": "a", ', headers={"content-type": "application/json"}
    )
    assert_error_body(response, 400, "malformed_body")


async def test_invalid_field_is_400_with_details(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/field/v1/auth/login", json={"username": "", "password": "x"})
    error = assert_error_body(response, 400, "validation_failed")
    assert error["details"], "the details say which field is wrong"


async def test_oversized_body_is_413(client: httpx.AsyncClient, settings: Any) -> None:
    big = b'{"username": "' + b"a" * (settings.app.max_body_bytes + 10) + b'", "password": "x"}'
    response = await client.post("/api/field/v1/auth/login", content=big, headers={"content-type": "application/json"})
    assert_error_body(response, 413, "payload_too_large")


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    assert_error_body(await client.delete("/healthz"), 405, "method_not_allowed")


async def test_domain_error_maps_to_its_status(client: httpx.AsyncClient) -> None:
    assert_error_body(await client.get("/api/mp/v1/regions/districts/999999/streets"), 404, "district_not_found")


async def test_request_id_is_echoed_when_sane_and_replaced_when_not(client: httpx.AsyncClient) -> None:
    ok = await client.get("/healthz", headers={"x-request-id": "abc-123-def-456"})
    assert ok.headers["x-request-id"] == "abc-123-def-456"
    bad = await client.get("/healthz", headers={"x-request-id": "<script>"})
    assert bad.headers["x-request-id"] != "<script>" and len(bad.headers["x-request-id"]) == 32


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_every_dependency(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["failed"] == []
    assert {name for name, check in body["checks"].items() if check["ok"]} == {"postgres", "redis", "s3"}


async def test_readyz_reports_redis_down_when_redis_is_stopped(
    client: httpx.AsyncClient, runtime: Any, tmp_path: Any
) -> None:
    own = EmbeddedValkey(data_dir=tmp_path / "valkey", port=free_port())
    own.start()
    real = runtime.redis
    runtime.redis = create_redis(own.url)
    try:
        assert (await client.get("/readyz")).status_code == 200
        own.stop()
        response = await client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["failed"] == ["redis"]
        assert body["checks"]["redis"]["ok"] is False and body["checks"]["redis"]["error"]
        assert body["checks"]["postgres"]["ok"] is True
    finally:
        await runtime.redis.aclose()
        runtime.redis = real
        own.stop()


async def test_openapi_docs_are_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text
    asset = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and "SwaggerUIBundle" in asset.text, "the UI is served by us, not a CDN"
    schema = (await client.get("/docs/openapi.json")).json()
    paths = set(schema["paths"])
    assert {"/healthz", "/readyz", "/api/field/v1/auth/login", "/api/mp/v1/regions/districts"} <= paths


async def test_metrics_are_exposed(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "chengguan_requests_total" in response.text


def _sample(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_metrics_count_by_route_template_and_status_never_by_raw_path(client: httpx.AsyncClient) -> None:
    route = "/api/mp/v1/toilets/{toilet_id}"
    labels = {"method": "GET", "path": route, "status_code": "404", "app_name": "chengguan"}
    before = (await client.get("/metrics")).text
    ids = [str(uuid.uuid4()) for _ in range(2)]
    for toilet_id in ids:
        assert (await client.get(f"/api/mp/v1/toilets/{toilet_id}")).status_code == 404
    after = (await client.get("/metrics")).text
    assert (
        _sample(after, "chengguan_requests_total", **labels)
        == _sample(before, "chengguan_requests_total", **labels) + 2
    )
    assert _sample(after, "chengguan_request_duration_seconds_count", **labels) >= 2
    assert _sample(after, "chengguan_requests_in_progress", method="GET", path=route) == 0
    assert not any(toilet_id in after for toilet_id in ids)


async def test_admin_login_page_and_redirects(client: httpx.AsyncClient) -> None:
    first = await client.get("/admin")
    assert first.status_code in {301, 302, 307} and first.headers["location"].endswith("/admin/")
    second = await client.get("/admin/")
    assert second.status_code in {302, 303, 307} and second.headers["location"].endswith("/admin/login")
    page = await client.get("/admin/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text


@pytest.mark.parametrize(
    ("username", "password", "admitted"),
    [("seat1", "Demo@2026", True), ("seat1", "wrong", False), ("collector1", "Demo@2026", False)],
)
async def test_admin_sign_in_only_for_console_roles(
    client: httpx.AsyncClient, username: str, password: str, admitted: bool
) -> None:
    response = await client.post("/admin/login", data={"username": username, "password": password})
    if admitted:
        assert response.status_code == 302, response.text
        home = await client.get("/admin/")
        assert home.status_code == 200 and "城管综合管理平台" in home.text
    else:
        assert response.status_code == 400
        assert (await client.get("/admin/")).status_code == 302


async def test_request_ids_are_fresh_and_sent_once(client: httpx.AsyncClient) -> None:
    first, second = await client.get("/healthz"), await client.get("/healthz")
    assert first.headers.get_list("x-request-id") == [first.headers["x-request-id"]]
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert all(c in "0123456789abcdef" for c in first.headers["x-request-id"])


async def test_the_access_log_writes_a_line_per_request_at_info_only(
    client: httpx.AsyncClient, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # configure_logging binds its handler to the sys.stderr of the moment: capsys's, here.
    configure_logging("info", json=True)
    try:
        response = await client.get("/api/mp/v1/regions/districts/999999/streets")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
        access = [line for line in lines if line.get("logger") == "chengguan.access"]
        assert len(access) == 1
        assert access[0]["event"] == "request" and access[0]["method"] == "GET" and access[0]["status"] == 404
        assert access[0]["path"] == "/api/mp/v1/regions/districts/999999/streets" and access[0]["ms"] >= 0
        assert access[0]["request_id"] == response.headers["x-request-id"]
        configure_logging("warning", json=True)
        await client.get("/api/mp/v1/regions/districts/999999/streets")
        assert not [line for line in capsys.readouterr().err.splitlines() if "chengguan.access" in line]
    finally:
        configure_logging(settings.app.log_level, settings.app.log_json)
