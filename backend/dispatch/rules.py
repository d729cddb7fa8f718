"""智能分派 — the pure rules of smart dispatch (DESIGN §2): which department a case goes to.

A dispatch rule (分派规则) maps a category pattern and an area to a department. For a case, the enabled
rules that match its category code and its location are ranked by specificity, most specific first:

1. area scope: grid (网格) > community (社区) > street (街道) > district (区) > city (市);
2. category pattern: the number of literal characters before the first ``*`` ("C0101" 5 > "C01*" 3 >
   "C*" 1 > "*" 0);
3. then ``priority``: among rules equally specific, the higher priority wins.

The top of that order decides. If it holds exactly one department (several rules of one department count
as one) and that department's confidence there is at least the threshold (0.6 by default), the case is
dispatched automatically. Otherwise — several departments tied at the top, low confidence, or no rule at
all — the case goes to the dispatcher's manual queue with every matching department as a ranked candidate.

Confidence (0..1) is the feedback loop: every return (回退) of a case dispatched by a rule lowers it, every
dispatch that sticks raises it slowly (``after_return`` / ``after_success``); the service decides which rule
the outcome belongs to (the rule id is kept with the dispatch event).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from typing import Final

from backend.errors import ValidationFailed

DEFAULT_AUTO_THRESHOLD: Final = 0.6
"""The confidence a single owner needs for automatic dispatch."""

CONFIDENCE_FLOOR: Final = 0.05
"""Returns never push a rule's confidence below this, so a rule can always earn its way back."""

# Score scaling (see ``score``): one category character is worth 0.1, one area level 1.0, and priority at
# most ±0.09, so for equal confidence the score orders rules exactly as the specificity order above.
_CATEGORY_CHARS_CAP: Final = 9
_PRIORITY_CAP: Final = 9
_SCORE_MAX: Final = 6.0


class AreaScope(StrEnum):
    """区域范围 — the level of the area a rule covers, from the most specific (grid) to the whole city."""

    grid = "grid"
    community = "community"
    street = "street"
    district = "district"
    city = "city"

    @property
    def label(self) -> str:
        return AREA_SCOPE_LABELS[self]

    @property
    def rank(self) -> int:
        """Specificity rank: grid 4, community 3, street 2, district 1, city 0."""
        return _AREA_RANK[self]


AREA_SCOPE_LABELS: Final[Mapping[AreaScope, str]] = {
    AreaScope.grid: "单元网格",
    AreaScope.community: "社区",
    AreaScope.street: "街道",
    AreaScope.district: "区",
    AreaScope.city: "全市",
}

_AREA_RANK: Final[Mapping[AreaScope, int]] = {
    AreaScope.grid: 4,
    AreaScope.community: 3,
    AreaScope.street: 2,
    AreaScope.district: 1,
    AreaScope.city: 0,
}


class DispatchReason(StrEnum):
    """分派结论 — why a case was dispatched automatically or sent to the manual queue."""

    single_owner = "single_owner"
    several_owners = "several_owners"
    low_confidence = "low_confidence"
    no_rule = "no_rule"

    @property
    def label(self) -> str:
        return DISPATCH_REASON_LABELS[self]


DISPATCH_REASON_LABELS: Final[Mapping[DispatchReason, str]] = {
    DispatchReason.single_owner: "唯一责任部门,自动派遣",
    DispatchReason.several_owners: "多个责任部门,人工派遣",
    DispatchReason.low_confidence: "规则置信度不足,人工派遣",
    DispatchReason.no_rule: "无匹配规则,人工派遣",
}


@dataclass(frozen=True, slots=True)
class CaseLocation:
    """案卷位置 — the area codes stored with a case at creation (any may be unknown)."""

    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    district_code: str | None = None

    def code_at(self, scope: AreaScope) -> str | None:
        """The case's area code at ``scope``; ``None`` for the city (it has no code) or an unknown code."""
        if scope is AreaScope.grid:
            return self.grid_code
        if scope is AreaScope.community:
            return self.community_code
        if scope is AreaScope.street:
            return self.street_code
        if scope is AreaScope.district:
            return self.district_code
        return None


def category_specificity(pattern: str) -> int:
    """How specific a category pattern is: its literal characters before the first ``*``."""
    star = pattern.find("*")
    return len(pattern) if star < 0 else star


@lru_cache(maxsize=4096)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # Only ``*`` is a wildcard: category codes are plain strings, and ``?``/``[`` from fnmatch would only
    # surprise whoever types a pattern in the admin console.
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def category_matches(pattern: str, category_code: str) -> bool:
    """Whether ``category_code`` (e.g. "C0101", "E0501") matches ``pattern`` ("C0101", "C01*", "*")."""
    return _pattern_regex(pattern).fullmatch(category_code) is not None


@dataclass(frozen=True, slots=True)
class DispatchRule:
    """分派规则 — (category pattern, area) → the department that owns such cases there.

    ``area_code`` is the code of the grid/community/street/district named by ``area_scope``, and ``None``
    exactly when the scope is the city. ``confidence`` falls with returns and rises with successes.
    """

    id: str
    category_pattern: str
    area_scope: AreaScope
    area_code: str | None
    department_id: str
    priority: int = 0
    confidence: float = 1.0
    enabled: bool = True

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        if not self.category_pattern:
            problems["category_pattern"] = "must not be empty"
        if not self.department_id:
            problems["department_id"] = "must not be empty"
        if (self.area_scope is AreaScope.city) != (self.area_code is None):
            problems["area_code"] = "must be None exactly when area_scope is city"
        if not 0.0 <= self.confidence <= 1.0:  # also refuses NaN
            problems["confidence"] = "must be between 0 and 1"
        if problems:
            raise ValidationFailed(
                f"invalid dispatch rule {self.id!r}",
                details={"rule_id": self.id, "fields": problems, "label": "分派规则无效"},
            )

    @property
    def specificity(self) -> tuple[int, int]:
        """(area rank, category specificity): compared as a tuple, larger is more specific."""
        return (self.area_scope.rank, category_specificity(self.category_pattern))

    def applies_to(self, category_code: str, location: CaseLocation) -> bool:
        """Whether this rule, enabled, covers a case of ``category_code`` at ``location``."""
        if not self.enabled or not category_matches(self.category_pattern, category_code):
            return False
        return self.area_scope is AreaScope.city or location.code_at(self.area_scope) == self.area_code


@dataclass(frozen=True, slots=True)
class Candidate:
    """候选部门 — one department the case could go to, through its best-scoring matching rule."""

    department_id: str
    rule_id: str
    score: float
    confidence: float


@dataclass(frozen=True, slots=True)
class DispatchDecision:
    """分派结果 — automatic (``department_id`` set) or manual, with every candidate ranked best first."""

    auto: bool
    department_id: str | None
    candidates: list[Candidate]
    reason: DispatchReason

    @property
    def rule_id(self) -> str | None:
        """The rule that dispatched the case automatically — the one a later return or success feeds."""
        return self.candidates[0].rule_id if self.auto else None


def score(rule: DispatchRule) -> float:
    """The ranking score of a matching rule, in (0, 1]::

        level = area rank (0..4) + min(category specificity, 9) / 10
        bonus = clamp(priority, -9, 9) / 100
        score = confidence × (1 + level + bonus) / 6

    Confidence multiplies everything, so a department that keeps returning cases sinks below a less
    specific but reliable one; for equal confidence the score keeps the specificity-then-priority order.
    """
    area_rank, category_chars = rule.specificity
    level = area_rank + min(category_chars, _CATEGORY_CHARS_CAP) / 10
    bonus = max(-_PRIORITY_CAP, min(_PRIORITY_CAP, rule.priority)) / 100
    return rule.confidence * (1 + level + bonus) / _SCORE_MAX


def _decision_key(rule: DispatchRule) -> tuple[int, int, int]:
    return (*rule.specificity, rule.priority)


def resolve(
    rules: Iterable[DispatchRule],
    category_code: str,
    location: CaseLocation,
    *,
    threshold: float = DEFAULT_AUTO_THRESHOLD,
) -> DispatchDecision:
    """分派 — decide where a case of ``category_code`` at ``location`` goes (see the module docstring).

    Candidates hold one entry per matching department — its best-scoring rule — sorted by score, best
    first (ties by department id, for a stable queue). When the decision is automatic, the chosen
    department leads the list, carrying the rule that decided (``DispatchDecision.rule_id``), even if a
    less specific rule of another department scores higher.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValidationFailed(
            "threshold must be between 0 and 1",
            details={"threshold": threshold, "label": "自动派遣阈值须在 0 到 1 之间"},
        )
    matching = [rule for rule in rules if rule.applies_to(category_code, location)]
    if not matching:
        return DispatchDecision(auto=False, department_id=None, candidates=[], reason=DispatchReason.no_rule)

    # Each department is represented by its best-scoring rule; equal scores go to the more specific rule,
    # then the lower rule id, so the same rules always yield the same queue.
    ranked = sorted(matching, key=lambda r: (-score(r), tuple(-k for k in _decision_key(r)), r.id))
    best: dict[str, DispatchRule] = {}
    for rule in ranked:
        best.setdefault(rule.department_id, rule)

    top_key = max(_decision_key(rule) for rule in matching)
    top_rules = [rule for rule in matching if _decision_key(rule) == top_key]
    owners = {rule.department_id for rule in top_rules}

    chosen: str | None = None
    if len(owners) > 1:
        reason = DispatchReason.several_owners
    else:
        (owner,) = owners
        owner_confidence = max(rule.confidence for rule in top_rules)
        if owner_confidence >= threshold:
            chosen, reason = owner, DispatchReason.single_owner
            # The deciding rule, not merely the owner's best-scoring one, is what later feedback adjusts.
            best[owner] = min((rule for rule in top_rules if rule.confidence == owner_confidence), key=lambda r: r.id)
        else:
            reason = DispatchReason.low_confidence

    candidates = [
        Candidate(department_id=dept, rule_id=rule.id, score=score(rule), confidence=rule.confidence)
        for dept, rule in best.items()
    ]
    candidates.sort(key=lambda c: (c.department_id != chosen, -c.score, c.department_id))
    return DispatchDecision(auto=chosen is not None, department_id=chosen, candidates=candidates, reason=reason)


def after_return(rule: DispatchRule, *, factor: float = 0.8, floor: float = CONFIDENCE_FLOOR) -> DispatchRule:
    """回退反馈 — the rule after a case it dispatched was returned: confidence × ``factor``, never below
    ``floor``. Pure: returns a new rule for the service to save."""
    if not 0.0 < factor <= 1.0 or not 0.0 <= floor <= 1.0:
        raise ValidationFailed(
            "factor must be in (0, 1] and floor in [0, 1]",
            details={"factor": factor, "floor": floor, "label": "置信度调整参数无效"},
        )
    return replace(rule, confidence=max(floor, rule.confidence * factor))


def after_success(rule: DispatchRule, *, rate: float = 0.05) -> DispatchRule:
    """派遣成功反馈 — the rule after a case it dispatched was disposed without return: confidence moves
    ``rate`` of the way to 1, so trust is rebuilt slowly and never exceeds 1."""
    if not 0.0 <= rate <= 1.0:
        raise ValidationFailed("rate must be in [0, 1]", details={"rate": rate, "label": "置信度调整参数无效"})
    return replace(rule, confidence=min(1.0, rule.confidence + (1.0 - rule.confidence) * rate))
