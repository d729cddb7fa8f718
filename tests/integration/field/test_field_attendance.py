"""Shifts and attendance: schedules by the shift lead, check-in/out against the grid's geofence (inside,
just outside within the tolerance, beyond), late / early leave / absent, and the daily report."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.field import live
from backend.field.rules import local_day
from backend.geo import destination_point
from backend.models import Grid, Shift
from tests.integration.field.field_support import ZHUCHENG_GRID, new_client_id, now, put_on_shift, sign_in, staff

BASE = "/api/field/v1"


async def _west_of_grid(db: Any, code: str, metres: float) -> tuple[float, float]:
    grid = await db.get(Grid, code)
    mid_lat = (grid.min_lat + grid.max_lat) / 2
    if metres == 0:
        return mid_lat, (grid.min_lng + grid.max_lng) / 2
    p = destination_point(mid_lat, grid.min_lng, 270, metres)
    return p.lat, p.lng


def punch(lat: float, lng: float, at: datetime | None = None) -> dict[str, Any]:
    return {
        "client_id": new_client_id(),
        "client_ts": (at or now()).isoformat(),
        "lat": lat,
        "lng": lng,
        "coord": "wgs84",
        "accuracy": 12,
    }


async def _schedule(client: httpx.AsyncClient, lead: dict[str, str], staff_id: Any, start: datetime, hours: int) -> Any:
    response = await client.put(
        f"{BASE}/shifts",
        json={
            "shifts": [
                {
                    "staff_id": str(staff_id),
                    "day": local_day(start).isoformat(),
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(hours=hours)).isoformat(),
                    "grid_codes": [ZHUCHENG_GRID],
                    "note": "早班",
                }
            ]
        },
        headers=lead,
    )
    assert response.status_code == 200, response.text
    return response.json()["items"][0]


async def test_only_shift_leads_schedule_and_each_sees_their_own(client: httpx.AsyncClient, db: Any) -> None:
    collector = await staff(db, "collector1")
    lead = await sign_in(client, "lead1")
    start = now() - timedelta(hours=1)
    shift = await _schedule(client, lead, collector.id, start, 8)
    assert shift["grid_codes"] == [ZHUCHENG_GRID] and shift["note"] == "早班"
    # Scheduling again for the same day replaces it.
    replaced = await _schedule(client, lead, collector.id, start, 6)
    assert replaced["id"] == shift["id"]

    mine = await sign_in(client, "collector1")
    day = local_day(start).isoformat()
    listed = await client.get(f"{BASE}/shifts", params={"from": day}, headers=mine)
    assert [s["id"] for s in listed.json()["items"]] == [shift["id"]]
    forbidden = await client.put(f"{BASE}/shifts", json={"shifts": []}, headers=mine)
    assert forbidden.status_code == 403
    officer = await staff(db, "officer1")
    others = await client.get(f"{BASE}/shifts", params={"from": day, "staff_id": str(officer.id)}, headers=mine)
    assert others.status_code == 404
    bad_grid = await client.put(
        f"{BASE}/shifts",
        json={"shifts": [{"staff_id": str(collector.id), "day": day, "starts_at": start.isoformat(),
                          "ends_at": (start + timedelta(hours=2)).isoformat(), "grid_codes": ["420117999999999"]}]},
        headers=lead,
    )  # fmt: skip
    assert bad_grid.status_code == 400 and bad_grid.json()["error"]["code"] == "unknown_grid"


@pytest.mark.parametrize(
    ("metres_outside", "accepted"),
    [(0, True), (30, True), (48, True), (55, False), (400, False)],
)
async def test_check_in_geofence(
    client: httpx.AsyncClient, db: Any, redis: Any, metres_outside: float, accepted: bool
) -> None:
    await put_on_shift(db, await staff(db, "collector1"), [ZHUCHENG_GRID], checked_in=False)
    headers = await sign_in(client, "collector1")
    lat, lng = await _west_of_grid(db, ZHUCHENG_GRID, metres_outside)
    response = await client.post(f"{BASE}/attendance/check-in", json=punch(lat, lng), headers=headers)
    if accepted:
        assert response.status_code == 200, response.text
        assert response.json()["outside_m"] == pytest.approx(metres_outside, abs=0.5)
        assert response.json()["status"] == "on_duty"
    else:
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "outside_geofence"
        assert error["details"]["outside_m"] == pytest.approx(metres_outside, abs=0.5)
        assert error["details"]["tolerance_m"] == 50


async def test_late_check_in_early_check_out_and_the_report(client: httpx.AsyncClient, db: Any, redis: Any) -> None:
    collector = await staff(db, "collector1")
    lead = await sign_in(client, "lead1")
    start = now() - timedelta(hours=2)  # started two hours ago: late
    await _schedule(client, lead, collector.id, start, 8)
    headers = await sign_in(client, "collector1")
    lat, lng = await _west_of_grid(db, ZHUCHENG_GRID, 0)

    checked_in = await client.post(f"{BASE}/attendance/check-in", json=punch(lat, lng), headers=headers)
    assert checked_in.status_code == 200, checked_in.text
    body = checked_in.json()
    assert body["flags"] == ["late"] and body["late_s"] == pytest.approx(7200, abs=60)
    assert await live.position_of(redis, collector.id) is not None, "on shift: on the live map"
    again = await client.post(f"{BASE}/attendance/check-in", json=punch(lat, lng), headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_checked_in"

    out = await client.post(f"{BASE}/attendance/check-out", json=punch(lat, lng), headers=headers)
    assert out.status_code == 200, out.text
    assert out.json()["status"] == "checked_out" and out.json()["flags"] == ["late", "early_leave"]
    assert out.json()["early_leave_s"] == pytest.approx(6 * 3600, abs=60)
    assert await live.position_of(redis, collector.id) is None, "checked out: off the live map"

    report = await client.get(f"{BASE}/attendance/report", params={"day": local_day(start).isoformat()}, headers=lead)
    assert report.status_code == 200, report.text
    row = next(r for r in report.json()["items"] if r["username"] == "collector1")
    assert row["flags"] == ["late", "early_leave"] and row["normal"] is False and row["offline"] is False
    assert report.json()["summary"]["late"] >= 1

    own = await client.get(f"{BASE}/attendance/report", params={"day": local_day(start).isoformat()}, headers=headers)
    assert {r["username"] for r in own.json()["items"]} == {"collector1"}
    officer = await staff(db, "officer1")
    other = await client.get(
        f"{BASE}/attendance/report",
        params={"day": local_day(start).isoformat(), "staff_id": str(officer.id)},
        headers=headers,
    )
    assert other.status_code == 404


async def test_absent_when_nobody_checked_in_by_the_end(client: httpx.AsyncClient, db: Any) -> None:
    officer = await staff(db, "officer1")
    start = now() - timedelta(days=2)
    await put_on_shift(db, officer, [], checked_in=False, start=start)
    lead = await sign_in(client, "lead1")
    report = await client.get(f"{BASE}/attendance/report", params={"day": local_day(start).isoformat()}, headers=lead)
    row = next(r for r in report.json()["items"] if r["username"] == "officer1")
    assert row["status"] == "absent" and row["check_in_at"] is None
    assert report.json()["summary"]["absent"] >= 1
    # A check-in after the end is refused: the shift stays absent.
    headers = await sign_in(client, "officer1")
    late = await client.post(f"{BASE}/attendance/check-in", json=punch(30.8, 114.8), headers=headers)
    assert late.status_code == 400 and late.json()["error"]["code"] == "no_shift"


async def test_an_offline_check_in_counts_at_the_clients_time(client: httpx.AsyncClient, db: Any) -> None:
    collector = await staff(db, "collector1")
    start = now() - timedelta(hours=3)
    await put_on_shift(db, collector, [ZHUCHENG_GRID], checked_in=False, start=start)
    headers = await sign_in(client, "collector1")
    lat, lng = await _west_of_grid(db, ZHUCHENG_GRID, 0)
    made_at = start + timedelta(minutes=3)  # on time, sent three hours later
    item = {"client_id": new_client_id(), "client_ts": made_at.isoformat(), "kind": "attendance.check_in",
            "payload": {"lat": lat, "lng": lng, "coord": "wgs84"}}  # fmt: skip
    synced = await client.post(f"{BASE}/sync", json={"items": [item]}, headers=headers)
    assert synced.status_code == 200, synced.text
    result = synced.json()["results"][0]
    assert result["outcome"] == "applied" and result["result"]["flags"] == []
    assert datetime.fromisoformat(result["result"]["check_in_at"]) == made_at
    shift = await db.scalar(select(Shift).where(Shift.staff_id == collector.id))
    lead = await sign_in(client, "lead1")
    report = await client.get(f"{BASE}/attendance/report", params={"day": shift.day.isoformat()}, headers=lead)
    row = next(r for r in report.json()["items"] if r["username"] == "collector1")
    assert row["offline"] is True and row["status"] == "on_duty"
