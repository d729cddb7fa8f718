"""What the API fuzzer found, each pinned with its minimal input."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from app.errors import DOCUMENTED_ERRORS
from fuzz.harness import HTTP_METHODS, close_response_objects, fuzzed_document

LOGIN = "/api/field/v1/auth/login"


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/docs/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _assert_conforms(document: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    """The response body validates against its declared schema, objects closed as the fuzzer closes them."""
    closed = close_response_objects(document)
    declared = closed["paths"][path][method]["responses"]
    assert str(response.status_code) in declared, f"{response.status_code} is not declared for {method} {path}"
    schema = declared[str(response.status_code)]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": closed["components"]}).validate(response.json())


async def test_nul_in_a_text_field_is_400_not_500(client: httpx.AsyncClient) -> None:
    # Was: PostgreSQL "invalid byte sequence for encoding UTF8: 0x00" → 500 on the username lookup.
    response = await client.post(LOGIN, json={"username": "\u0000", "password": "0"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    _assert_conforms(await _document(client), LOGIN, "post", response)


async def test_an_error_without_details_matches_its_documented_schema(client: httpx.AsyncClient) -> None:
    # Was: ErrorDetail.details ``Any | None`` → ``oneOf: [{}, {type: null}]``, which null matches twice.
    response = await client.post(LOGIN, json={"username": "0", "password": "0"})
    assert response.status_code == 401 and response.json()["error"]["details"] is None
    _assert_conforms(await _document(client), LOGIN, "post", response)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        # Was: 400 documented with Litestar's {"status_code", "detail"} body, which we never send.
        ("post", LOGIN, {"json": {}}, 400),
        # Was: undocumented 404 (a domain NotFound) on a path with a parameter.
        ("get", "/api/mp/v1/regions/districts/{district_code}/streets", {}, 404),
        # Was: undocumented 401 on an operation that needs a token.
        ("get", "/api/field/v1/me", {}, 401),
    ],
)
async def test_errors_are_documented_with_the_error_body(
    client: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    url = path.replace("{district_code}", "000000")
    response = await client.request(method.upper(), url, **kwargs)
    assert response.status_code == status, response.text
    _assert_conforms(await _document(client), path, method, response)


async def test_every_fuzzed_operation_documents_every_error_status(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    validate(document)  # still a valid OpenAPI 3.1 document
    operations = [
        (path, method, operation)
        for path, item in fuzzed_document(document)["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
    assert len(operations) >= 5
    for path, method, operation in operations:
        for status in DOCUMENTED_ERRORS:
            schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody__closed"}, (method, path, status)
