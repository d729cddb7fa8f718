"""Alarms (告警): raised, repeated and cleared by rule evaluation; acknowledged and cleared by staff;
silent devices found by the periodic sweep.

Exactly one active alarm per device and rule is the database's job: the partial unique index
``uq_alarms_active_device_rule`` (WHERE state <> 'cleared') plus ``INSERT … ON CONFLICT DO UPDATE``,
so two batches racing to raise the same alarm end with one row whose ``count`` has both.

Outbox messages (written in the alarm's transaction, only for rules with a ``case_category_code``;
the case core registers their handlers — it opens, annotates and reopens cases):

``alarm.raised`` (dedup key ``alarm.raised:<alarm_id>``)::

    {"alarm_id": str, "device_id": str, "device_code": str, "rule_id": str, "rule_code": str,
     "category_code": "E0701", "severity": "info|minor|major|critical",
     "object_kind": "manhole", "object_id": str,
     "lat": float | null, "lng": float | null, "coord": "wgs84",   # where the device is installed
     "metric": str | null, "first_value": Any, "raised_at": RFC 3339}

``alarm.cleared`` (dedup key ``alarm.cleared:<alarm_id>``)::

    {"alarm_id": str, "device_id": str, "rule_id": str, "category_code": str,
     "cleared_at": RFC 3339, "clear_value": Any,       # the reading that met the clear condition
     "cleared_by": str | null, "note": str | null}     # a staff id for a manual clear, else null

A cleared alarm is the evidence for 核查; a later raise of the same rule is a new alarm (and a new
``alarm.raised``), which the case core may take as "the problem returned".
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.devices.enums import AlarmState, ConditionKind, DeviceStatus
from backend.devices.rules import AlarmEvent, Rule, RuleError, RuleState, evaluate_silence, next_alarm_state, parse_rule
from backend.errors import NotFound
from backend.models import Alarm, AlarmRule, Device, new_id
from backend.outbox import publish

TOPIC_RAISED = "alarm.raised"
TOPIC_CLEARED = "alarm.cleared"
ACTIVE = text("state <> 'cleared'")


@dataclass(frozen=True)
class DeviceRef:
    """What an alarm records about its device and watched object."""

    id: uuid.UUID
    code: str
    object_kind: str
    object_id: str
    lat: float | None
    lng: float | None


@dataclass(frozen=True)
class RuleRef:
    id: uuid.UUID
    code: str
    severity: str
    metric: str | None
    case_category_code: str | None


def rule_ref(row: Any, parsed: Rule | None = None) -> RuleRef:
    """The alarm's view of a rule, from an ``AlarmRule`` or a row with the same columns."""
    metric = parsed.metric if parsed else row.condition.get("metric")
    return RuleRef(row.id, row.code, row.severity, metric, row.case_category_code)


def device_ref(device: Any) -> DeviceRef:
    """From a ``Device`` or a row with its columns."""
    return DeviceRef(device.id, device.code, device.object_kind, device.object_id, device.lat, device.lng)


@dataclass(frozen=True)
class AlarmChange:
    alarm_id: uuid.UUID
    kind: str  # "raised" | "repeated" | "cleared"


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


async def raise_or_repeat(
    session: AsyncSession,
    device: DeviceRef,
    rule: RuleRef,
    *,
    first: AlarmEvent,
    last: AlarmEvent,
    count: int,
) -> tuple[uuid.UUID, bool]:
    """Insert the active alarm of (device, rule) or, when one is active, add ``count`` to it.
    Returns (alarm id, whether it was raised now). Publishes ``alarm.raised`` for a new one."""
    values = insert(Alarm).values(
        id=new_id(),
        device_id=device.id,
        rule_id=rule.id,
        state=AlarmState.ACTIVE_UNACKNOWLEDGED.value,
        severity=rule.severity,
        category_code=rule.case_category_code,
        object_kind=device.object_kind,
        object_id=device.object_id,
        metric=rule.metric,
        first_value=first.value,
        last_value=last.value,
        count=count,
        raised_at=first.at,
        last_at=last.at,
    )
    stmt: Any = values.on_conflict_do_update(
        index_elements=[Alarm.device_id, Alarm.rule_id],
        index_where=ACTIVE,
        set_={
            "count": Alarm.count + values.excluded.count,
            "last_value": values.excluded.last_value,
            "last_at": values.excluded.last_at,
            "updated_at": values.excluded.updated_at,
        },
    ).returning(Alarm.id, literal_column("(xmax = 0)").label("inserted"))  # xmax = 0: the row is new
    row = (await session.execute(stmt)).one()
    alarm_id, inserted = row[0], bool(row[1])
    if inserted and rule.case_category_code:
        await publish(
            session,
            TOPIC_RAISED,
            {
                "alarm_id": str(alarm_id),
                "device_id": str(device.id),
                "device_code": device.code,
                "rule_id": str(rule.id),
                "rule_code": rule.code,
                "category_code": rule.case_category_code,
                "severity": rule.severity,
                "object_kind": device.object_kind,
                "object_id": device.object_id,
                "lat": device.lat,
                "lng": device.lng,
                "coord": "wgs84",
                "metric": rule.metric,
                "first_value": first.value,
                "raised_at": _iso(first.at),
            },
            dedup_key=f"{TOPIC_RAISED}:{alarm_id}",
        )
    return alarm_id, inserted


async def _publish_cleared(session: AsyncSession, alarm: Alarm) -> None:
    if not alarm.category_code or alarm.cleared_at is None:
        return
    await publish(
        session,
        TOPIC_CLEARED,
        {
            "alarm_id": str(alarm.id),
            "device_id": str(alarm.device_id),
            "rule_id": str(alarm.rule_id),
            "category_code": alarm.category_code,
            "cleared_at": _iso(alarm.cleared_at),
            "clear_value": alarm.clear_value,
            "cleared_by": str(alarm.cleared_by) if alarm.cleared_by else None,
            "note": alarm.clear_note,
        },
        dedup_key=f"{TOPIC_CLEARED}:{alarm.id}",
    )


async def clear_active(
    session: AsyncSession, device_id: uuid.UUID, rule_id: uuid.UUID, *, at: datetime, value: Any
) -> uuid.UUID | None:
    """Clear the active alarm of (device, rule) because its clear condition was met."""
    alarm = await session.scalar(
        select(Alarm)
        .where(Alarm.device_id == device_id, Alarm.rule_id == rule_id, Alarm.state != AlarmState.CLEARED.value)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if alarm is None:  # cleared by hand meanwhile
        return None
    alarm.state = AlarmState.CLEARED.value
    alarm.cleared_at = at
    alarm.clear_value = value
    await session.flush()
    await _publish_cleared(session, alarm)
    return alarm.id


async def apply_events(
    session: AsyncSession, device: DeviceRef, rule: RuleRef, events: Sequence[AlarmEvent]
) -> list[AlarmChange]:
    """Carry out what one rule's evaluation found: each run of raise/repeat events becomes one
    upsert (its count the run's length), each clear clears the active alarm."""
    changes: list[AlarmChange] = []
    run: list[AlarmEvent] = []

    async def flush_run() -> None:
        if run:
            alarm_id, inserted = await raise_or_repeat(
                session, device, rule, first=run[0], last=run[-1], count=len(run)
            )
            changes.append(AlarmChange(alarm_id, "raised" if inserted else "repeated"))
            run.clear()

    for event in events:
        if event.kind == "clear":
            await flush_run()
            cleared = await clear_active(session, device.id, rule.id, at=event.at, value=event.value)
            if cleared is not None:
                changes.append(AlarmChange(cleared, "cleared"))
        else:
            run.append(event)
    await flush_run()
    return changes


# --- staff actions ----------------------------------------------------------------------------------


async def get_alarm(session: AsyncSession, alarm_id: uuid.UUID, *, for_update: bool = False) -> Alarm:
    stmt = select(Alarm).where(Alarm.id == alarm_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    alarm = await session.scalar(stmt)
    if alarm is None:
        raise NotFound("no such alarm", code="alarm_not_found")
    return alarm


async def acknowledge(session: AsyncSession, alarm_id: uuid.UUID, staff_id: uuid.UUID) -> Alarm:
    """确认 — a staff member has seen the alarm (active-unacknowledged → active-acknowledged)."""
    alarm = await get_alarm(session, alarm_id, for_update=True)
    alarm.state = next_alarm_state(alarm.state, "acknowledge").value
    alarm.acknowledged_at = datetime.now(UTC)
    alarm.acknowledged_by = staff_id
    await session.flush()
    return alarm


async def clear(session: AsyncSession, alarm_id: uuid.UUID, staff_id: uuid.UUID, note: str | None = None) -> Alarm:
    """解除 — a staff member clears an active alarm by hand. The rule starts afresh on the device,
    so an alarm whose condition still holds is raised again (as a new alarm) by later readings."""
    alarm = await get_alarm(session, alarm_id, for_update=True)
    alarm.state = next_alarm_state(alarm.state, "clear").value
    alarm.cleared_at = datetime.now(UTC)
    alarm.cleared_by = staff_id
    alarm.clear_note = note
    await session.execute(
        update(Device)
        .where(Device.id == alarm.device_id)
        .values(rule_state=text("rule_state - CAST(:rid AS text)").bindparams(rid=str(alarm.rule_id)))
        .execution_options(synchronize_session="fetch")
    )
    await session.flush()
    await _publish_cleared(session, alarm)
    return alarm


async def list_alarms(
    session: AsyncSession,
    *,
    active: bool | None = None,
    device_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[Alarm]:
    stmt = select(Alarm).order_by(Alarm.raised_at.desc()).limit(max(1, min(limit, 500)))
    if active is True:
        stmt = stmt.where(Alarm.state != AlarmState.CLEARED.value)
    elif active is False:
        stmt = stmt.where(Alarm.state == AlarmState.CLEARED.value)
    if device_id is not None:
        stmt = stmt.where(Alarm.device_id == device_id)
    return list((await session.scalars(stmt)).all())


# --- silent devices ---------------------------------------------------------------------------------


async def sweep_silence(session: AsyncSession, now: datetime | None = None, *, batch: int = 1000) -> list[uuid.UUID]:
    """Raise the ``no_data`` alarms (offline) of devices silent for too long; mark them offline.
    Devices being written by ingest right now are skipped (SKIP LOCKED): they are not silent."""
    now = now or datetime.now(UTC)
    rules = (
        await session.scalars(
            select(AlarmRule).where(AlarmRule.enabled.is_(True), AlarmRule.condition["kind"].astext == "no_data")
        )
    ).all()
    raised: list[uuid.UUID] = []
    for row in rules:
        try:
            parsed = parse_rule(str(row.id), row.condition, row.clear, row.schedule)
        except RuleError:
            continue
        if parsed.kind is not ConditionKind.NO_DATA:
            continue
        if parsed.minutes is not None:
            limit_sql = "make_interval(secs => CAST(:fixed_s AS double precision))"
            params: dict[str, Any] = {"fixed_s": parsed.minutes * 60}
        else:
            limit_sql = "make_interval(secs => interval_s * CAST(:k AS double precision))"
            params = {"k": parsed.intervals}
        stmt = (
            select(Device)
            .where(
                Device.status == DeviceStatus.ACTIVE.value,
                text(f"coalesce(last_seen_at, created_at) < CAST(:now AS timestamptz) - {limit_sql}").bindparams(
                    now=now, **params
                ),
                text("NOT coalesce((rule_state -> CAST(:rid AS text) ->> 'active')::boolean, false)").bindparams(
                    rid=str(row.id)
                ),
            )
            .order_by(Device.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        if row.device_type_code is not None:
            stmt = stmt.where(Device.type_code == row.device_type_code)
        if row.object_kind is not None:
            stmt = stmt.where(Device.object_kind == row.object_kind)
        ref = rule_ref(row, parsed)
        for device in (await session.scalars(stmt)).all():
            state = msgspec.convert(device.rule_state.get(str(row.id), {}), RuleState)
            last_seen = device.last_seen_at or device.created_at
            new_state, events = evaluate_silence(parsed, state, last_seen, now, device.interval_s)
            if not events:
                continue
            alarm_id, _ = await raise_or_repeat(
                session, device_ref(device), ref, first=events[0], last=events[-1], count=len(events)
            )
            raised.append(alarm_id)
            device.rule_state = {**device.rule_state, str(row.id): msgspec.to_builtins(new_state)}
            device.online = False
    await session.flush()
    return raised
