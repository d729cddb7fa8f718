"""The deadline sweep (督办): turns running stages yellow at 80 % of their limit (催办 to the handler) and
red past 100 % (超期, escalated to the shift lead).

The instants are precomputed on each case (``yellow_at``, ``deadline``), so a sweep is ONE statement
run entirely inside PostgreSQL: an UPDATE over the two partial indexes flips the lights (only ever
forward), and the same statement appends the ``urge``/``overdue`` case events and the ``case.light``
outbox messages. Running it twice, or from two workers at once, notifies once: the UPDATE's row lock
lets one sweeper flip a light, and the outbox dedup key covers the rest. A case that jumps from green
straight past its deadline gets the red notice only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.ext.asyncio import AsyncSession

from backend.outbox.service import OUTBOX_FLAG

SWEEP_SQL = text(
    """
WITH flipped AS (
    UPDATE cases
       SET light = CASE WHEN deadline < :now THEN 'red' ELSE 'yellow' END
     WHERE stage IS NOT NULL
       AND ((light <> 'red' AND deadline < :now)
            OR (light = 'green' AND yellow_at <= :now AND deadline >= :now))
 RETURNING id, state, stage, stage_seq, extensions, deadline, main_department_id, light
), numbered AS (
    SELECT f.*,
           gen_random_uuid() AS event_id,
           coalesce((SELECT max(e.seq) FROM case_events e WHERE e.case_id = f.id), 0) + 1 AS seq
      FROM flipped f
), events AS (
    INSERT INTO case_events (id, case_id, seq, action, from_state, to_state, actor_kind, actor_id, actor_role,
                             department_id, note, attachments, data, stage, stage_deadline, created_at)
    SELECT event_id, id, seq, CASE light WHEN 'red' THEN 'overdue' ELSE 'urge' END, NULL, state, 'system', NULL,
           'system', main_department_id, '', '{}', jsonb_build_object('light', light), stage, deadline, :now
      FROM numbered
), notices AS (
    -- One notice per light per stage run per extension: a new stage or an approved extension starts
    -- counting again; a second sweep of the same crossing adds nothing.
    INSERT INTO outbox_messages (id, topic, payload, dedup_key, created_at, available_at, attempts, dead)
    SELECT gen_random_uuid(), 'case.light',
           jsonb_build_object('case_id', id::text, 'light', light, 'stage', stage, 'event_id', event_id::text),
           'case.light:' || id::text || ':' || stage_seq || ':' || extensions || ':' || light,
           :now, :now, 0, false
      FROM numbered
        ON CONFLICT (dedup_key) DO NOTHING
)
SELECT count(*) FILTER (WHERE light = 'yellow') AS yellow, count(*) FILTER (WHERE light = 'red') AS red
  FROM numbered
"""
).bindparams(bindparam("now", type_=TIMESTAMP(timezone=True)))


@dataclass(frozen=True)
class SweepResult:
    yellow: int
    red: int


async def sweep(session: AsyncSession, now: datetime | None = None) -> SweepResult:
    now = now or datetime.now(UTC)
    row = (await session.execute(SWEEP_SQL, {"now": now})).one()
    result = SweepResult(yellow=int(row.yellow), red=int(row.red))
    if result.yellow or result.red:
        session.info[OUTBOX_FLAG] = True
    return result
