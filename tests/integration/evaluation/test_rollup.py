"""The rollup equals an independent recomputation from the raw events: the SQL of
``backend.evaluation.facts`` against the Python reference ``rules.case_facts`` on random histories, the
daily rollup kept by the worker's job against both, reruns and late (offline) events included."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import h3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, text

from backend.cases import service as cases
from backend.cases.enums import CaseAction
from backend.evaluation import jobs, rules
from backend.evaluation.facts import raw_facts
from backend.evaluation.rules import EventRow, Period, SubjectKind
from backend.models import Case, CaseEvent, EvaluationDay, new_id
from tests.evaluation_strategies import START, CaseHistory, city_history
from tests.integration.evaluation.history import D1, D2, D3, History, at

Key = tuple[date, str, str, str]


async def rollup_rows(db: Any, period: Period | None = None) -> dict[Key, int]:
    sql = "SELECT day, subject_kind, subject_id, measure, value FROM evaluation_daily"
    params: dict[str, Any] = {}
    if period is not None:
        sql += " WHERE day >= :d0 AND day <= :d1"
        params = {"d0": period.start, "d1": period.end}
    return {(d, k, s, m): int(v) for d, k, s, m, v in (await db.execute(text(sql), params)).all()}


async def sql_facts(db: Any, period: Period) -> dict[Key, int]:
    t0, t1 = period.bounds()
    rows = await raw_facts(db, list(SubjectKind), t0, t1, by_day=True)
    return {(d, k, s, m): int(v) for k, d, s, m, v in rows}


async def reference(db: Any, period: Period) -> dict[Key, int]:
    """Every case's events read back from the database and counted by the Python rules."""
    t0, t1 = period.bounds()
    grids = dict((await db.execute(select(Case.id, Case.grid_code))).all())
    events: dict[uuid.UUID, list[EventRow]] = {}
    for e in (await db.scalars(select(CaseEvent).order_by(CaseEvent.case_id, CaseEvent.seq))).all():
        events.setdefault(e.case_id, []).append(
            EventRow(e.seq, e.action, e.created_at, e.from_state, e.actor_kind, e.actor_id, e.actor_role, e.on_time,
                     e.stage, e.data)
        )  # fmt: skip
    by_collector = {str(c) for c, evs in events.items() if evs[0].actor_role == "collector"}
    facts = [
        f
        for case_id, evs in events.items()
        for f in rules.case_facts(
            grids.get(case_id), evs, collector_reported=by_collector.__contains__, since=t0, until=t1
        )
    ]
    return {(d, k.value, s, m): v for (d, k, s, m), v in rules.sum_facts(facts).items()}


async def test_scripted_history_rollup_equals_events_and_reference(db: Any, history: History) -> None:
    week = Period(D1, D3)
    expected = await reference(db, week)
    assert await sql_facts(db, week) == expected
    await jobs.rollup(db, Period(D1, D1))
    # The cron after the history: yesterday and today (D2, D3) and the days of events written since the
    # last run began — every event of this test, D1 included.
    assert await jobs.days_to_refresh(db, at(D3, "18:00")) == [D1, D2, D3]
    done = await jobs.rollup_recent(db, at(D3, "18:00"))
    assert done.days == 3 and done.events == await db.scalar(select(func.count()).select_from(CaseEvent))
    assert await rollup_rows(db) == expected
    covered = {d.day: d.events for d in (await db.scalars(select(EvaluationDay))).all()}
    assert set(covered) == {D1, D2, D3} and covered[D1] > covered[D3] > 0
    await jobs.rollup_recent(db, at(D3, "18:00"))
    assert await rollup_rows(db) == expected, "a rerun changes nothing"


async def test_a_late_offline_event_is_rolled_up_again(db: Any, history: History) -> None:
    week = Period(D1, D3)
    await jobs.rollup(db, week)
    later = D3 + timedelta(days=10)
    # I was sent to 环卫 on D1; a handler's phone, offline since, syncs its 签收 and 处置 of D2 morning.
    handler = (await db.execute(text("SELECT id, roles, department_id FROM staff WHERE username = 'handler1'"))).one()
    actor = cases.Actor.staff(handler.id, handler.roles, handler.department_id)
    await cases.step(db, actor, history.cases["I"], CaseAction.take, now=at(D2, "09:00"))
    await cases.step(db, actor, history.cases["I"], CaseAction.finish, now=at(D2, "09:30"))
    assert await rollup_rows(db, week) != await sql_facts(db, week), "the rollup is behind"
    assert D2 in await jobs.days_to_refresh(db, at(later, "09:00"))
    await jobs.rollup_recent(db, at(later, "09:00"))
    assert await rollup_rows(db, week) == await sql_facts(db, week) == await reference(db, week)
    hw = history.departments["XZ-HW"]
    assert (await rollup_rows(db))[(D2, "department", hw, "disposed")] == 1


async def test_random_ids_do_not_make_old_days_look_new(db: Any, history: History) -> None:
    """The sweep's events get their ids from the database (v4, random): one that sorts high must not send
    the cron back to its day."""
    await jobs.rollup(db, Period(D1, D1))
    old = datetime(2020, 1, 1, 12, tzinfo=UTC)
    await db.execute(
        insert(CaseEvent).values(
            id=uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff"), case_id=history.cases["A"], seq=999, action="urge",
            to_state="reopened", actor_kind="system", actor_role="system", data={}, created_at=old,
        )
    )  # fmt: skip
    days = await jobs.days_to_refresh(db, at(D3, "18:00"))
    assert date(2020, 1, 1) not in days and days == [D1, D2, D3]


def test_uuid7_floor_orders_with_the_ids_written_after() -> None:
    now = datetime.now(UTC)
    assert jobs.uuid7_floor(now - timedelta(seconds=1)) < new_id() < jobs.uuid7_floor(now + timedelta(seconds=5))


async def _insert(db: Any, cases_: list[CaseHistory]) -> None:
    lat, lng = 30.9, 114.8
    cell = h3.str_to_int(h3.latlng_to_cell(lat, lng, 10))
    for i, c in enumerate(cases_):
        await db.execute(
            insert(Case).values(
                id=uuid.UUID(c.id), number=f"PB{i:06d}{c.id[-6:]}", source=c.events[0].data["source"],
                category_code="E0101", state="reported", lat=lat, lng=lng, cell=cell, grid_code=c.grid,
                community_code=c.grid[:12] if c.grid else None, street_code=c.grid[:9] if c.grid else None,
                district_code=c.grid[:6] if c.grid else None, reporter_kind="citizen",
                created_at=c.events[0].created_at,
            )
        )  # fmt: skip
    rows = [
        {
            "case_id": uuid.UUID(c.id), "seq": e.seq, "action": e.action, "from_state": e.from_state,
            "to_state": e.from_state or "reported", "actor_kind": e.actor_kind, "actor_id": e.actor_id,
            "actor_role": e.actor_role, "data": dict(e.data), "stage": e.stage, "on_time": e.on_time,
            "created_at": e.created_at,
        }
        for c in cases_
        for e in c.events
    ]  # fmt: skip
    if rows:
        await db.execute(insert(CaseEvent), rows)


windows = st.tuples(st.integers(0, 12), st.integers(0, 12)).map(
    lambda t: Period(START.date() + timedelta(days=min(t)), START.date() + timedelta(days=max(t)))
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=city_history(max_cases=10), period=windows)
async def test_sql_equals_the_python_reference_and_the_rollup(
    db: Any, history: list[CaseHistory], period: Period
) -> None:
    savepoint = await db.begin_nested()
    try:
        await _insert(db, history)
        expected = await reference(db, period)
        assert await sql_facts(db, period) == expected
        await jobs.rollup(db, period)
        assert await rollup_rows(db, period) == expected
        # Summed over the range at once, the SQL gives the rollup's sums.
        t0, t1 = period.bounds()
        summed: dict[tuple[str, str, str], int] = {}
        for (_, kind, subject, measure), value in expected.items():
            summed[(kind, subject, measure)] = summed.get((kind, subject, measure), 0) + value
        at_once = await raw_facts(db, list(SubjectKind), t0, t1, by_day=False)
        assert {(k, s, m): int(v) for k, s, m, v in at_once} == summed
    finally:
        await savepoint.rollback()
