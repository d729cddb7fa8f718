"""The deadline sweep (督办): turns running stages yellow at 80 % of their limit (催办 to the handler) and
red past 100 % (超期, escalated to the shift lead).

The instants are precomputed on each case (``yellow_at``, ``deadline``), so a sweep is two indexed
UPDATEs that only ever move a light forward — running it twice, or from two workers at once, notifies
once: the UPDATE's row lock lets one sweeper flip a light, and the outbox dedup key covers the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Case, CaseEvent, OutboxMessage, new_id
from backend.outbox.service import OUTBOX_FLAG


@dataclass(frozen=True)
class SweepResult:
    yellow: int
    red: int


async def _flip(session: AsyncSession, light: str, condition: Any, now: datetime) -> list[Any]:
    stmt = (
        update(Case)
        .where(Case.stage.is_not(None), condition)
        .values(light=light)
        .returning(
            Case.id, Case.state, Case.stage, Case.stage_seq, Case.extensions, Case.deadline, Case.main_department_id
        )
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(stmt)).all())


async def sweep(session: AsyncSession, now: datetime | None = None) -> SweepResult:
    now = now or datetime.now(UTC)
    red = await _flip(session, "red", and_(Case.light != "red", Case.deadline < now), now)
    yellow = await _flip(
        session, "yellow", and_(Case.light == "green", Case.yellow_at <= now, Case.deadline >= now), now
    )
    flipped = [("overdue", r) for r in red] + [("urge", r) for r in yellow]
    if not flipped:
        return SweepResult(0, 0)
    ids = [r.id for _, r in flipped]
    last_seq = dict(
        (
            await session.execute(
                select(CaseEvent.case_id, func.max(CaseEvent.seq))
                .where(CaseEvent.case_id.in_(ids))
                .group_by(CaseEvent.case_id)
            )
        ).all()
    )
    events = []
    messages = []
    for action, row in flipped:
        event_id = new_id()
        events.append(
            {
                "id": event_id,
                "case_id": row.id,
                "seq": last_seq.get(row.id, 0) + 1,
                "action": action,
                "from_state": None,
                "to_state": row.state,
                "actor_kind": "system",
                "actor_id": None,
                "actor_role": "system",
                "department_id": row.main_department_id,
                "note": "",
                "attachments": [],
                "data": {"light": "red" if action == "overdue" else "yellow"},
                "stage": row.stage,
                "stage_deadline": row.deadline,
                "created_at": now,
            }
        )
        light = "red" if action == "overdue" else "yellow"
        messages.append(
            {
                "id": new_id(),
                "topic": "case.light",
                "payload": {"case_id": str(row.id), "light": light, "stage": row.stage, "event_id": str(event_id)},
                # One notice per light per stage run per extension: a new stage or an approved extension
                # starts counting again; a second sweep of the same crossing adds nothing.
                "dedup_key": f"case.light:{row.id}:{row.stage_seq}:{row.extensions}:{light}",
                "created_at": now,
                "available_at": now,
            }
        )
    await session.execute(insert(CaseEvent), events)
    await session.execute(
        pg_insert(OutboxMessage).values(messages).on_conflict_do_nothing(index_elements=["dedup_key"])
    )
    session.info[OUTBOX_FLAG] = True
    return SweepResult(yellow=len(yellow), red=len(red))
