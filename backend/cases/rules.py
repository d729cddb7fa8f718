"""案卷状态机 — the pure rules of the case workflow (DESIGN §2): transitions, permissions, stages and the
deadline traffic light. No database and no I/O: services call these and append a ``CaseEvent`` for
every action that succeeds, including those that leave the state unchanged (the extension actions).

Transitions (``TRANSITIONS``) and who may perform each action (``PERMISSIONS``):

=============================  =================  ==============  =================================
from                           action             to              roles
=============================  =================  ==============  =================================
reported                       verify_request     verifying       seat, shift_lead, system
verifying                      verify_done        reported        collector
reported                       accept             accepted        seat, shift_lead, system
reported, verifying            reject             rejected        seat, shift_lead
reported, verifying, accepted  merge              merged          seat, shift_lead
reported                       close_on_spot      closed          collector
accepted, reopened             dispatch           dispatched      dispatcher, shift_lead, system
dispatched                     take               disposing       handler, officer
disposing                      finish             disposed        handler, officer
dispatched, disposing          return             accepted        handler, officer
disposing                      request_extension  (unchanged)     handler, officer
disposing                      approve_extension  (unchanged)     shift_lead, admin
disposing                      deny_extension     (unchanged)     shift_lead, admin
dispatched, disposing          suspend            suspended       shift_lead, admin
suspended                      resume             suspended_from  shift_lead, admin
disposed                       check_pass         closed          collector
disposed                       check_fail         dispatched      collector
disposed                       close              closed          seat, shift_lead
closed                         reopen             reopened        citizen, seat, shift_lead, system
=============================  =================  ==============  =================================

Decisions worth knowing:

- ``rejected`` and ``merged`` are final. ``closed`` is final for the clock but can be reopened (a citizen's
  "not fixed", a dissatisfied 回访, or the device alarm coming back); a reopened case is dispatched again.
- ``check_pass`` closes the case itself (结案 happens on check); ``close`` is the seat's or shift lead's
  override for a disposed case whose check is not coming (e.g. the collector is unavailable).
- ``close_on_spot`` is the 即办件 path: a collector reports and fixes a problem at once (自行处置).
- The shift lead (值班长) holds every seat power plus dispatch, extensions and suspension. ``admin`` can
  only decide extensions and suspend/resume; ``auditor`` and ``device`` act on no case (devices open cases
  through intake, which creates them in ``reported``).
- ``system`` performs the automatic steps only: sending a device case to a collector for 核实, auto-立案
  for sources configured as trusted, smart dispatch (智能分派), and reopening when an alarm returns or a
  satisfaction callback says "not fixed". It never disposes, checks or closes.
- The three extension actions are events that keep the state; whether an extension request is actually
  pending is the service's business, not the state machine's.
- The role check comes before the state check: whether a role may perform an action never depends on the
  case's state, so a refusal (403) is stable and tells the caller nothing about the case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from backend.cases.enums import CaseAction, CaseState, Light, Role, Stage
from backend.errors import Forbidden, InvalidTransition, ValidationFailed

# Short aliases keep the tables below readable as tables.
_S = CaseState
_A = CaseAction

SUSPENDABLE_STATES: Final[frozenset[CaseState]] = frozenset({_S.dispatched, _S.disposing})
"""States a case can be suspended (挂账) from — and therefore the only states ``resume`` returns to."""

FINAL_STATES: Final[frozenset[CaseState]] = frozenset({_S.rejected, _S.merged, _S.closed})
"""States where no clock runs and the case counts as finished; only ``closed`` can be left (reopen)."""

STATE_PRESERVING_ACTIONS: Final[frozenset[CaseAction]] = frozenset(
    {_A.request_extension, _A.approve_extension, _A.deny_extension}
)
"""Actions recorded as events that leave the state as it was (延期)."""

_TABLE: dict[tuple[CaseState, CaseAction], CaseState | None] = {
    (_S.reported, _A.verify_request): _S.verifying,
    (_S.verifying, _A.verify_done): _S.reported,
    (_S.reported, _A.accept): _S.accepted,
    (_S.reported, _A.reject): _S.rejected,
    (_S.verifying, _A.reject): _S.rejected,
    (_S.reported, _A.merge): _S.merged,
    (_S.verifying, _A.merge): _S.merged,
    (_S.accepted, _A.merge): _S.merged,
    (_S.reported, _A.close_on_spot): _S.closed,
    (_S.accepted, _A.dispatch): _S.dispatched,
    (_S.reopened, _A.dispatch): _S.dispatched,
    (_S.dispatched, _A.take): _S.disposing,
    (_S.disposing, _A.finish): _S.disposed,
    (_S.dispatched, _A.return_): _S.accepted,
    (_S.disposing, _A.return_): _S.accepted,
    (_S.disposing, _A.request_extension): _S.disposing,
    (_S.disposing, _A.approve_extension): _S.disposing,
    (_S.disposing, _A.deny_extension): _S.disposing,
    (_S.dispatched, _A.suspend): _S.suspended,
    (_S.disposing, _A.suspend): _S.suspended,
    # None: the target is not fixed — resume goes back to the state the case was suspended from.
    (_S.suspended, _A.resume): None,
    (_S.disposed, _A.check_pass): _S.closed,
    (_S.disposed, _A.check_fail): _S.dispatched,
    (_S.disposed, _A.close): _S.closed,
    (_S.closed, _A.reopen): _S.reopened,
}

TRANSITIONS: Final[Mapping[tuple[CaseState, CaseAction], CaseState | None]] = MappingProxyType(_TABLE)
"""(from state, action) → to state; ``None`` means "the ``suspended_from`` state" (only for resume)."""

_R = Role
PERMISSIONS: Final[Mapping[CaseAction, frozenset[Role]]] = MappingProxyType(
    {
        _A.verify_request: frozenset({_R.seat, _R.shift_lead, _R.system}),
        _A.verify_done: frozenset({_R.collector}),
        _A.accept: frozenset({_R.seat, _R.shift_lead, _R.system}),
        _A.reject: frozenset({_R.seat, _R.shift_lead}),
        _A.merge: frozenset({_R.seat, _R.shift_lead}),
        _A.close_on_spot: frozenset({_R.collector}),
        _A.dispatch: frozenset({_R.dispatcher, _R.shift_lead, _R.system}),
        _A.take: frozenset({_R.handler, _R.officer}),
        _A.finish: frozenset({_R.handler, _R.officer}),
        _A.return_: frozenset({_R.handler, _R.officer}),
        _A.request_extension: frozenset({_R.handler, _R.officer}),
        _A.approve_extension: frozenset({_R.shift_lead, _R.admin}),
        _A.deny_extension: frozenset({_R.shift_lead, _R.admin}),
        _A.suspend: frozenset({_R.shift_lead, _R.admin}),
        _A.resume: frozenset({_R.shift_lead, _R.admin}),
        _A.check_pass: frozenset({_R.collector}),
        _A.check_fail: frozenset({_R.collector}),
        _A.close: frozenset({_R.seat, _R.shift_lead}),
        _A.reopen: frozenset({_R.citizen, _R.seat, _R.shift_lead, _R.system}),
    }
)
"""Action → the roles that may perform it, whatever the case's state."""

_STAGES: Final[Mapping[CaseState, Stage | None]] = MappingProxyType(
    {
        _S.reported: Stage.accept,
        _S.verifying: Stage.accept,
        _S.accepted: Stage.dispatch,
        _S.reopened: Stage.dispatch,
        _S.dispatched: Stage.dispose,
        _S.disposing: Stage.dispose,
        _S.disposed: Stage.check,
        # 挂账 stops the clock; final states have no clock.
        _S.suspended: None,
        _S.rejected: None,
        _S.closed: None,
        _S.merged: None,
    }
)


def can_perform(role: Role, action: CaseAction) -> bool:
    """Whether ``role`` may perform ``action`` at all (in some state)."""
    return role in PERMISSIONS[action]


def transition(
    state: CaseState,
    action: CaseAction,
    role: Role,
    *,
    suspended_from: CaseState | None = None,
) -> CaseState:
    """状态迁移 — the state a case moves to when ``role`` performs ``action`` on it in ``state``.

    ``suspended_from`` is needed only for ``resume``: the state the case was in when it was suspended.

    Raises ``Forbidden`` when the role may never perform the action, ``InvalidTransition`` (409) when the
    action is not possible from ``state``, and ``ValidationFailed`` when ``resume`` lacks a valid
    ``suspended_from``.
    """
    if role not in PERMISSIONS[action]:
        raise Forbidden(
            f"role {role.value!r} may not perform {action.value!r} on a case",
            details={"role": role.value, "action": action.value, "label": f"{role.label}无权{action.label}"},
        )
    try:
        target = TRANSITIONS[(state, action)]
    except KeyError:
        raise InvalidTransition(
            f"a case in state {state.value!r} cannot take action {action.value!r}",
            details={
                "state": state.value,
                "action": action.value,
                "label": f"{state.label}状态的案卷不能{action.label}",
            },
        ) from None
    if target is not None:
        return target
    # Only resume has no fixed target; the service stores the pre-suspension state with the event.
    if suspended_from is None or suspended_from not in SUSPENDABLE_STATES:
        raise ValidationFailed(
            "resume needs the state the case was suspended from (dispatched or disposing)",
            details={
                "suspended_from": None if suspended_from is None else suspended_from.value,
                "label": "解除挂账需要挂账前的状态",
            },
        )
    return suspended_from


def allowed_actions(state: CaseState, role: Role) -> list[CaseAction]:
    """The actions ``role`` may perform on a case in ``state``, in declaration order (for UI buttons).

    ``resume`` is listed for a suspended case; the caller supplies ``suspended_from`` when performing it.
    """
    return [action for action in CaseAction if (state, action) in TRANSITIONS and role in PERMISSIONS[action]]


def stage_for(state: CaseState) -> Stage | None:
    """The stage (阶段) whose time limit runs while a case is in ``state``; ``None`` when no clock runs.

    reported/verifying → accept; accepted/reopened → dispatch; dispatched/disposing → dispose;
    disposed → check; suspended (clock stopped) and rejected/closed/merged → None.
    """
    return _STAGES[state]


def light(elapsed: float, limit: float, yellow_at: float = 0.8) -> Light:
    """红黄绿灯 — the traffic light of a stage that has used ``elapsed`` of its ``limit`` (same unit).

    - green:  elapsed <  yellow_at × limit
    - yellow: yellow_at × limit ≤ elapsed ≤ limit   (催办 to the handler; reaching the limit exactly
      is still on time)
    - red:    elapsed > limit                        (超期, escalated to the shift lead)

    A limit of zero or less means "due at once": red as soon as any time has elapsed, green before.
    Never returns ``Light.none``; see ``light_for`` for states without a clock.
    """
    if math.isnan(elapsed) or math.isnan(limit):
        raise ValidationFailed("elapsed and limit must be numbers", details={"label": "时长不能为 NaN"})
    if not 0.0 < yellow_at <= 1.0:
        raise ValidationFailed(
            "yellow_at must be in (0, 1]",
            details={"yellow_at": yellow_at, "label": "黄灯比例须在 0 到 1 之间"},
        )
    if limit <= 0:
        return Light.red if elapsed > 0 else Light.green
    if elapsed > limit:
        return Light.red
    if elapsed >= yellow_at * limit:
        return Light.yellow
    return Light.green


def light_for(state: CaseState, elapsed: float, limit: float, yellow_at: float = 0.8) -> Light:
    """The light shown for a case in ``state``: ``Light.none`` when no stage clock runs (挂账, final)."""
    if stage_for(state) is None:
        return Light.none
    return light(elapsed, limit, yellow_at)


def thresholds_crossed(
    elapsed: float,
    limit: float,
    already_notified: set[Light] | frozenset[Light],
    yellow_at: float = 0.8,
) -> list[Light]:
    """The notifications (催办 on yellow, 超期 on red) a deadline sweep should send now.

    Idempotent: adding the returned lights to ``already_notified`` and calling again returns ``[]``, so
    each threshold is notified at most once however often the sweeper runs. A case found already red
    gets only the red notification, never a late "due soon" yellow — so the list holds at most one light.
    When an extension moves the deadline, the caller starts a fresh notification cycle with an empty set.
    """
    current = light(elapsed, limit, yellow_at)
    if current is Light.red:
        return [] if Light.red in already_notified else [Light.red]
    if current is Light.yellow:
        return [] if Light.yellow in already_notified or Light.red in already_notified else [Light.yellow]
    return []
