"""Table tests for smart dispatch (智能分派): specificity, ownership, confidence and its feedback."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.dispatch.rules import (
    AREA_SCOPE_LABELS,
    DISPATCH_REASON_LABELS,
    AreaScope,
    CaseLocation,
    DispatchReason,
    DispatchRule,
    after_return,
    after_success,
    category_matches,
    category_specificity,
    resolve,
    score,
)
from backend.errors import ValidationFailed

# A case in grid 420117001001001 of community 420117001001, street 420117001, district 420117 (新洲区).
HERE = CaseLocation(
    grid_code="420117001001001",
    community_code="420117001001",
    street_code="420117001",
    district_code="420117",
)
CODES = {
    AreaScope.grid: HERE.grid_code,
    AreaScope.community: HERE.community_code,
    AreaScope.street: HERE.street_code,
    AreaScope.district: HERE.district_code,
    AreaScope.city: None,
}


def rule(
    rule_id: str,
    department: str,
    *,
    scope: AreaScope = AreaScope.district,
    pattern: str = "C0101",
    area_code: str | None = None,
    priority: int = 0,
    confidence: float = 1.0,
    enabled: bool = True,
) -> DispatchRule:
    """A rule covering HERE at ``scope``, unless ``area_code`` names another area."""
    return DispatchRule(
        id=rule_id,
        category_pattern=pattern,
        area_scope=scope,
        area_code=CODES[scope] if area_code is None else area_code,
        department_id=department,
        priority=priority,
        confidence=confidence,
        enabled=enabled,
    )


@pytest.mark.parametrize(
    ("pattern", "code", "matches", "specificity"),
    [
        ("C0101", "C0101", True, 5),
        ("C0101", "C0102", False, 5),
        ("C0101", "C01011", False, 5),
        ("C01*", "C0101", True, 3),
        ("C01*", "C0201", False, 3),
        ("C*", "C0501", True, 1),
        ("C*", "E0501", False, 1),
        ("*", "E0501", True, 0),
        ("*01", "E0501", True, 0),
        ("0101", "C0101", False, 4),  # patterns are whole-code globs: the kind letter is part of the code
        ("C0?01", "C0101", False, 5),  # only * is a wildcard
    ],
)
def test_category_patterns(pattern: str, code: str, matches: bool, specificity: int) -> None:
    assert category_matches(pattern, code) is matches
    assert category_specificity(pattern) == specificity


def test_no_rules_means_manual_with_no_candidates() -> None:
    decision = resolve([], "C0101", HERE)
    assert (decision.auto, decision.department_id, decision.candidates) == (False, None, [])
    assert decision.reason is DispatchReason.no_rule
    assert decision.rule_id is None


def test_rules_for_other_areas_or_categories_do_not_match() -> None:
    rules = [
        rule("elsewhere", "d1", scope=AreaScope.street, area_code="420117002"),
        rule("other-grid", "d2", scope=AreaScope.grid, area_code="420117001001002"),
        rule("other-category", "d3", pattern="E05*"),
    ]
    assert resolve(rules, "C0101", HERE).reason is DispatchReason.no_rule


def test_a_location_without_a_grid_is_matched_by_wider_scopes_only() -> None:
    rules = [
        rule("grid", "grid-dept", scope=AreaScope.grid),
        rule("street", "street-dept", scope=AreaScope.street),
    ]
    decision = resolve(rules, "C0101", CaseLocation(street_code=HERE.street_code))
    assert decision.department_id == "street-dept"


@pytest.mark.parametrize(
    ("winner", "loser"),
    [
        (AreaScope.grid, AreaScope.community),
        (AreaScope.grid, AreaScope.street),
        (AreaScope.community, AreaScope.street),
        (AreaScope.street, AreaScope.district),
        (AreaScope.district, AreaScope.city),
    ],
)
def test_the_narrower_area_wins(winner: AreaScope, loser: AreaScope) -> None:
    rules = [rule("wide", "wide-dept", scope=loser), rule("narrow", "narrow-dept", scope=winner)]
    decision = resolve(rules, "C0101", HERE)
    assert decision.auto
    assert decision.department_id == "narrow-dept"
    assert decision.reason is DispatchReason.single_owner
    assert decision.rule_id == "narrow"
    assert [c.department_id for c in decision.candidates] == ["narrow-dept", "wide-dept"]


def test_grid_beats_street_beats_district() -> None:
    district = rule("district", "d-district", scope=AreaScope.district)
    street = rule("street", "d-street", scope=AreaScope.street)
    grid = rule("grid", "d-grid", scope=AreaScope.grid)
    assert resolve([district, street, grid], "C0101", HERE).department_id == "d-grid"
    assert resolve([district, street], "C0101", HERE).department_id == "d-street"
    assert resolve([district], "C0101", HERE).department_id == "d-district"


def test_an_area_step_outweighs_any_category_pattern() -> None:
    rules = [
        rule("street-any", "d-street", scope=AreaScope.street, pattern="*"),
        rule("district-exact", "d-district", scope=AreaScope.district, pattern="C0101"),
    ]
    assert resolve(rules, "C0101", HERE).department_id == "d-street"


def test_exact_category_beats_major_prefix_beats_any() -> None:
    any_ = rule("any", "d-any", pattern="*")
    major = rule("major", "d-major", pattern="C01*")
    exact = rule("exact", "d-exact", pattern="C0101")
    assert resolve([any_, major, exact], "C0101", HERE).department_id == "d-exact"
    assert resolve([any_, major], "C0101", HERE).department_id == "d-major"
    assert resolve([any_], "C0101", HERE).department_id == "d-any"
    decision = resolve([any_, major, exact], "C0101", HERE)
    assert [c.department_id for c in decision.candidates] == ["d-exact", "d-major", "d-any"]


def test_two_departments_at_the_same_level_go_to_the_manual_queue_ranked() -> None:
    rules = [
        rule("a", "d-a", scope=AreaScope.street, confidence=0.7),
        rule("b", "d-b", scope=AreaScope.street, confidence=0.9),
        rule("fallback", "d-city", scope=AreaScope.city, pattern="*"),
    ]
    decision = resolve(rules, "C0101", HERE)
    assert not decision.auto
    assert decision.department_id is None
    assert decision.reason is DispatchReason.several_owners
    assert [c.department_id for c in decision.candidates] == ["d-b", "d-a", "d-city"]
    assert [c.rule_id for c in decision.candidates] == ["b", "a", "fallback"]
    scores = [c.score for c in decision.candidates]
    assert scores == sorted(scores, reverse=True)
    assert decision.candidates[0].confidence == 0.9


def test_several_rules_of_one_department_count_as_one_owner() -> None:
    rules = [
        rule("exact-1", "d-1", pattern="C0101", confidence=0.5),
        rule("exact-2", "d-1", pattern="C0101", confidence=0.8),
    ]
    decision = resolve(rules, "C0101", HERE)
    assert decision.auto
    assert decision.department_id == "d-1"
    assert decision.rule_id == "exact-2"  # the rule that decided is the one later feedback adjusts
    assert len(decision.candidates) == 1


def test_priority_breaks_ties_among_equally_specific_rules() -> None:
    rules = [rule("low", "d-low", priority=1), rule("high", "d-high", priority=5)]
    decision = resolve(rules, "C0101", HERE)
    assert decision.auto
    assert decision.department_id == "d-high"
    # ... but never beats a more specific rule.
    narrower = rule("narrow", "d-narrow", scope=AreaScope.street, priority=-5)
    assert resolve([*rules, narrower], "C0101", HERE).department_id == "d-narrow"


@pytest.mark.parametrize(("confidence", "auto"), [(0.59, False), (0.6, True), (0.95, True)])
def test_confidence_threshold(confidence: float, auto: bool) -> None:
    decision = resolve([rule("only", "d-1", confidence=confidence)], "C0101", HERE)
    assert decision.auto is auto
    if auto:
        assert decision.department_id == "d-1"
    else:
        assert decision.department_id is None
        assert decision.reason is DispatchReason.low_confidence
        assert [c.department_id for c in decision.candidates] == ["d-1"]


def test_the_threshold_is_a_parameter() -> None:
    only = [rule("only", "d-1", confidence=0.7)]
    assert resolve(only, "C0101", HERE, threshold=0.8).reason is DispatchReason.low_confidence
    assert resolve(only, "C0101", HERE, threshold=0.5).auto
    with pytest.raises(ValidationFailed):
        resolve(only, "C0101", HERE, threshold=1.5)


def test_a_distrusted_owner_ranks_below_a_reliable_wider_one_in_the_manual_queue() -> None:
    rules = [
        rule("grid", "d-grid", scope=AreaScope.grid, confidence=0.1),
        rule("district", "d-district", scope=AreaScope.district, confidence=1.0),
    ]
    decision = resolve(rules, "C0101", HERE)
    assert decision.reason is DispatchReason.low_confidence
    assert [c.department_id for c in decision.candidates] == ["d-district", "d-grid"]


def test_the_auto_choice_leads_the_candidates_even_when_another_scores_higher() -> None:
    rules = [
        rule("grid", "d-grid", scope=AreaScope.grid, confidence=0.6),
        rule("community", "d-community", scope=AreaScope.community, confidence=1.0),
    ]
    assert score(rules[1]) > score(rules[0])
    decision = resolve(rules, "C0101", HERE)
    assert decision.department_id == "d-grid"
    assert [c.department_id for c in decision.candidates] == ["d-grid", "d-community"]


def test_disabled_rules_are_ignored() -> None:
    rules = [
        rule("grid-off", "d-grid", scope=AreaScope.grid, enabled=False),
        rule("district", "d-district"),
        rule("district-off", "d-other", enabled=False),
    ]
    decision = resolve(rules, "C0101", HERE)
    assert decision.auto
    assert decision.department_id == "d-district"
    assert [c.department_id for c in decision.candidates] == ["d-district"]
    assert resolve([rules[0]], "C0101", HERE).reason is DispatchReason.no_rule


def test_score_formula() -> None:
    # confidence × (1 + area rank + category chars / 10 + priority / 100) / 6
    assert score(rule("r", "d", scope=AreaScope.grid, pattern="C0101", confidence=1.0)) == pytest.approx(
        (1 + 4 + 0.5) / 6
    )
    assert score(rule("r", "d", scope=AreaScope.city, pattern="*", confidence=0.5)) == pytest.approx(0.5 / 6)
    assert score(rule("r", "d", priority=100)) == score(rule("r", "d", priority=9))


@given(
    scope=st.sampled_from(list(AreaScope)),
    pattern=st.sampled_from(["*", "C*", "C01*", "C0101", "C010101010101"]),
    priority=st.integers(min_value=-1000, max_value=1000),
    confidence=st.floats(min_value=0, max_value=1),
)
def test_score_stays_in_the_unit_interval(scope: AreaScope, pattern: str, priority: int, confidence: float) -> None:
    value = score(rule("r", "d", scope=scope, pattern=pattern, priority=priority, confidence=confidence))
    assert 0.0 <= value <= 1.0


@pytest.mark.parametrize(
    "bad",
    [
        {"confidence": 1.5},
        {"confidence": -0.1},
        {"confidence": float("nan")},
        {"category_pattern": ""},
        {"department_id": ""},
        {"area_code": None},  # a district rule needs its district code
        {"area_scope": AreaScope.city},  # a city rule has no code
    ],
)
def test_invalid_rules_are_refused(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "id": "r",
        "category_pattern": "C01*",
        "area_scope": AreaScope.district,
        "area_code": "420117",
        "department_id": "d",
        **bad,
    }
    with pytest.raises(ValidationFailed):
        DispatchRule(**fields)  # type: ignore[arg-type]


def test_after_return_and_after_success() -> None:
    r = rule("r", "d", confidence=1.0)
    assert after_return(r).confidence == pytest.approx(0.8)
    assert after_return(after_return(r)).confidence == pytest.approx(0.64)
    assert after_success(rule("r", "d", confidence=0.6)).confidence == pytest.approx(0.62)
    assert after_success(r).confidence == 1.0
    assert after_return(rule("r", "d", confidence=0.05)).confidence == 0.05
    # Pure: the original rule is untouched, and nothing but confidence changes.
    returned = after_return(r)
    assert r.confidence == 1.0
    assert (returned.id, returned.department_id, returned.priority) == (r.id, r.department_id, r.priority)


def test_many_returns_turn_an_automatic_owner_into_a_manual_decision() -> None:
    owner = rule("r", "d", confidence=1.0)
    returns = 0
    while resolve([owner], "C0101", HERE).auto:
        owner = after_return(owner)
        returns += 1
    assert returns == 3  # 1.0 → 0.8 → 0.64 → 0.512 < 0.6
    assert resolve([owner], "C0101", HERE).reason is DispatchReason.low_confidence


def test_feedback_parameters_are_checked() -> None:
    r = rule("r", "d")
    with pytest.raises(ValidationFailed):
        after_return(r, factor=0)
    with pytest.raises(ValidationFailed):
        after_success(r, rate=2)


@given(
    start=st.floats(min_value=0, max_value=1),
    outcomes=st.lists(st.booleans(), max_size=200),
)
def test_confidence_stays_within_bounds_after_any_feedback(start: float, outcomes: list[bool]) -> None:
    r = rule("r", "d", confidence=start)
    for success in outcomes:
        before = r.confidence
        r = after_success(r) if success else after_return(r)
        assert 0.05 <= r.confidence <= 1.0
        if success:
            assert r.confidence >= before
        else:
            assert r.confidence <= max(before, 0.05)


def test_labels() -> None:
    assert set(AREA_SCOPE_LABELS) == set(AreaScope)
    assert set(DISPATCH_REASON_LABELS) == set(DispatchReason)
    assert AreaScope.grid.label == "单元网格"
    assert [scope.rank for scope in AreaScope] == [4, 3, 2, 1, 0]
