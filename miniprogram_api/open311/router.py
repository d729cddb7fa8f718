"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) at /open311/v2, in JSON and XML.

- ``GET discovery.{json,xml}`` — where the endpoint is and what it speaks;
- ``GET services.{json,xml}`` — the citizen-selectable categories;
- ``GET services/{service_code}.{json,xml}`` — a service definition: the category's questions as
  attributes (choice/bool → singlevaluelist, number → number, text → string);
- ``POST requests.{json,xml}`` — a service request (form-encoded, with ``api_key``; attributes as
  ``attribute[code]=value``; ``lat``/``long`` in WGS-84) becomes a case with source ``open311``;
- ``GET requests.{json,xml}`` — filters ``service_request_id`` (a list; the other filters are then
  ignored), ``service_code``, ``start_date``/``end_date`` (the last 90 days by default, never more than
  90 days), ``status`` (open, closed); newest first, at most 1000;
- ``GET requests/{service_request_id}.{json,xml}``.

Errors use Open311's own format, a list of ``{"code", "description"}`` (``<errors><error>`` in XML) —
the one documented exception to the ``{"error": …}`` body of our other APIs, which is also why these
routes are not in our OpenAPI document (Open311 clients read ``discovery`` and the spec instead).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from sqlalchemy.ext.asyncio import AsyncSession

from backend.citizens.rules import mask_personal, public_status, status_text
from backend.errors import DomainError
from backend.geo import GridGeocoder
from backend.media import service as media
from backend.open311 import service as open311
from backend.open311.rules import SPEC_URL, Open311Error, attribute_fields, parse_datetime, split_list
from backend.worktime import SHANGHAI
from miniprogram_api.guards import provide_geocoder
from miniprogram_api.open311.render import JSON, XML, render, render_errors

log = logging.getLogger("chengguan.open311")
BASE = "/open311/v2"
FORMATS = {"json", "xml"}


def _split(name: str) -> tuple[str, str]:
    """``E0101.json`` → (``E0101``, ``json``); an unknown format is a 404 in JSON."""
    stem, dot, fmt = name.rpartition(".")
    if not dot or fmt not in FORMATS or not stem:
        raise Open311Error(404, "the resource must end in .json or .xml")
    return stem, fmt


def _format_of(path: str) -> str:
    return "xml" if path.endswith(".xml") else "json"


def _check_jurisdiction(state: State, request: Request[Any, Any, Any]) -> None:
    given = request.query_params.get("jurisdiction_id")
    if given and given != state.runtime.settings.citizens.open311_jurisdiction_id:
        raise Open311Error(404, f"jurisdiction_id {given!r} not found")


def _local(at: datetime | None) -> datetime | None:
    return at.astimezone(SHANGHAI) if at is not None else None


def _request_doc(view: open311.RequestView, request: Request[Any, Any, Any]) -> dict[str, Any]:
    case = view.case
    storage = request.app.state.runtime.storage
    photos = [media.public_url(storage, view.uploads[k]) for k in case.photos if k in view.uploads]
    closed = public_status(case.state) == "closed"
    return {
        "service_request_id": str(case.id),
        "status": public_status(case.state),
        "status_notes": status_text(case.state),
        "service_name": view.category.name if view.category else None,
        "service_code": case.category_code,
        "description": mask_personal(case.description),
        "agency_responsible": view.department,
        "service_notice": None,
        "requested_datetime": _local(case.created_at),
        "updated_datetime": _local(case.updated_at),
        "expected_datetime": None if closed else _local(case.deadline),
        "address": mask_personal(case.address),
        "address_id": None,
        "zipcode": None,
        "lat": round(case.lat, 7),
        "long": round(case.lng, 7),
        "media_url": next((p for p in photos if p), None),
    }


class Open311Controller(Controller):
    path = ""
    include_in_schema = False

    @get(["/discovery.json", "/discovery.xml"])
    async def discovery(self, request: Request[Any, Any, Any], state: State) -> Response[bytes]:
        fmt = _format_of(request.url.path)
        base = str(request.base_url).rstrip("/") + BASE
        doc = {
            "changeset": datetime(2026, 11, 21, tzinfo=UTC).isoformat(),
            "contact": "新洲区数字城管监督指挥中心 — 12319",
            "key_service": "api_key from the city-management office (OPEN311_API_KEYS)",
            "endpoints": [
                {
                    "specification": SPEC_URL,
                    "url": base,
                    "changeset": datetime(2026, 11, 21, tzinfo=UTC).isoformat(),
                    "type": "production",
                    "formats": [XML, JSON],
                }
            ],
        }
        return render(fmt, doc, root="discovery")

    @get(["/services.json", "/services.xml"])
    async def services(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, state: State
    ) -> Response[bytes]:
        _check_jurisdiction(state, request)
        rows = await open311.services(db_session)
        docs = [
            {
                "service_code": info.category.code,
                "service_name": info.category.name,
                "description": info.category.accept_condition,
                "metadata": bool(info.category.questions),
                "type": "realtime",
                "keywords": info.category.owner_hint,
                "group": info.group,
            }
            for info in rows
        ]
        return render(_format_of(request.url.path), docs, root="services", item="service")

    @get("/services/{service_file:str}")
    async def service_definition(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, state: State, service_file: str
    ) -> Response[bytes]:
        code, fmt = _split(service_file)
        _check_jurisdiction(state, request)
        category = await open311.service(db_session, code)
        doc = {"service_code": category.code, "attributes": open311.definition(category)}
        return render(fmt, doc, root="service_definition")

    @post(["/requests.json", "/requests.xml"], status_code=201)
    async def create_request(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, state: State, geocoder: GridGeocoder
    ) -> Response[bytes]:
        fmt = _format_of(request.url.path)
        fields: dict[str, str] = dict(request.query_params.items())
        form = await request.form()
        fields.update({k: v for k, v in form.items() if isinstance(v, str)})
        settings = state.runtime.settings.citizens
        open311.check_api_key(settings.open311_api_keys, fields.get("api_key"))
        if fields.get("jurisdiction_id") and fields["jurisdiction_id"] != settings.open311_jurisdiction_id:
            raise Open311Error(404, f"jurisdiction_id {fields['jurisdiction_id']!r} not found")
        service_code = fields.get("service_code") or ""
        if not service_code:
            raise Open311Error(400, "service_code is required")
        try:
            lat, lng = float(fields["lat"]), float(fields["long"])
        except (KeyError, ValueError):
            raise Open311Error(400, "lat and long (WGS-84) are required; an address alone cannot be located") from None
        description = fields.get("description", "")
        media_url = fields.get("media_url", "")
        if media_url and media_url.startswith(("http://", "https://")):
            description = f"{description}\n图片：{media_url[:300]}".strip()
        case = await open311.create_request(
            db_session,
            geocoder,
            service_code=service_code,
            lat=lat,
            lng=lng,
            attributes=attribute_fields(fields),
            description=description[:2000],
            address=fields.get("address_string", "")[:200],
            phone=(fields.get("phone") or "")[:20] or None,
        )
        doc = [{"service_request_id": str(case.id), "service_notice": f"案卷编号 {case.number}", "account_id": None}]
        return render(fmt, doc, root="service_requests", item="request", status_code=201)

    @get(["/requests.json", "/requests.xml"])
    async def list_requests(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, state: State
    ) -> Response[bytes]:
        _check_jurisdiction(state, request)
        q = request.query_params
        views = await open311.find_requests(
            db_session,
            ids=split_list(q.get("service_request_id")),
            service_codes=split_list(q.get("service_code")),
            start=parse_datetime("start_date", q.get("start_date")),
            end=parse_datetime("end_date", q.get("end_date")),
            statuses=split_list(q.get("status")),
        )
        docs = [_request_doc(v, request) for v in views]
        return render(_format_of(request.url.path), docs, root="service_requests", item="request")

    @get("/requests/{request_file:str}")
    async def get_request(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, state: State, request_file: str
    ) -> Response[bytes]:
        request_id, fmt = _split(request_file)
        _check_jurisdiction(state, request)
        view = await open311.get_request(db_session, request_id)
        return render(fmt, [_request_doc(view, request)], root="service_requests", item="request")


def handle_open311_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    fmt = _format_of(request.url.path)
    if isinstance(exc, Open311Error | DomainError):
        return render_errors(fmt, exc.status_hint, exc.message)
    if isinstance(exc, ValidationException):
        return render_errors(fmt, 400, str(exc.detail))
    if isinstance(exc, NotFoundException):
        return render_errors(fmt, 404, "not found")
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return render_errors(fmt, exc.status_code, str(exc.detail))
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return render_errors(fmt, 500, "internal error")


router = Router(
    path=BASE,
    route_handlers=[Open311Controller],
    dependencies={"geocoder": Provide(provide_geocoder)},
    exception_handlers={Exception: handle_open311_error},
    include_in_schema=False,
)
