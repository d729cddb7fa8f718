"""The nearby view's JSON, assembled from per-toilet pieces, is byte for byte what encoding the
``ToiletList`` struct gives — for every kind of live status, both datums, both sources — and a piece is
never reused once its toilet, live status or open-now has changed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar.serialization import encode_json

from backend.live import LiveMetric, LiveState
from backend.places.rules import OpeningHours
from backend.toilets.enums import ToiletLevel
from backend.toilets.rules import ToiletInfo, ToiletLive, live_status
from backend.toilets.service import NearbyToilets, ToiletHit
from miniprogram_api.controllers.toilets import NearbyJson, toilet_out
from miniprogram_api.places_schemas import WALKING_NOTE, ToiletList, ToiletOut

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def metric(value: Any, age_s: float, interval_s: int = 60) -> LiveMetric:
    return LiveMetric(value, NOW - timedelta(seconds=age_s), "dev-1", interval_s, stale=age_s > 3 * interval_s)


def state(**metrics: LiveMetric) -> LiveState:
    newest = max(m.ts for m in metrics.values())
    return LiveState("toilet", "WC-1", dict(metrics), newest, all(m.stale for m in metrics.values()))


STATES: list[LiveState | None] = [
    None,  # no device
    state(
        free_stalls=metric(3, 30),
        occupied_stalls=metric(1, 30),
        people_in=metric(12, 30),
        nh3=metric(0.4123456789, 30),
        h2s=metric(0.002, 30),
        temperature_c=metric(-3.25, 30),
        humidity_pct=metric(55.0, 30),
        open=metric(True, 30),
    ),
    state(free_stalls=metric(4, 200), nh3=metric(0.5, 181), open=metric(False, 500)),  # all stale
    state(free_stalls=metric(0, 10), nh3=metric(4.0, 1000, interval_s=300), open=metric(False, 10)),  # some stale
    state(h2s=metric(1e-7, 5), temperature_c=metric(1e21, 5)),  # floats msgspec writes with exponents
]


def toilet(n: int, **overrides: Any) -> ToiletInfo:
    base: dict[str, Any] = dict(
        id=f"0190c0de-0000-7000-8000-{n:012d}", code=f"WC-{n}", name=f'公厕 "{n}" \\ 号\n', address="江汉路\t1号",
        lat=30.58 + n * 1e-4, lng=114.29 - n * 1e-4, level=ToiletLevel((n % 3) + 1),
        hours=OpeningHours.parse_text("daily 22:00-06:00" if n % 2 else "daily 06:00-22:00"),
        hours_text="每天 06:00-22:00", free=n % 2 == 0, fee_fen=0 if n % 2 == 0 else 50, male_stalls=n,
        female_stalls=2 * n, accessible_stalls=n % 2, third_toilet=n % 3 == 0, baby_care=n % 4 == 0,
        department_name=None,
    )  # fmt: skip
    return ToiletInfo(**{**base, **overrides})


def answer(items: list[tuple[ToiletInfo, float, ToiletLive, bool]], source: str, live: bool) -> NearbyToilets:
    return NearbyToilets([ToiletHit(*item) for item in items], source, live)


def struct_bytes(found: NearbyToilets, coord: str) -> bytes:
    items = [toilet_out(h.toilet, h.live, h.open_now, coord, h.distance_m) for h in found.items]
    return encode_json(ToiletList(items, found.source, found.live_available, WALKING_NOTE))  # type: ignore[arg-type]


@pytest.mark.parametrize("coord", ["gcj02", "wgs84"])
@pytest.mark.parametrize(("source", "live"), [("redis", True), ("redis", False), ("database", False)])
def test_the_assembled_answer_is_the_structs_encoding(coord: str, source: str, live: bool) -> None:
    rng = random.Random(f"{coord}{source}{live}")
    toilets = [toilet(n) for n in range(12)]
    statuses = [live_status(t.level, s, NOW) for t in toilets[:3] for s in STATES]
    renderer = NearbyJson()
    for _ in range(30):  # the same toilets again and again: pieces are reused, answers still exact
        picked = rng.sample(toilets, rng.randint(0, len(toilets)))
        distances = [0.0, 0.4999, 0.5, 1.5, 2.5, rng.uniform(0, 5000)]
        items = [(t, rng.choice(distances), rng.choice(statuses), rng.random() < 0.5) for t in picked]
        items.sort(key=lambda item: item[1])
        found = answer(items, source, live)
        body = renderer.render(found, coord)
        assert body == struct_bytes(found, coord)
        decoded = msgspec.json.decode(body, type=ToiletList)  # and it is a valid ToiletList
        assert [o.code for o in decoded.items] == [t.code for t, *_ in items]


def test_an_empty_answer() -> None:
    found = answer([], "database", False)
    assert NearbyJson().render(found, "gcj02") == struct_bytes(found, "gcj02")


def test_a_piece_is_not_reused_after_its_toilet_status_or_open_now_changed() -> None:
    renderer = NearbyJson()
    t = toilet(1)
    fresh = live_status(t.level, STATES[1], NOW)
    stale = live_status(t.level, STATES[2], NOW)
    first = renderer.render(answer([(t, 10.0, fresh, True)], "redis", True), "gcj02")
    # A new status object (a new reading), open-now flipping, the record reloaded after an edit, the
    # other datum: each is rendered anew.
    cases = [
        ((t, 10.0, stale, True), b'"live":false'),
        ((t, 10.0, fresh, False), b'"open_now":false'),
        ((toilet(1, name="改名了"), 10.0, fresh, True), "改名了".encode()),
    ]
    for item, expected in cases:
        found = answer([item], "redis", True)
        body = renderer.render(found, "gcj02")
        assert expected in body and expected not in first
        assert body == struct_bytes(found, "gcj02")
    wgs = answer([(t, 10.0, fresh, True)], "redis", True)
    assert renderer.render(wgs, "wgs84") == struct_bytes(wgs, "wgs84") != first


def test_the_distance_fields_end_the_struct() -> None:
    # The renderer appends them to each toilet's cached JSON: moving them would break every answer.
    assert ToiletOut.__struct_fields__[-3:] == ("distance_m", "walking_m", "walking_min")
