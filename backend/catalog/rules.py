"""Category catalog rules: the typed shape of the 部件和事件分类 catalog (GB/T 30428.2), its loader, and
the pure checks around it — catalog consistency, intake answers, and emergency diverts (分流 to 110/119/120).

Nothing here touches the database. The shipped ``data/categories.json`` is the seed; the admin console
may edit categories later, and whatever it saves goes through ``validate_catalog`` first, so this module
is the one place the catalog's invariants live.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import re
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Final, Literal, get_args

import msgspec

from backend.errors import ValidationFailed

Kind = Literal["component", "event"]
Urgency = Literal["normal", "urgent", "critical"]
Stage = Literal["accept", "dispatch", "dispose", "check"]
TimeUnit = Literal["working_hours", "working_days", "natural_hours"]
QuestionType = Literal["choice", "text", "bool", "number"]
DivertTarget = Literal["110", "119", "120"]

KIND_PREFIX: Final[Mapping[Kind, str]] = {"component": "C", "event": "E"}
# Ordered from least to most urgent: the order check below relies on it.
URGENCIES: Final[tuple[Urgency, ...]] = get_args(Urgency)
STAGES: Final[tuple[Stage, ...]] = get_args(Stage)
TIME_UNITS: Final[tuple[TimeUnit, ...]] = get_args(TimeUnit)
QUESTION_TYPES: Final[tuple[QuestionType, ...]] = get_args(QuestionType)
DIVERT_TARGETS: Final[tuple[DivertTarget, ...]] = get_args(DivertTarget)

DEFAULT_SIMILAR_RADIUS_M: Final = 50
DEFAULT_SIMILAR_WINDOW_H: Final = 72
SIMILAR_RADIUS_RANGE_M: Final = (1, 2000)
SIMILAR_WINDOW_RANGE_H: Final = (1, 720)
# Free-text answers end up in push messages and the case timeline; a plate number or a toilet id is short.
TEXT_ANSWER_MAX_CHARS: Final = 200

# What the reporter is told when a category (not a particular answer) calls for an emergency line.
DIVERT_MESSAGES: Final[Mapping[DivertTarget, str]] = {
    "110": "涉及治安或违法犯罪，请立即拨打110报警。",
    "119": "存在火灾、燃气泄漏或人员被困等险情，请立即远离危险区域并拨打119。",
    "120": "有人员受伤或需要医疗急救，请立即拨打120。",
}

# [0-9] rather than \d: \d also matches full-width digits, which a hand-edited JSON file can easily contain.
_MAJOR_CODE = re.compile(r"[0-9]{2}")
_MINOR_CODE = re.compile(r"[CE][0-9]{4}")

_PACKAGED_CATALOG = ("data", "categories.json")

# Every struct below is frozen (shared by all requests, so nobody may mutate it), keyword-only, and
# forbid_unknown_fields: a misspelt key in the hand-edited JSON fails the load instead of being ignored.


class TimeLimit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """时限 — how long one stage of a case may take, on the working calendar or the plain clock."""

    amount: float
    unit: TimeUnit


class Divert(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """分流 — an emergency the platform must not sit on: the reporter is told to call ``to`` now.

    On a question, ``when`` is the answer that triggers it; a category-wide divert has no ``when``.
    The report is still taken — the divert is advice shown first, not a refusal.
    """

    when: bool | str | None = None
    to: DivertTarget
    message: str


class Question(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """补充问题 — an extra question asked when a report is filed under a minor class."""

    key: str
    label: str
    type: QuestionType
    options: tuple[str, ...] = ()
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    divert: Divert | None = None


class MajorClass(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """大类 — a two-digit group of minor classes within one kind (部件 component or 事件 event)."""

    kind: Kind
    code: str
    name: str
    # Local extension (扩展类) beyond the national standard, e.g. the city's smart-device classes.
    extension: bool = False


class MinorClass(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """小类 — the category a case is filed under: full code = kind letter + major + minor, e.g. ``C0101``.

    ``accept_condition`` is the 立案条件 (when a report becomes a case), ``close_condition`` the 结案条件
    (when the check may close it). ``owner_hint`` names the usual responsible department type; the actual
    department per area comes from the dispatch rules.
    """

    code: str
    kind: Kind
    major_code: str
    name: str
    citizen_selectable: bool
    default_urgency: Urgency = "normal"
    owner_hint: str
    accept_condition: str
    close_condition: str
    similar_radius_m: int = DEFAULT_SIMILAR_RADIUS_M
    similar_window_h: int = DEFAULT_SIMILAR_WINDOW_H
    divert_to: DivertTarget | None = None
    time_limits: Mapping[Urgency, Mapping[Stage, TimeLimit]]
    questions: tuple[Question, ...] = ()

    def time_limit(self, urgency: Urgency, stage: Stage) -> TimeLimit:
        """The limit for one stage; complete for every urgency and stage once the catalog validated."""
        return self.time_limits[urgency][stage]


class Catalog(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, dict=True):
    """分类目录 — every major and minor class the city uses."""

    majors: tuple[MajorClass, ...]
    minors: tuple[MinorClass, ...]

    # dict=True lets the frozen struct cache its lookup table; intake looks a category up on every report.
    @functools.cached_property
    def _minors_by_code(self) -> dict[str, MinorClass]:
        return {minor.code: minor for minor in self.minors}

    def minor(self, code: str) -> MinorClass:
        """The minor class with this full code, or ``ValidationFailed`` (a client sent an unknown one)."""
        try:
            return self._minors_by_code[code]
        except KeyError:
            raise ValidationFailed(
                f"unknown category {code!r}", code="unknown_category", details={"category": code}
            ) from None

    def major(self, kind: Kind, code: str) -> MajorClass:
        for major in self.majors:
            if major.kind == kind and major.code == code:
                return major
        raise ValidationFailed(
            f"unknown major class {kind} {code!r}",
            code="unknown_category",
            details={"kind": kind, "major_code": code},
        )

    def citizen_choices(self, kind: Kind | None = None) -> tuple[MinorClass, ...]:
        """The minor classes a citizen may pick in the mini-program, in code order."""
        return tuple(
            minor
            for minor in sorted(self.minors, key=lambda m: m.code)
            if minor.citizen_selectable and (kind is None or minor.kind == kind)
        )


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Read, decode and validate a catalog file; by default the one shipped in ``data/categories.json``.

    Decoding is strict (unknown keys, wrong types and unknown enum values fail), and the result must
    pass ``validate_catalog`` — a catalog that loads is one the rest of the system can trust.
    """
    if path is None:
        source = "/".join(("backend.catalog", *_PACKAGED_CATALOG))
        raw = resources.files("backend.catalog").joinpath(*_PACKAGED_CATALOG).read_bytes()
    else:
        source = os.fspath(path)
        raw = Path(path).read_bytes()
    try:
        catalog = msgspec.json.decode(raw, type=Catalog)
    except msgspec.DecodeError as exc:
        raise ValidationFailed(
            f"category catalog {source} cannot be decoded: {exc}",
            code="invalid_catalog",
            details={"problems": [{"at": source, "rule": "decode", "message": str(exc)}]},
        ) from exc
    validate_catalog(catalog)
    return catalog


@functools.cache
def shipped_catalog() -> Catalog:
    """The packaged catalog, read once per process."""
    return load_catalog()


_AddProblem = Callable[[str, str, str], None]


def validate_catalog(catalog: Catalog) -> None:
    """Check every invariant and raise one ``ValidationFailed`` listing all problems found.

    ``details["problems"]`` holds ``{"at", "rule", "message"}`` entries, so an administrator fixing the
    file sees everything at once. The enum checks repeat what strict decoding already enforces because a
    catalog can also be built in code (from admin edits), where nothing checks a ``Literal``.
    """
    problems: list[dict[str, str]] = []

    def add(at: str, rule: str, message: str) -> None:
        problems.append({"at": at, "rule": rule, "message": message})

    majors: set[tuple[str, str]] = set()
    for major in catalog.majors:
        at = f"major {major.kind}/{major.code}"
        if major.kind not in KIND_PREFIX:
            add(at, "unknown_value", f"unknown kind {major.kind!r}")
        if not _MAJOR_CODE.fullmatch(major.code):
            add(at, "major_code_format", f"major code {major.code!r} is not two digits")
        if (major.kind, major.code) in majors:
            add(at, "duplicate_major", f"major class {major.kind}/{major.code} appears more than once")
        majors.add((major.kind, major.code))
        if not major.name.strip():
            add(at, "blank_text", "name is blank")

    codes: set[str] = set()
    for minor in catalog.minors:
        at = minor.code
        if minor.code in codes:
            add(at, "duplicate_minor", f"minor class {minor.code} appears more than once")
        codes.add(minor.code)
        _check_code(minor, majors, add)
        _check_texts(minor, add)
        _check_time_limits(minor, add)
        _check_similar(minor, add)
        _check_questions(minor, add)

    if problems:
        shown = "; ".join(f"{p['at']}: {p['message']}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ValidationFailed(
            f"category catalog has {len(problems)} problem(s): {shown}{more}",
            code="invalid_catalog",
            details={"problems": problems},
        )


def _check_code(minor: MinorClass, majors: set[tuple[str, str]], add: _AddProblem) -> None:
    at = minor.code
    if minor.kind not in KIND_PREFIX:
        add(at, "unknown_value", f"unknown kind {minor.kind!r}")
    if not _MINOR_CODE.fullmatch(minor.code):
        add(at, "minor_code_format", f"code {minor.code!r} is not C or E followed by four digits")
    else:
        prefix = KIND_PREFIX.get(minor.kind, "?") + minor.major_code
        if not minor.code.startswith(prefix):
            add(at, "code_prefix", f"code does not start with {prefix} (its kind letter and major class)")
    if (minor.kind, minor.major_code) not in majors:
        add(at, "unknown_major", f"major class {minor.kind}/{minor.major_code} does not exist")


def _check_texts(minor: MinorClass, add: _AddProblem) -> None:
    for field in ("name", "owner_hint", "accept_condition", "close_condition"):
        if not getattr(minor, field).strip():
            add(minor.code, "blank_text", f"{field} is blank")
    if minor.default_urgency not in URGENCIES:
        add(minor.code, "unknown_value", f"unknown default urgency {minor.default_urgency!r}")
    if minor.divert_to is not None and minor.divert_to not in DIVERT_TARGETS:
        add(minor.code, "divert_target", f"divert_to {minor.divert_to!r} is not one of 110, 119, 120")


def _check_time_limits(minor: MinorClass, add: _AddProblem) -> None:
    at = minor.code
    for urgency, stages in minor.time_limits.items():
        if urgency not in URGENCIES:
            add(at, "unknown_value", f"unknown urgency {urgency!r} in time_limits")
        for stage in stages:
            if stage not in STAGES:
                add(at, "unknown_value", f"unknown stage {stage!r} in time_limits.{urgency}")

    present: dict[tuple[Urgency, Stage], TimeLimit] = {}
    for urgency in URGENCIES:
        for stage in STAGES:
            limit = minor.time_limits.get(urgency, {}).get(stage)
            if limit is None:
                add(at, "missing_time_limit", f"no time limit for {urgency}/{stage}")
                continue
            present[urgency, stage] = limit
            if limit.unit not in TIME_UNITS:
                add(at, "unknown_value", f"unknown unit {limit.unit!r} for {urgency}/{stage}")
            # `not amount > 0` also catches NaN, which compares false with everything.
            if not (limit.amount > 0 and math.isfinite(limit.amount)):
                add(at, "nonpositive_amount", f"time limit {urgency}/{stage} must be a positive number")

    # Units are only compared when equal: working and natural hours have no fixed exchange rate, and an
    # urgent stage is often deliberately moved onto the natural clock so it runs overnight and at weekends.
    for calmer, hotter in itertools.combinations(URGENCIES, 2):
        for stage in STAGES:
            slow, fast = present.get((calmer, stage)), present.get((hotter, stage))
            if slow is not None and fast is not None and fast.unit == slow.unit and fast.amount > slow.amount:
                add(
                    at,
                    "urgency_order",
                    f"{hotter}/{stage} ({fast.amount} {fast.unit}) is longer than "
                    f"{calmer}/{stage} ({slow.amount} {slow.unit})",
                )


def _check_similar(minor: MinorClass, add: _AddProblem) -> None:
    low, high = SIMILAR_RADIUS_RANGE_M
    if not low <= minor.similar_radius_m <= high:
        add(minor.code, "radius_range", f"similar_radius_m must be within {low}–{high} m")
    low, high = SIMILAR_WINDOW_RANGE_H
    if not low <= minor.similar_window_h <= high:
        add(minor.code, "window_range", f"similar_window_h must be within {low}–{high} h")


def _check_questions(minor: MinorClass, add: _AddProblem) -> None:
    keys: set[str] = set()
    for question in minor.questions:
        at = f"{minor.code}.{question.key}"
        if question.key in keys:
            add(at, "duplicate_question", f"question key {question.key!r} appears more than once")
        keys.add(question.key)
        if not question.key.strip() or not question.label.strip():
            add(at, "blank_text", "question key or label is blank")
        if question.type not in QUESTION_TYPES:
            add(at, "unknown_value", f"unknown question type {question.type!r}")

        if question.type == "choice":
            if not question.options:
                add(at, "choice_options", "choice question has no options")
            elif len(set(question.options)) != len(question.options):
                add(at, "choice_options", "choice question repeats an option")
        elif question.options:
            add(at, "choice_options", f"{question.type} question has options")

        bounds = (question.minimum, question.maximum)
        if question.type != "number" and bounds != (None, None):
            add(at, "number_range", f"{question.type} question has minimum/maximum")
        if question.minimum is not None and question.maximum is not None and question.minimum > question.maximum:
            add(at, "number_range", "minimum is greater than maximum")

        divert = question.divert
        if divert is None:
            continue
        if divert.to not in DIVERT_TARGETS:
            add(at, "divert_target", f"divert to {divert.to!r} is not one of 110, 119, 120")
        if not _can_match(question, divert.when):
            add(at, "divert_unreachable", f"divert when={divert.when!r} can never match an answer")
        if not divert.message.strip():
            add(at, "blank_text", "divert message is blank")


def _can_match(question: Question, when: bool | str | None) -> bool:
    # Diverts hang off yes/no and choice questions only: equality on free text or a number is never
    # what an operator means ("if the depth is exactly 30"), so such a divert is a mistake in the data.
    if question.type == "bool":
        return isinstance(when, bool)
    if question.type == "choice":
        return isinstance(when, str) and when in question.options
    return False


def _matches(question: Question, answer: object, when: bool | str | None) -> bool:
    if question.type == "bool":
        # Strict: in Python 1 == True, but a JSON 1 is not the citizen ticking "yes".
        return isinstance(answer, bool) and isinstance(when, bool) and answer is when
    if question.type == "choice":
        return isinstance(answer, str) and answer == when
    return False


def divert_for(minor: MinorClass, answers: Mapping[str, object]) -> Divert | None:
    """The emergency line the reporter must be pointed to, if any.

    Question diverts are checked first, in question order, because their messages are specific ("有人员
    受伤" → 120); then the category's own ``divert_to``. Answers are not validated here: an emergency
    answer must divert even if the rest of the form is still incomplete.
    """
    for question in minor.questions:
        divert = question.divert
        if divert is not None and question.key in answers and _matches(question, answers[question.key], divert.when):
            return divert
    if minor.divert_to is not None:
        return Divert(to=minor.divert_to, message=DIVERT_MESSAGES[minor.divert_to])
    return None


def validate_answers(minor: MinorClass, answers: Mapping[str, object]) -> None:
    """Check a report's answers against the minor class's questions; raise one error listing every problem.

    ``None`` or a blank string counts as unanswered, since forms send empty fields rather than omit them.
    """
    problems: list[dict[str, str]] = []

    def add(key: str, rule: str, message: str) -> None:
        problems.append({"at": key, "rule": rule, "message": message})

    known = {question.key for question in minor.questions}
    for key in answers:
        if key not in known:
            add(key, "unknown_key", f"{minor.code} has no question {key!r}")

    for question in minor.questions:
        value = answers.get(question.key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if question.required:
                add(question.key, "missing", f"{question.label} is required")
            continue
        problem = _answer_problem(question, value)
        if problem is not None:
            add(question.key, *problem)

    if problems:
        raise ValidationFailed(
            "; ".join(p["message"] for p in problems),
            code="invalid_answers",
            details={"category": minor.code, "problems": problems},
        )


def _answer_problem(question: Question, value: object) -> tuple[str, str] | None:
    """(rule, message) for one answered question, or None when the answer is acceptable."""
    label = question.label
    if question.type == "bool":
        return None if isinstance(value, bool) else ("wrong_type", f"{label} must be true or false")
    if question.type == "choice":
        if not isinstance(value, str):
            return "wrong_type", f"{label} must be one of the options"
        if value not in question.options:
            return "unknown_option", f"{label}: {value!r} is not one of the options"
        return None
    if question.type == "text":
        if not isinstance(value, str):
            return "wrong_type", f"{label} must be text"
        if len(value) > TEXT_ANSWER_MAX_CHARS:
            return "too_long", f"{label} must be at most {TEXT_ANSWER_MAX_CHARS} characters"
        return None
    # number — bool is an int subclass, and true must not pass for 1 stall.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "wrong_type", f"{label} must be a number"
    if question.minimum is not None and value < question.minimum:
        return "out_of_range", f"{label} must be at least {question.minimum:g}"
    if question.maximum is not None and value > question.maximum:
        return "out_of_range", f"{label} must be at most {question.maximum:g}"
    return None
