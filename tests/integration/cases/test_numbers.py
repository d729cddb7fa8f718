"""Case numbers from Redis: per day, increasing, re-seeded above the database when Redis lost its key."""

from __future__ import annotations

from typing import Any

from backend.cases import numbers
from backend.cases.enums import CaseSource
from backend.cases.service import Actor, IntakeData, intake
from backend.geo.cache import GeocoderCache
from tests.integration.cases.conftest import MONDAY_9


async def test_numbers_come_from_redis_and_survive_a_lost_key(db: Any, redis: Any) -> None:
    previous = numbers._redis
    numbers.use_redis(redis)
    try:
        first = await numbers.next_number(db, MONDAY_9)
        second = await numbers.next_number(db, MONDAY_9)
        assert first[:8] == "20261123" and int(second[8:]) == int(first[8:]) + 1
        # Cases already carry numbers up to some N today; Redis forgets its key (restart without data).
        geocoder = await GeocoderCache().get(db)
        made = await intake(
            db, geocoder, Actor.citizen("n-test"),
            IntakeData(source=CaseSource.citizen, category_code="E0101", lat=30.87, lng=114.76),
            now=MONDAY_9,
        )  # fmt: skip
        assert int(made.case.number[8:]) == int(second[8:]) + 1
        await redis.delete("case-number:20261123")
        after_loss = await numbers.next_number(db, MONDAY_9)
        assert int(after_loss[8:]) > int(made.case.number[8:]), "never reuses a number the database holds"
        other_day = await numbers.next_number(db, MONDAY_9.replace(day=24))
        assert other_day.startswith("20261124")
        # The counting script runs by its SHA; a Redis that forgot its scripts gets it loaded again.
        await redis.script_flush()
        again = await numbers.next_number(db, MONDAY_9)
        assert int(again[8:]) == int(after_loss[8:]) + 1
    finally:
        numbers.use_redis(previous)
