"""Hypothesis strategies for evaluation: random case histories that follow the case state machine
(``backend.cases.rules``), with the sweep's urge/overdue events, extensions, suspensions, returns (some
flagged invalid), reworks, reopens, merges and ratings, over a few grids of two streets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from backend.cases.enums import CaseAction, CaseState
from backend.cases.rules import TRANSITIONS, stage_for
from backend.evaluation.rules import EventRow
from backend.worktime import SHANGHAI

START = datetime(2031, 3, 3, 8, 0, tzinfo=SHANGHAI)  # far from every other test's clock
GRIDS: list[str | None] = [
    "420117001001001", "420117001001002", "420117001002001", "420117002001001", "420117002002003", None,
]  # fmt: skip
DEPARTMENTS = [str(uuid.UUID(int=i)) for i in (101, 102, 103)]
COLLECTORS = [str(uuid.UUID(int=i)) for i in (201, 202)]
SEATS = [str(uuid.UUID(int=i)) for i in (301, 302)]
DISPATCHERS = [str(uuid.UUID(int=i)) for i in (401, 402)]
HANDLERS = [str(uuid.UUID(int=501))]
LEADS = [str(uuid.UUID(int=601))]
INSPECTOR = str(uuid.UUID(int=701))

# Who performs an action: (actor kind, role, ids) choices.
_ACTORS: dict[str, list[tuple[str, str, list[str]]]] = {
    "verify_request": [("staff", "seat", SEATS), ("system", "system", [""])],
    "verify_done": [("staff", "collector", COLLECTORS)],
    "accept": [("staff", "seat", SEATS), ("staff", "seat", LEADS), ("system", "system", [""])],
    "reject": [("staff", "seat", SEATS)],
    "merge": [("staff", "seat", SEATS)],
    "close_on_spot": [("staff", "collector", COLLECTORS)],
    "dispatch": [("staff", "dispatcher", DISPATCHERS), ("staff", "dispatcher", LEADS), ("system", "system", [""])],
    "take": [("staff", "handler", HANDLERS)],
    "finish": [("staff", "handler", HANDLERS)],
    "return": [("staff", "handler", HANDLERS)],
    "request_extension": [("staff", "handler", HANDLERS)],
    "approve_extension": [("staff", "shift_lead", LEADS)],
    "deny_extension": [("staff", "shift_lead", LEADS)],
    "suspend": [("staff", "shift_lead", LEADS)],
    "resume": [("staff", "shift_lead", LEADS)],
    "check_pass": [("staff", "collector", COLLECTORS)],
    "check_fail": [("staff", "collector", COLLECTORS)],
    "close": [("staff", "seat", SEATS)],
    "reopen": [("citizen", "citizen", ["citizen-x"]), ("staff", "seat", SEATS), ("system", "system", [""])],
}
# The workflow's forward steps, drawn more often so that histories get deep (rework after a check, a
# reopen after a closure) rather than wandering among urges and extensions.
_FORWARD = {"accept", "dispatch", "take", "finish", "check_pass", "check_fail", "close", "reopen", "resume"}
_NO_CLOCK_CHECK = {"request_extension", "approve_extension", "deny_extension", "suspend", "resume"}


@dataclass
class CaseHistory:
    id: str
    grid: str | None
    events: list[EventRow]

    @property
    def reported_by_collector(self) -> bool:
        return self.events[0].actor_role == "collector"


@st.composite
def case_history(draw: Any, index: int, earlier: list[str], start: datetime = START, steps: int = 20) -> CaseHistory:
    case_id = str(uuid.UUID(int=(0xE7A1 << 64) + index))
    grid = draw(st.sampled_from(GRIDS))
    when = start + timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    source = draw(st.sampled_from(["citizen", "collector", "inspection", "hotline_12345"]))
    kind, role, actor = {
        "citizen": ("citizen", "citizen", "citizen-x"),
        "collector": ("staff", "collector", draw(st.sampled_from(COLLECTORS))),
        "inspection": ("staff", "auditor", INSPECTOR),
        "hotline_12345": ("staff", "seat", draw(st.sampled_from(SEATS))),
    }[source]
    similar = draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True)) if earlier else []
    events = [
        EventRow(1, "report", when, None, kind, actor, role, None, "accept", {"source": source, "similar": similar})
    ]
    state = CaseState.reported
    suspended_from: CaseState | None = None
    department: str | None = None
    rated = False
    for _ in range(draw(st.integers(0, steps))):
        when += timedelta(minutes=draw(st.integers(1, 36 * 60)))
        options: list[str] = []
        for a in CaseAction:
            if (state, a) in TRANSITIONS:
                options += [a.value] * (4 if a.value in _FORWARD else 1)
        if state is CaseState.closed and not rated:
            options.append("rate")
        if stage_for(state) is not None:
            options += ["overdue", "urge"]
        if not options:
            break
        action = draw(st.sampled_from(options))
        seq = len(events) + 1
        stage = stage_for(state)
        if action in {"overdue", "urge"}:
            assert stage is not None
            events.append(EventRow(seq, action, when, None, "system", None, "system", None, stage.value, {}))
            continue
        if action == "rate":
            score = draw(st.integers(1, 5))
            rating = {"score": score}
            events.append(EventRow(seq, "rate", when, "closed", "citizen", "citizen-x", "citizen", None, None, rating))
            rated = True
            continue
        target = TRANSITIONS[(state, CaseAction(action))] or suspended_from
        assert target is not None
        kind, role, ids = draw(st.sampled_from(_ACTORS[action]))
        actor_id = draw(st.sampled_from(ids)) or None
        on_time = None if action in _NO_CLOCK_CHECK or target == state else draw(st.booleans())
        data: dict[str, Any] = {}
        if action == "dispatch":
            department = draw(st.sampled_from(DEPARTMENTS))
            data = {"department_id": department}
        elif action == "return":
            data = {"department_id": department, "invalid": draw(st.booleans())}
            department = None
        elif action == "merge":
            data = {"into_case_id": draw(st.sampled_from(earlier))} if earlier else {}
        if action == "suspend":
            suspended_from = state
        new_stage = stage_for(target)
        events.append(
            EventRow(seq, action, when, state.value, kind, actor_id, role, on_time,
                     new_stage.value if new_stage else None, data)
        )  # fmt: skip
        state = target
    return CaseHistory(case_id, grid, events)


@st.composite
def city_history(draw: Any, max_cases: int = 8, start: datetime = START) -> list[CaseHistory]:
    cases: list[CaseHistory] = []
    for _ in range(draw(st.integers(1, max_cases))):
        cases.append(draw(case_history(len(cases), [c.id for c in cases], start)))
    return cases
