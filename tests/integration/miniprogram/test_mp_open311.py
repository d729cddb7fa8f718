"""Open311 GeoReport v2: discovery, services, a service definition, POST and GET requests — JSON and XML."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.models import Case
from tests.integration.miniprogram.mp_support import grid_point

BASE = "/open311/v2"
KEY = "open311-demo-key"  # the non-production default of OPEN311_API_KEYS


def xml(response: httpx.Response) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml"), response.headers["content-type"]
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)


async def _post(
    client: httpx.AsyncClient,
    db: Any,
    fmt: str = "json",
    attributes: dict[str, str] | None = None,
    **overrides: str,
) -> httpx.Response:
    lat, lng = await grid_point(db)
    form = {
        "api_key": KEY,
        "service_code": "C0101",
        "lat": str(lat),
        "long": str(lng),
        "address_string": "新洲大道与问津路交叉口",
        "description": "井盖缺失，很危险，电话13812345678",
        "phone": "13812345678",
    }
    chosen = {"problem": "缺失", "someone_fell": "false"} if attributes is None else attributes
    form.update({f"attribute[{code}]": value for code, value in chosen.items()})
    form.update(overrides)
    return await client.post(f"{BASE}/requests.{fmt}", data=form)


async def test_discovery(client: httpx.AsyncClient) -> None:
    doc = (await client.get(f"{BASE}/discovery.json")).json()
    endpoint = doc["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2") and "text/xml" in endpoint["formats"]
    root = xml(await client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]


async def test_services_and_definitions(client: httpx.AsyncClient) -> None:
    services = (await client.get(f"{BASE}/services.json")).json()
    manhole = next(s for s in services if s["service_code"] == "C0101")
    assert manhole == {
        "service_code": "C0101",
        "service_name": "上水井盖",
        "description": manhole["description"],
        "metadata": True,
        "type": "realtime",
        "keywords": manhole["keywords"],
        "group": "部件·公用设施",
    }
    root = xml(await client.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    node = next(s for s in root.findall("service") if s.findtext("service_code") == "C0101")
    assert node.findtext("metadata") == "true" and node.findtext("service_name") == "上水井盖"

    definition = (await client.get(f"{BASE}/services/C0101.json")).json()
    assert definition["service_code"] == "C0101"
    attrs = {a["code"]: a for a in definition["attributes"]}
    assert attrs["problem"]["datatype"] == "singlevaluelist" and attrs["problem"]["required"] is True
    assert {"key": "缺失", "name": "缺失"} in attrs["problem"]["values"]
    assert attrs["someone_fell"]["values"] == [{"key": "true", "name": "是"}, {"key": "false", "name": "否"}]
    assert [a["order"] for a in definition["attributes"]] == list(range(1, len(attrs) + 1))
    assert all(a["variable"] is True for a in definition["attributes"])

    defn = xml(await client.get(f"{BASE}/services/C0101.xml"))
    assert defn.tag == "service_definition"
    values = defn.findall("attributes/attribute/values/value")
    assert ("缺失", "缺失") in [(v.findtext("key"), v.findtext("name")) for v in values]
    assert defn.find("attributes/attribute/variable").text == "true"  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_round_trip(client: httpx.AsyncClient, db: Any, fmt: str) -> None:
    posted = await _post(client, db, fmt)
    assert posted.status_code == 201, posted.text
    if fmt == "json":
        request_id = posted.json()[0]["service_request_id"]
        assert posted.json()[0]["service_notice"].startswith("案卷编号 ")
    else:
        request_id = xml(posted).findtext("request/service_request_id")
    case = await db.get(Case, uuid.UUID(request_id))
    assert case.source == "open311" and case.category_code == "C0101" and case.reporter_kind == "system"
    assert case.answers == {"problem": "缺失", "someone_fell": False} and case.reporter_phone == "13812345678"

    got = await client.get(f"{BASE}/requests/{request_id}.{fmt}")
    assert got.status_code == 200, got.text
    if fmt == "json":
        [request] = got.json()
    else:
        root = xml(got)
        assert root.tag == "service_requests"
        request = {child.tag: child.text for child in root.find("request")}  # type: ignore[union-attr]
    assert request["service_request_id"] == request_id
    assert request["status"] == "open" and request["service_code"] == "C0101" and request["service_name"] == "上水井盖"
    assert float(request["lat"]) == pytest.approx(case.lat) and float(request["long"]) == pytest.approx(case.lng)
    assert "138****5678" in request["description"] and "13812345678" not in got.text
    assert str(request["requested_datetime"]).endswith("+08:00")
    assert request["media_url"] in (None, "")
    by_number = await client.get(f"{BASE}/requests/{case.number}.json")
    assert by_number.json()[0]["service_request_id"] == request_id


async def test_request_filters(client: httpx.AsyncClient, db: Any) -> None:
    first = (await _post(client, db)).json()[0]["service_request_id"]
    second = (await _post(client, db, service_code="E0101", attributes={"unused": ""})).json()
    assert isinstance(second, list), second
    second_id = second[0]["service_request_id"]

    listed = (await client.get(f"{BASE}/requests.json")).json()
    ids = [r["service_request_id"] for r in listed]
    assert ids.index(second_id) < ids.index(first), "newest first"
    only = (await client.get(f"{BASE}/requests.json", params={"service_code": "C0101"})).json()
    assert {r["service_code"] for r in only} == {"C0101"}
    by_ids = (await client.get(f"{BASE}/requests.json", params={"service_request_id": f"{first},{second_id}"})).json()
    assert {r["service_request_id"] for r in by_ids} == {first, second_id}
    closed = (await client.get(f"{BASE}/requests.json", params={"status": "closed"})).json()
    assert all(r["status"] == "closed" for r in closed) and first not in [r["service_request_id"] for r in closed]
    open_ones = (await client.get(f"{BASE}/requests.json", params={"status": "open"})).json()
    assert first in [r["service_request_id"] for r in open_ones]

    case = await db.get(Case, uuid.UUID(first))
    case.created_at = datetime.now(UTC) - timedelta(days=100)  # outside the default 90-day window
    await db.flush()
    recent = [r["service_request_id"] for r in (await client.get(f"{BASE}/requests.json")).json()]
    assert first not in recent
    old = datetime.now(UTC) - timedelta(days=120)
    window = {"start_date": old.isoformat(), "end_date": (old + timedelta(days=30)).isoformat()}
    assert first in [r["service_request_id"] for r in (await client.get(f"{BASE}/requests.json", params=window)).json()]
    too_long = {"start_date": old.isoformat(), "end_date": datetime.now(UTC).isoformat()}
    refused = await client.get(f"{BASE}/requests.json", params=too_long)
    assert refused.status_code == 400 and "90 days" in refused.json()[0]["description"]


async def test_errors_in_open311_format(client: httpx.AsyncClient, db: Any) -> None:
    no_key = await _post(client, db, api_key="wrong")
    assert no_key.status_code == 403
    assert no_key.json() == [{"code": 403, "description": "api_key is missing or invalid"}]
    no_key_xml = await _post(client, db, "xml", api_key="")
    root = xml(no_key_xml)
    assert no_key_xml.status_code == 403 and root.tag == "errors"
    assert root.findtext("error/code") == "403"

    unknown = await client.get(f"{BASE}/services/X9999.json")
    assert unknown.status_code == 404 and unknown.json()[0]["code"] == 404
    bad_attr = await _post(client, db, attributes={"problem": "不存在的选项", "someone_fell": "false"})
    assert bad_attr.status_code == 400 and bad_attr.json()[0]["code"] == 400
    no_place = await _post(client, db, lat="", long="")
    assert no_place.status_code == 400 and "lat" in no_place.json()[0]["description"]
    missing = await client.get(f"{BASE}/requests/{uuid.uuid4()}.json")
    assert missing.status_code == 404
    assert xml(await client.get(f"{BASE}/requests/{uuid.uuid4()}.xml")).tag == "errors"
    assert (await client.get(f"{BASE}/requests/abc.csv")).status_code == 404
    assert (await client.get(f"{BASE}/requests.json", params={"start_date": "yesterday"})).status_code == 400
    assert (await client.get(f"{BASE}/requests.json", params={"jurisdiction_id": "elsewhere"})).status_code == 404
    before = (await db.scalars(select(Case).where(Case.source == "open311"))).all()
    assert before == [], "no refused request wrote a case"
