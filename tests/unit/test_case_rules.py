"""Table tests for the case state machine (案卷状态机), its stages and the deadline traffic light."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.cases.enums import (
    LABELS,
    CaseAction,
    CaseKind,
    CaseSource,
    CaseState,
    LabelledEnum,
    Light,
    Role,
    Stage,
    Urgency,
)
from backend.cases.rules import (
    FINAL_STATES,
    PERMISSIONS,
    STATE_PRESERVING_ACTIONS,
    SUSPENDABLE_STATES,
    TRANSITIONS,
    allowed_actions,
    light,
    light_for,
    stage_for,
    thresholds_crossed,
    transition,
)
from backend.errors import Forbidden, InvalidTransition, ValidationFailed

S, A, R = CaseState, CaseAction, Role

# The expected table, written out independently of the module so a silent edit there fails here.
LEGAL: list[tuple[CaseState, CaseAction, CaseState | None]] = [
    (S.reported, A.verify_request, S.verifying),
    (S.verifying, A.verify_done, S.reported),
    (S.reported, A.accept, S.accepted),
    (S.reported, A.reject, S.rejected),
    (S.verifying, A.reject, S.rejected),
    (S.reported, A.merge, S.merged),
    (S.verifying, A.merge, S.merged),
    (S.accepted, A.merge, S.merged),
    (S.reported, A.close_on_spot, S.closed),
    (S.accepted, A.dispatch, S.dispatched),
    (S.reopened, A.dispatch, S.dispatched),
    (S.dispatched, A.take, S.disposing),
    (S.disposing, A.finish, S.disposed),
    (S.dispatched, A.return_, S.accepted),
    (S.disposing, A.return_, S.accepted),
    (S.disposing, A.request_extension, S.disposing),
    (S.disposing, A.approve_extension, S.disposing),
    (S.disposing, A.deny_extension, S.disposing),
    (S.dispatched, A.suspend, S.suspended),
    (S.disposing, A.suspend, S.suspended),
    (S.suspended, A.resume, None),
    (S.disposed, A.check_pass, S.closed),
    (S.disposed, A.check_fail, S.dispatched),
    (S.disposed, A.close, S.closed),
    (S.closed, A.reopen, S.reopened),
]

ROLES: dict[CaseAction, set[Role]] = {
    A.verify_request: {R.seat, R.shift_lead, R.system},
    A.verify_done: {R.collector},
    A.accept: {R.seat, R.shift_lead, R.system},
    A.reject: {R.seat, R.shift_lead},
    A.merge: {R.seat, R.shift_lead},
    A.close_on_spot: {R.collector},
    A.dispatch: {R.dispatcher, R.shift_lead, R.system},
    A.take: {R.handler, R.officer},
    A.finish: {R.handler, R.officer},
    A.return_: {R.handler, R.officer},
    A.request_extension: {R.handler, R.officer},
    A.approve_extension: {R.shift_lead, R.admin},
    A.deny_extension: {R.shift_lead, R.admin},
    A.suspend: {R.shift_lead, R.admin},
    A.resume: {R.shift_lead, R.admin},
    A.check_pass: {R.collector},
    A.check_fail: {R.collector},
    A.close: {R.seat, R.shift_lead},
    A.reopen: {R.citizen, R.seat, R.shift_lead, R.system},
}

LEGAL_PAIRS = {(state, action) for state, action, _ in LEGAL}
ILLEGAL_PAIRS = [pair for pair in itertools.product(CaseState, CaseAction) if pair not in LEGAL_PAIRS]


def a_permitted_role(action: CaseAction) -> Role:
    return sorted(ROLES[action])[0]


def test_table_matches_the_documented_workflow() -> None:
    assert dict(TRANSITIONS) == {(state, action): target for state, action, target in LEGAL}
    assert {action: set(roles) for action, roles in PERMISSIONS.items()} == ROLES


@pytest.mark.parametrize(
    ("state", "action", "target"),
    [row for row in LEGAL if row[2] is not None],
    ids=lambda v: str(v),
)
def test_every_legal_transition_for_every_permitted_role(
    state: CaseState, action: CaseAction, target: CaseState
) -> None:
    for role in ROLES[action]:
        assert transition(state, action, role) is target


@pytest.mark.parametrize(("state", "action"), ILLEGAL_PAIRS, ids=lambda v: str(v))
def test_every_other_pair_is_an_invalid_transition(state: CaseState, action: CaseAction) -> None:
    with pytest.raises(InvalidTransition) as caught:
        transition(state, action, a_permitted_role(action), suspended_from=S.disposing)
    assert caught.value.status_hint == 409
    assert caught.value.code == "invalid_transition"
    assert caught.value.details["state"] == state.value
    assert caught.value.details["action"] == action.value
    assert state.label in caught.value.details["label"]


def test_illegal_pairs_are_generated_exhaustively() -> None:
    assert len(ILLEGAL_PAIRS) + len(LEGAL) == len(CaseState) * len(CaseAction)


@pytest.mark.parametrize(
    ("action", "role"),
    [(action, role) for action in CaseAction for role in Role if role not in ROLES[action]],
    ids=lambda v: str(v),
)
def test_roles_not_permitted_are_refused_in_every_state(action: CaseAction, role: Role) -> None:
    # The refusal does not depend on the state, legal or not, so it never reveals the case's state.
    for state in CaseState:
        with pytest.raises(Forbidden) as caught:
            transition(state, action, role, suspended_from=S.dispatched)
        assert caught.value.details["role"] == role.value
        assert caught.value.details["action"] == action.value
        assert caught.value.details["label"] == f"{role.label}无权{action.label}"


@pytest.mark.parametrize(
    ("role", "action"),
    [
        (R.citizen, A.accept),
        (R.handler, A.dispatch),
        (R.collector, A.close),
        (R.seat, A.finish),
        (R.dispatcher, A.approve_extension),
        (R.auditor, A.reopen),
        (R.device, A.accept),
        (R.system, A.check_pass),
        (R.system, A.close),
        (R.admin, A.accept),
    ],
)
def test_notable_refusals(role: Role, action: CaseAction) -> None:
    with pytest.raises(Forbidden):
        transition(next(s for s, a, _ in LEGAL if a is action), action, role)


def test_auditor_and_device_can_do_nothing() -> None:
    for state in CaseState:
        assert allowed_actions(state, R.auditor) == []
        assert allowed_actions(state, R.device) == []


@pytest.mark.parametrize("prior", sorted(SUSPENDABLE_STATES))
def test_suspend_then_resume_returns_to_the_prior_state(prior: CaseState) -> None:
    suspended = transition(prior, A.suspend, R.shift_lead)
    assert suspended is S.suspended
    assert stage_for(suspended) is None
    assert transition(suspended, A.resume, R.admin, suspended_from=prior) is prior


@pytest.mark.parametrize("bad", [None, *sorted(set(CaseState) - SUSPENDABLE_STATES)])
def test_resume_needs_a_state_a_case_can_be_suspended_from(bad: CaseState | None) -> None:
    with pytest.raises(ValidationFailed):
        transition(S.suspended, A.resume, R.shift_lead, suspended_from=bad)


def test_extension_actions_keep_the_state() -> None:
    for action in STATE_PRESERVING_ACTIONS:
        assert transition(S.disposing, action, a_permitted_role(action)) is S.disposing
    assert {action for (state, action), target in TRANSITIONS.items() if target is state} == (STATE_PRESERVING_ACTIONS)


def test_a_full_life_with_rework_and_reopening() -> None:
    steps: list[tuple[CaseAction, Role, CaseState]] = [
        (A.verify_request, R.seat, S.verifying),
        (A.verify_done, R.collector, S.reported),
        (A.accept, R.seat, S.accepted),
        (A.dispatch, R.system, S.dispatched),
        (A.return_, R.handler, S.accepted),
        (A.dispatch, R.dispatcher, S.dispatched),
        (A.take, R.officer, S.disposing),
        (A.request_extension, R.officer, S.disposing),
        (A.approve_extension, R.shift_lead, S.disposing),
        (A.finish, R.officer, S.disposed),
        (A.check_fail, R.collector, S.dispatched),
        (A.take, R.handler, S.disposing),
        (A.finish, R.handler, S.disposed),
        (A.check_pass, R.collector, S.closed),
        (A.reopen, R.citizen, S.reopened),
        (A.dispatch, R.system, S.dispatched),
    ]
    state = S.reported
    for action, role, expected in steps:
        assert action in allowed_actions(state, role)
        state = transition(state, action, role)
        assert state is expected


def test_final_states() -> None:
    assert {S.rejected, S.merged, S.closed} == FINAL_STATES
    for state in (S.rejected, S.merged):
        assert [a for (s, a) in TRANSITIONS if s is state] == []
    assert [a for (s, a) in TRANSITIONS if s is S.closed] == [A.reopen]


@pytest.mark.parametrize(
    ("state", "role", "expected"),
    [
        (S.reported, R.seat, [A.verify_request, A.accept, A.reject, A.merge]),
        (S.reported, R.collector, [A.close_on_spot]),
        (S.reported, R.system, [A.verify_request, A.accept]),
        (S.verifying, R.collector, [A.verify_done]),
        (S.accepted, R.dispatcher, [A.dispatch]),
        (S.accepted, R.shift_lead, [A.dispatch, A.merge]),
        (S.dispatched, R.handler, [A.take, A.return_]),
        (
            S.disposing,
            R.officer,
            [A.finish, A.return_, A.request_extension],
        ),
        (S.disposing, R.admin, [A.approve_extension, A.deny_extension, A.suspend]),
        (S.suspended, R.shift_lead, [A.resume]),
        (S.disposed, R.collector, [A.check_pass, A.check_fail]),
        (S.disposed, R.seat, [A.close]),
        (S.closed, R.citizen, [A.reopen]),
        (S.closed, R.handler, []),
        (S.merged, R.shift_lead, []),
    ],
)
def test_allowed_actions(state: CaseState, role: Role, expected: list[CaseAction]) -> None:
    assert allowed_actions(state, role) == expected


def test_allowed_actions_agree_with_transition() -> None:
    for state, role in itertools.product(CaseState, Role):
        allowed = set(allowed_actions(state, role))
        for action in CaseAction:
            try:
                transition(state, action, role, suspended_from=S.disposing)
            except (Forbidden, InvalidTransition):
                assert action not in allowed
            else:
                assert action in allowed


STAGES: list[tuple[CaseState, Stage | None]] = [
    (S.reported, Stage.accept),
    (S.verifying, Stage.accept),
    (S.accepted, Stage.dispatch),
    (S.reopened, Stage.dispatch),
    (S.dispatched, Stage.dispose),
    (S.disposing, Stage.dispose),
    (S.disposed, Stage.check),
    (S.suspended, None),
    (S.rejected, None),
    (S.closed, None),
    (S.merged, None),
]


@pytest.mark.parametrize(("state", "stage"), STAGES)
def test_stage_for(state: CaseState, stage: Stage | None) -> None:
    assert stage_for(state) is stage


def test_stage_table_covers_every_state() -> None:
    assert sorted(state for state, _ in STAGES) == sorted(CaseState)
    # No clock runs exactly where the case is parked (挂账) or finished.
    assert {state for state, stage in STAGES if stage is None} == FINAL_STATES | {S.suspended}


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (0.0, Light.green),
        (0.79, Light.green),
        (0.8, Light.yellow),
        (0.95, Light.yellow),
        (1.0, Light.yellow),
        (1.01, Light.red),
        (5.0, Light.red),
    ],
)
def test_light_boundaries(elapsed: float, expected: Light) -> None:
    assert light(elapsed, 1.0) is expected
    # The same fractions of a working-hours limit (8 h in seconds) give the same light.
    assert light(elapsed * 28_800, 28_800) is expected


def test_light_with_a_custom_yellow_fraction() -> None:
    assert light(0.49, 1.0, yellow_at=0.5) is Light.green
    assert light(0.5, 1.0, yellow_at=0.5) is Light.yellow


@pytest.mark.parametrize(
    ("elapsed", "limit", "expected"),
    [(0.0, 0.0, Light.green), (0.001, 0.0, Light.red), (-1.0, 0.0, Light.green), (1.0, -3.0, Light.red)],
)
def test_light_without_a_positive_limit(elapsed: float, limit: float, expected: Light) -> None:
    assert light(elapsed, limit) is expected


@pytest.mark.parametrize(
    ("elapsed", "limit", "yellow_at"),
    [(float("nan"), 1.0, 0.8), (1.0, float("nan"), 0.8), (1.0, 1.0, 0.0), (1.0, 1.0, 1.5)],
)
def test_light_refuses_nonsense(elapsed: float, limit: float, yellow_at: float) -> None:
    with pytest.raises(ValidationFailed):
        light(elapsed, limit, yellow_at)


def test_light_for_states_without_a_clock() -> None:
    assert light_for(S.suspended, 10.0, 1.0) is Light.none
    assert light_for(S.closed, 10.0, 1.0) is Light.none
    assert light_for(S.disposing, 10.0, 1.0) is Light.red


@pytest.mark.parametrize(
    ("elapsed", "notified", "expected"),
    [
        (0.5, set(), []),
        (0.8, set(), [Light.yellow]),
        (0.9, {Light.yellow}, []),
        (1.0, set(), [Light.yellow]),
        (1.01, {Light.yellow}, [Light.red]),
        (1.01, {Light.yellow, Light.red}, []),
        # Found red before any sweep saw yellow: only the overdue notice, never a late "due soon".
        (2.0, set(), [Light.red]),
        (2.0, {Light.red}, []),
    ],
)
def test_thresholds_crossed(elapsed: float, notified: set[Light], expected: list[Light]) -> None:
    assert thresholds_crossed(elapsed, 1.0, notified) == expected


def test_a_sweeper_notifies_each_threshold_once() -> None:
    notified: set[Light] = set()
    sent: list[Light] = []
    for step in range(0, 300):
        for _ in range(3):  # several sweeps at the same moment must not repeat anything
            crossed = thresholds_crossed(step / 100, 1.0, notified)
            sent.extend(crossed)
            notified.update(crossed)
    assert sent == [Light.yellow, Light.red]


@given(
    elapsed=st.floats(min_value=-10, max_value=100, allow_nan=False),
    limit=st.floats(min_value=-1, max_value=50, allow_nan=False),
    notified=st.sets(st.sampled_from([Light.yellow, Light.red])),
)
def test_thresholds_crossed_is_idempotent(elapsed: float, limit: float, notified: set[Light]) -> None:
    first = thresholds_crossed(elapsed, limit, notified)
    assert len(first) <= 1
    assert not set(first) & notified
    assert thresholds_crossed(elapsed, limit, notified | set(first)) == []


ENUMS: list[type[LabelledEnum]] = [CaseState, CaseAction, CaseSource, CaseKind, Urgency, Stage, Light, Role]


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.__name__)
def test_every_member_has_a_chinese_label(enum: type[LabelledEnum]) -> None:
    assert set(LABELS[enum]) == set(enum)
    for member in enum:
        assert member.label == LABELS[enum][member]
        assert member.value == member.value.lower()


def test_values_and_labels() -> None:
    assert A.return_.value == "return"
    assert CaseAction("return") is A.return_
    assert S.disposed.label.startswith("已处置")
    assert CaseKind.immediate.label == "即办件"
    assert Urgency.critical.label == "特急"
    assert [s.value for s in CaseSource] == [
        "citizen",
        "collector",
        "hotline_12345",
        "hotline_12319",
        "device",
        "video_ai",
        "inspection",
        "open311",
    ]
