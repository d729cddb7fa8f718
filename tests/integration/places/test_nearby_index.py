"""The nearby indexes: Redis down → the same answer from PostgreSQL; the start-up check heals a set that
is out of step; the rebuild command; imports of toilets (CSV, GeoJSON) all-or-nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from click.testing import CliRunner
from redis.asyncio import Redis
from sqlalchemy import select

from backend.cli import main
from backend.embedded import EmbeddedValkey, free_port
from backend.errors import ValidationFailed
from backend.models import Toilet
from backend.parking import service as parking
from backend.places.startup import heal
from backend.redis import create_redis
from backend.toilets import service as toilets
from backend.toilets.rules import ToiletFilters
from tests.integration.places.places_support import CENTRE, add_lot, add_toilet, around, report

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # Friday 10:00 in Shanghai


@pytest.fixture
async def own_valkey(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedValkey, Redis]]:
    """A Valkey of this test's own, to stop in the middle of it."""
    valkey = EmbeddedValkey(data_dir=tmp_path / "valkey", port=free_port())
    await asyncio.to_thread(valkey.start)
    client = create_redis(valkey.url)
    try:
        yield valkey, client
    finally:
        await client.aclose()
        await asyncio.to_thread(valkey.stop)


def answer(found: Any) -> list[tuple[str, float, int, int, bool]]:
    return [(h.toilet.code, round(h.distance_m, 6), h.walk.metres, h.walk.minutes, h.open_now) for h in found.items]


async def test_redis_down_gives_the_same_answer(db: Any, own_valkey: tuple[EmbeddedValkey, Redis]) -> None:
    valkey, redis = own_valkey
    await add_toilet(db, "F-1", 10, 120, level=1, accessible_stalls=2)
    await add_toilet(db, "F-2", 100, 340, level=2, baby_care=True)
    await add_toilet(db, "F-3", 200, 480, level=2, opening_hours={"weekly": {"sat": ["00:00-24:00"]}})
    await add_toilet(db, "F-4", 300, 700, level=3)
    await add_toilet(db, "F-5", 40, 700, level=2, accessible_stalls=1)  # the same distance as F-4: ties by id
    await add_toilet(db, "F-6", 250, 1450, level=1)
    await add_toilet(db, "F-7", 80, 1600, level=2)  # just outside 1500 m
    await add_lot(db, "P-1", 0, 200)
    await add_lot(db, "P-2", 90, 900, capacity={"normal": 10, "charging": 2})
    await db.flush()
    queries = [
        ToiletFilters(),
        ToiletFilters(accessible=True),
        ToiletFilters(open_now=True),
        ToiletFilters(levels=frozenset({2})),
        ToiletFilters(baby_care=True, open_now=True),
    ]
    up: list[Any] = [
        await toilets.nearby(db, redis, *CENTRE, radius_m=1500, limit=10, filters=f, now=NOW) for f in queries
    ]
    up_limited = await toilets.nearby(db, redis, *CENTRE, radius_m=1500, limit=3, now=NOW)
    lots_up = await parking.guide(db, redis, *CENTRE, radius_m=1500, now=NOW)
    assert all(r.source == "redis" for r in [*up, up_limited, lots_up])
    assert [c for c, *_ in answer(up[0])] == ["F-1", "F-2", "F-3", *sorted(["F-4", "F-5"], key=_id_of(up[0])), "F-6"]

    await asyncio.to_thread(valkey.stop)  # Redis goes away

    down: list[Any] = [
        await toilets.nearby(db, redis, *CENTRE, radius_m=1500, limit=10, filters=f, now=NOW) for f in queries
    ]
    down_limited = await toilets.nearby(db, redis, *CENTRE, radius_m=1500, limit=3, now=NOW)
    lots_down = await parking.guide(db, redis, *CENTRE, radius_m=1500, now=NOW)
    assert all(r.source == "database" and not r.live_available for r in [*down, down_limited, lots_down])
    for a, b in zip(up, down, strict=True):
        assert answer(a) == answer(b)
        assert answer(a)  # every query finds something
    assert answer(up_limited) == answer(down_limited)
    assert [(h.lot.code, round(h.distance_m, 6)) for h in lots_up.items] == [
        (h.lot.code, round(h.distance_m, 6)) for h in lots_down.items
    ]


def _id_of(found: Any) -> Any:
    ids = {h.toilet.code: h.toilet.id for h in found.items}
    return lambda code: ids[code]


async def test_the_check_heals_an_index_out_of_step(db: Any, redis: Any, session_factory: Any, connection: Any) -> None:
    await toilets.INDEX.rebuild(db, redis)
    toilet = await add_toilet(db, "H-1", 0, 100)
    await db.commit()
    await redis.zrem(toilets.INDEX.geo_key, str(toilet.id))  # a change lost (say, Redis died before it)
    await redis.geoadd(toilets.INDEX.geo_key, [114.0, 30.0, "a-deleted-toilet"])
    assert await toilets.INDEX.check(db, redis) is True
    members = {m.decode() for m in await redis.zrange(toilets.INDEX.geo_key, 0, -1)}
    assert str(toilet.id) in members and "a-deleted-toilet" not in members
    assert await toilets.INDEX.check(db, redis) is False  # in step now

    await redis.delete(toilets.INDEX.version_key)  # Redis restarted empty: no token, no trust
    healed = await heal(session_factory, redis)
    assert healed == {"toilet": True, "parking": True}
    assert await heal(session_factory, redis) == {"toilet": False, "parking": False}


async def test_a_search_rebuilds_a_lost_index(db: Any, redis: Any) -> None:
    await add_toilet(db, "L-1", 0, 100)
    await db.flush()
    await redis.flushdb()
    found = await toilets.nearby(db, redis, *CENTRE)
    assert [h.toilet.code for h in found.items] == ["L-1"] and found.source == "redis"
    assert await redis.exists(toilets.INDEX.version_key)


async def test_import_csv_and_geojson(db: Any, redis: Any) -> None:
    (lat1, lng1), (lat2, lng2) = around(0, 100), around(90, 200)
    csv_text = (
        "code,name,lat,lng,level,hours,special_days,free,fee_fen,male_stalls,female_stalls,accessible_stalls,"
        "third_toilet,baby_care,department_code,address\n"
        f'IM-1,江汉路公厕,{lat1},{lng1},一类,"mon-fri 06:00-22:00; sat,sun 22:00-06:00",2026-10-01 closed,'
        "是,,6,8,1,是,是,"
        "XZ-HW,江汉路\n"
        f"IM-2,前进路公厕,{lat2},{lng2},3,24h,,no,50,2,2,0,no,no,,\n"
    )
    result = await toilets.import_csv(db, csv_text)
    assert (result.created, result.updated) == (2, 0)
    first = await db.scalar(select(Toilet).where(Toilet.code == "IM-1"))
    assert first is not None and first.level == 1 and first.third_toilet and first.department_id is not None
    assert first.opening_hours["weekly"]["sat"] == ["22:00-06:00"]
    assert first.opening_hours["special"] == {"2026-10-01": []}
    second = await db.scalar(select(Toilet).where(Toilet.code == "IM-2"))
    assert second is not None and (second.free, second.fee_fen) == (False, 50)

    geojson = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lng1, lat1]},
                "properties": {"code": "IM-1", "name": "江汉路公厕（改）", "level": 2,
                               "hours": {"weekly": {"mon": ["08:00-18:00"]}}},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lng2, lat2]},
                "properties": {"code": "IM-3", "name": "新公厕", "baby_care": True},
            },
        ],
    }  # fmt: skip
    result = await toilets.import_geojson(db, geojson)
    assert (result.created, result.updated) == (1, 1)
    await db.refresh(first)
    assert (
        first.name == "江汉路公厕（改）"
        and first.level == 2
        and first.opening_hours["weekly"] == {"mon": ["08:00-18:00"]}
    )


async def test_a_bad_import_writes_nothing_and_lists_every_problem(db: Any, redis: Any) -> None:
    lat, lng = around(0, 100)
    csv_text = (
        "code,name,lat,lng,level,hours\n"
        f"BAD-1,好公厕,{lat},{lng},2,24h\n"
        f"BAD-2,,{lat},{lng},2,24h\n"  # no name
        f"BAD-3,公厕,95,{lng},2,24h\n"  # latitude out of range
        f"BAD-4,公厕,{lat},{lng},四类,24h\n"
        f"BAD-5,公厕,{lat},{lng},2,mon 25:00-26:00\n"
        f"BAD-1,重复,{lat},{lng},2,24h\n"
        f"BAD-6,公厕,{lat},{lng},2,sat,sun 24h\n"  # an unquoted comma
    )
    with pytest.raises(ValidationFailed) as caught:
        await toilets.import_csv(db, csv_text)
    problems = caught.value.details["problems"]
    assert [p["feature"] for p in problems] == [3, 4, 5, 6, 7, 8]
    assert await db.scalar(select(Toilet.id).where(Toilet.code.like("BAD-%"))) is None


def _delete_imported(dsn: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("DELETE FROM toilets WHERE code LIKE 'CLI-%'")
        finally:
            await conn.close()

    asyncio.run(run())


def test_cli_import_and_rebuild_index(services: dict[str, str], tmp_path: Path) -> None:
    dsn = services["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    lat, lng = around(0, 100)
    good = tmp_path / "toilets.geojson"
    good.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [lng, lat]},
                        "properties": {"code": "CLI-1", "name": "命令行公厕", "level": "二类"},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    bad = tmp_path / "toilets.csv"
    bad.write_text("code,name,lat,lng\nCLI-2,,30.5,114.3\n", encoding="utf-8")
    try:
        result = CliRunner().invoke(main, ["toilets", "import", str(good)])
        assert result.exit_code == 0, result.output
        assert "imported 1 toilets (1 new, 0 updated)" in result.output
        refused = CliRunner().invoke(main, ["toilets", "import", str(bad)])
        assert refused.exit_code != 0 and "import_invalid" in refused.output and "2:" in refused.output
        rebuilt = CliRunner().invoke(main, ["toilets", "rebuild-index"])
        assert rebuilt.exit_code == 0 and "toilet index rebuilt" in rebuilt.output
        assert CliRunner().invoke(main, ["parking", "rebuild-index"]).exit_code == 0
    finally:
        _delete_imported(dsn)


async def test_the_live_cache_serves_within_its_ttl_and_staleness_is_judged_at_each_request(
    db: Any, redis: Any
) -> None:
    toilets.LIVE.ttl_s = 60  # the fixture restores it
    await add_toilet(db, "K-1", 0, 50)
    await db.flush()
    now = datetime.now(UTC)
    await report(redis, "toilet", "K-1", free_stalls=2, interval_s=60, age_s=170)  # stale in 10 s
    first = (await toilets.nearby(db, redis, *CENTRE, now=now)).items[0].live
    assert (first.live, first.free_stalls) == (True, 2)
    await report(redis, "toilet", "K-1", free_stalls=5, interval_s=60, age_s=0)
    cached = (await toilets.nearby(db, redis, *CENTRE, now=now)).items[0].live
    assert cached.free_stalls == 2  # the cached state, within the TTL
    later = (await toilets.nearby(db, redis, *CENTRE, now=now + timedelta(seconds=11))).items[0].live
    assert (later.live, later.free_stalls, later.stale_metrics) == (False, None, ("free_stalls",))
    toilets.LIVE.clear()
    fresh = (await toilets.nearby(db, redis, *CENTRE)).items[0].live
    assert (fresh.live, fresh.free_stalls) == (True, 5)


async def test_an_unknown_id_reloads_the_places_even_while_the_token_is_trusted(db: Any, redis: Any) -> None:
    toilets.INDEX.version_ttl_s = 60  # the fixture restores it
    await add_toilet(db, "V-1", 0, 100)
    await db.flush()
    assert [h.toilet.code for h in (await toilets.nearby(db, redis, *CENTRE)).items] == ["V-1"]
    # another API process adds a toilet: its commit puts it in the set with a new token
    other = await add_toilet(db, "V-2", 0, 200)
    await db.flush()
    await redis.geoadd(toilets.INDEX.geo_key, [other.lng, other.lat, str(other.id)])
    await redis.set(toilets.INDEX.version_key, "changed-elsewhere")
    assert [h.toilet.code for h in (await toilets.nearby(db, redis, *CENTRE)).items] == ["V-1", "V-2"]


async def _spy_searches(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    real = toilets.INDEX.search

    async def spy(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        calls.append((kwargs.get("count"), result.beyond_m, len(result.hits)))
        return result

    monkeypatch.setattr(toilets.INDEX, "search", spy)
    return calls


async def test_unfiltered_it_asks_redis_for_the_nearest_few_and_answers_as_the_full_search(
    db: Any, redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(60):  # 60 toilets within 300 m, at distinct distances
        await add_toilet(db, f"D-{i:02d}", i * 37 % 360, 20 + i * 4.7)
    await db.flush()
    full = await toilets.INDEX.search(db, redis, *CENTRE, 300)
    assert len(full.hits) == 60 and full.beyond_m is None
    calls = await _spy_searches(monkeypatch)
    found = await toilets.nearby(db, redis, *CENTRE, radius_m=300, limit=5)
    assert [h.toilet.code for h in found.items] == [h.place.code for h in full.hits[:5]]
    assert [round(h.distance_m, 6) for h in found.items] == [round(h.distance_m, 6) for h in full.hits[:5]]
    ((count, beyond_m, hits),) = calls
    assert count == 5 + toilets.SEARCH_SPARE and hits == count, "Redis returned only the nearest few"
    assert beyond_m is not None and found.items[-1].distance_m <= beyond_m
    calls.clear()
    accessible = await toilets.nearby(db, redis, *CENTRE, radius_m=300, limit=5, filters=ToiletFilters(accessible=True))
    assert calls == [(None, None, 60)], "a filtered search asks for every toilet within the radius"
    assert len(accessible.items) <= 5


async def test_when_the_nearest_few_are_not_provably_the_nearest_it_searches_again_in_full(
    db: Any, redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(40):  # a ring: 40 toilets all 150 m away, where Redis's order is its own
        await add_toilet(db, f"E-{i:02d}", i * 9.0, 150)
    await db.flush()
    full = await toilets.INDEX.search(db, redis, *CENTRE, 500)
    calls = await _spy_searches(monkeypatch)
    found = await toilets.nearby(db, redis, *CENTRE, radius_m=500, limit=5)
    assert [c[0] for c in calls] == [5 + toilets.SEARCH_SPARE, None]
    assert [h.toilet.code for h in found.items] == [h.place.code for h in full.hits[:5]]
