"""Category catalog (部件和事件分类): shipped seed data, catalog validator, intake answers, diverts."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from backend.catalog.rules import (
    STAGES,
    URGENCIES,
    Catalog,
    Divert,
    MajorClass,
    MinorClass,
    Question,
    TimeLimit,
    divert_for,
    load_catalog,
    shipped_catalog,
    validate_answers,
    validate_catalog,
)
from backend.errors import ValidationFailed

DATA_FILE = Path(__file__).parents[2] / "backend" / "catalog" / "data" / "categories.json"

STANDARD_MAJORS = [
    ("component", "01", "公用设施"),
    ("component", "02", "道路交通"),
    ("component", "03", "市容环境"),
    ("component", "04", "园林绿化"),
    ("component", "05", "房屋土地"),
    ("component", "06", "其他设施"),
    ("event", "01", "市容环境"),
    ("event", "02", "宣传广告"),
    ("event", "03", "施工管理"),
    ("event", "04", "突发事件"),
    ("event", "05", "街面秩序"),
    ("event", "06", "其他事件"),
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# ---------------------------------------------------------------------------------------------- shipped data


def test_shipped_catalog_loads_and_validates(catalog: Catalog) -> None:
    validate_catalog(catalog)  # raises on any problem
    assert shipped_catalog() == catalog
    assert shipped_catalog() is shipped_catalog()


def test_shipped_catalog_has_at_least_70_minor_classes(catalog: Catalog) -> None:
    assert len(catalog.minors) >= 70
    assert {m.kind for m in catalog.minors} == {"component", "event"}


@pytest.mark.parametrize(("kind", "code", "name"), STANDARD_MAJORS)
def test_every_standard_major_class_is_present(catalog: Catalog, kind: Any, code: str, name: str) -> None:
    major = catalog.major(kind, code)
    assert major.name == name
    assert not major.extension
    assert any(m.kind == kind and m.major_code == code for m in catalog.minors), "major class has no minors"


@pytest.mark.parametrize("kind", ["component", "event"])
def test_every_kind_has_a_local_extension_with_minor_classes(catalog: Catalog, kind: Any) -> None:
    extensions = [major for major in catalog.majors if major.kind == kind and major.extension]
    assert extensions
    for major in extensions:
        assert any(m.kind == kind and m.major_code == major.code for m in catalog.minors)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("C0101", "上水井盖"),
        ("C0102", "污水井盖"),
        ("C0103", "雨水井盖"),
        ("C0201", "停车场"),
        ("C0301", "公共厕所"),
        ("C0401", "古树名木"),
        ("C0402", "行道树"),
        ("E0101", "暴露垃圾"),
        ("E0102", "积存垃圾渣土"),
        ("E0103", "道路不洁"),
        ("E0401", "路面塌陷"),
        ("E0403", "燃气管道破裂"),
        ("E0405", "积水"),
        ("E0501", "无照经营游商"),
        ("E0506", "露天烧烤"),
    ],
)
def test_standard_minor_classes_carry_their_standard_names(catalog: Catalog, code: str, name: str) -> None:
    assert catalog.minor(code).name == name


def test_smart_device_and_service_categories_exist(catalog: Catalog) -> None:
    by_name = {m.name: m for m in catalog.minors}
    for name in ("井盖移位倾斜", "燃气泄漏报警", "智能垃圾桶满溢", "公厕异味超标"):
        assert not by_name[name].citizen_selectable, f"{name} is raised by devices, not picked by citizens"
    gas = by_name["燃气泄漏报警"]
    assert gas.default_urgency == "urgent"
    assert gas.divert_to == "119"
    for name in ("公厕服务反馈", "停车服务反馈"):
        assert by_name[name].citizen_selectable


def test_citizen_choices_exclude_internal_categories(catalog: Catalog) -> None:
    choices = catalog.citizen_choices()
    assert choices and all(m.citizen_selectable for m in choices)
    assert len(choices) < len(catalog.minors)
    assert [m.code for m in choices] == sorted(m.code for m in choices)
    assert all(m.kind == "event" for m in catalog.citizen_choices("event"))


def test_emergency_limits_run_on_the_natural_clock(catalog: Catalog) -> None:
    # A burst main at 2 a.m. on a Sunday must not wait for Monday's office hours.
    for code in ("E0402", "E0403", "E0702"):
        limit = catalog.minor(code).time_limit("urgent", "dispose")
        assert limit.unit == "natural_hours"
        assert limit.amount <= 2


def test_data_file_is_readable_utf8_not_escaped() -> None:
    text = DATA_FILE.read_text(encoding="utf-8")
    assert "公用设施" in text and "\\u" not in text
    assert text.count("\n") > 1000  # pretty-printed, one field a line


def test_unknown_category_is_a_validation_error(catalog: Catalog) -> None:
    with pytest.raises(ValidationFailed) as info:
        catalog.minor("E9999")
    assert info.value.code == "unknown_category"


# ------------------------------------------------------------------------------------------------ the loader


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "categories.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda d: d["minors"][0].update(colour="red"), id="unknown-field"),
        pytest.param(lambda d: d["minors"][0]["time_limits"]["normal"]["accept"].update(unit="minutes"), id="unit"),
        pytest.param(lambda d: d["minors"][0].update(similar_radius_m="50"), id="wrong-type"),
        pytest.param(lambda d: d["minors"][0]["time_limits"].update(asap={}), id="unknown-urgency"),
        pytest.param(lambda d: d["minors"][0].pop("accept_condition"), id="missing-field"),
    ],
)
def test_load_rejects_malformed_files(tmp_path: Path, tamper: Callable[[dict], object]) -> None:
    doc = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    tamper(doc)
    with pytest.raises(ValidationFailed) as info:
        load_catalog(_write(tmp_path, doc))
    assert info.value.code == "invalid_catalog"


def test_load_validates_what_it_decodes(tmp_path: Path) -> None:
    doc = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    doc["minors"].append(doc["minors"][0])
    with pytest.raises(ValidationFailed) as info:
        load_catalog(_write(tmp_path, doc))
    assert "duplicate_minor" in _rules(info.value)


# --------------------------------------------------------------------------------------------- the validator


def _rules(error: ValidationFailed) -> set[str]:
    return {problem["rule"] for problem in error.details["problems"]}


def _with_minor(catalog: Catalog, target: str, **changes: Any) -> Catalog:
    minors = tuple(msgspec.structs.replace(m, **changes) if m.code == target else m for m in catalog.minors)
    return msgspec.structs.replace(catalog, minors=minors)


def _with_limit(catalog: Catalog, target: str, urgency: str, stage: str, limit: TimeLimit | None) -> Catalog:
    limits: dict[str, dict[str, TimeLimit]] = {
        u: {stage: value for stage, value in stages.items()} for u, stages in catalog.minor(target).time_limits.items()
    }
    if limit is None:
        del limits[urgency][stage]
    else:
        limits[urgency][stage] = limit
    return _with_minor(catalog, target, time_limits=limits)


def _with_question(catalog: Catalog, target: str, index: int, **changes: Any) -> Catalog:
    questions = list(catalog.minor(target).questions)
    questions[index] = msgspec.structs.replace(questions[index], **changes)
    return _with_minor(catalog, target, questions=tuple(questions))


def _with_extra_major(catalog: Catalog, major: MajorClass) -> Catalog:
    return msgspec.structs.replace(catalog, majors=(*catalog.majors, major))


def _limit(amount: float, unit: Any = "working_hours") -> TimeLimit:
    # Any: tests build values the Literal types forbid, as an admin edit built in code could.
    return TimeLimit(amount=amount, unit=unit)


def _divert(when: bool | str | None, to: Any = "119") -> Divert:
    return Divert(when=when, to=to, message="请立即拨打电话")


# One case per rule; each starts from the valid shipped catalog and breaks exactly one thing, so a rule
# removed from the validator makes its case fail. E0401 路面塌陷 has a bool divert question (0) and a
# choice question (2), with normal/dispose 24 natural hours; E0501 无照经营游商 has a number question (0).
TAMPERS = [
    pytest.param(
        "duplicate_minor", lambda c: msgspec.structs.replace(c, minors=(*c.minors, c.minors[0])), id="dup-minor"
    ),
    pytest.param("duplicate_major", lambda c: _with_extra_major(c, c.majors[0]), id="dup-major"),
    pytest.param(
        "major_code_format",
        lambda c: _with_extra_major(c, MajorClass(kind="event", code="8", name="试点")),
        id="major-code",
    ),
    pytest.param("minor_code_format", lambda c: _with_minor(c, "E0101", code="E101"), id="minor-code-short"),
    pytest.param("minor_code_format", lambda c: _with_minor(c, "E0101", code="E０101"), id="minor-code-fullwidth"),
    pytest.param("code_prefix", lambda c: _with_minor(c, "E0101", code="E0201"), id="prefix-major"),
    pytest.param("code_prefix", lambda c: _with_minor(c, "E0101", code="C0199", major_code="01"), id="prefix-kind"),
    pytest.param("unknown_major", lambda c: _with_minor(c, "E0101", code="E0901", major_code="09"), id="no-major"),
    pytest.param("missing_time_limit", lambda c: _with_limit(c, "E0401", "critical", "check", None), id="missing"),
    pytest.param("nonpositive_amount", lambda c: _with_limit(c, "E0101", "normal", "dispose", _limit(0)), id="zero"),
    pytest.param("nonpositive_amount", lambda c: _with_limit(c, "E0101", "normal", "accept", _limit(-1)), id="neg"),
    pytest.param(
        "nonpositive_amount", lambda c: _with_limit(c, "E0101", "critical", "check", _limit(math.nan)), id="nan"
    ),
    pytest.param(
        "urgency_order",
        lambda c: _with_limit(c, "E0401", "urgent", "dispose", _limit(48, "natural_hours")),
        id="urgent-longer",
    ),
    pytest.param(
        "urgency_order", lambda c: _with_limit(c, "E0101", "critical", "accept", _limit(0.75)), id="critical-longer"
    ),
    pytest.param("radius_range", lambda c: _with_minor(c, "E0101", similar_radius_m=0), id="radius-low"),
    pytest.param("radius_range", lambda c: _with_minor(c, "E0101", similar_radius_m=2001), id="radius-high"),
    pytest.param("window_range", lambda c: _with_minor(c, "E0101", similar_window_h=0), id="window-low"),
    pytest.param("window_range", lambda c: _with_minor(c, "E0101", similar_window_h=721), id="window-high"),
    pytest.param(
        "divert_target", lambda c: _with_question(c, "E0401", 0, divert=_divert(True, "999")), id="question-divert"
    ),
    pytest.param("divert_target", lambda c: _with_minor(c, "E0101", divert_to="122"), id="category-divert"),
    pytest.param("choice_options", lambda c: _with_question(c, "E0401", 2, options=()), id="no-options"),
    pytest.param("choice_options", lambda c: _with_question(c, "E0401", 2, options=("小", "小")), id="dup-options"),
    pytest.param("choice_options", lambda c: _with_question(c, "E0401", 0, options=("是", "否")), id="bool-options"),
    pytest.param("duplicate_question", lambda c: _with_question(c, "E0401", 1, key="people_trapped"), id="dup-key"),
    pytest.param(
        "divert_unreachable", lambda c: _with_question(c, "E0401", 0, divert=_divert("是")), id="bool-when-str"
    ),
    pytest.param(
        "divert_unreachable", lambda c: _with_question(c, "E0401", 2, divert=_divert("很大")), id="choice-when-unknown"
    ),
    pytest.param(
        "divert_unreachable", lambda c: _with_question(c, "E0501", 0, divert=_divert(None, "110")), id="number-divert"
    ),
    pytest.param("number_range", lambda c: _with_question(c, "E0501", 0, minimum=10, maximum=1), id="min-gt-max"),
    pytest.param("number_range", lambda c: _with_question(c, "E0401", 2, minimum=1), id="bounds-on-choice"),
    pytest.param("blank_text", lambda c: _with_minor(c, "E0101", accept_condition="  "), id="blank"),
    pytest.param(
        "unknown_value", lambda c: _with_limit(c, "E0101", "normal", "check", _limit(4, "minutes")), id="unit"
    ),
    pytest.param("unknown_value", lambda c: _with_minor(c, "E0101", default_urgency="asap"), id="urgency"),
    pytest.param("unknown_value", lambda c: _with_question(c, "E0401", 1, type="date"), id="question-type"),
]


@pytest.mark.parametrize(("rule", "tamper"), TAMPERS)
def test_validator_detects_each_rule(catalog: Catalog, rule: str, tamper: Callable[[Catalog], Catalog]) -> None:
    with pytest.raises(ValidationFailed) as info:
        validate_catalog(tamper(catalog))
    assert info.value.code == "invalid_catalog"
    assert rule in _rules(info.value)


def test_validator_lists_every_problem_at_once(catalog: Catalog) -> None:
    broken = _with_minor(catalog, "E0101", similar_radius_m=0, similar_window_h=0)
    broken = _with_limit(broken, "E0401", "critical", "check", None)
    with pytest.raises(ValidationFailed) as info:
        validate_catalog(broken)
    problems = info.value.details["problems"]
    assert {(p["at"], p["rule"]) for p in problems} == {
        ("E0101", "radius_range"),
        ("E0101", "window_range"),
        ("E0401", "missing_time_limit"),
    }
    assert "3 problem(s)" in info.value.message


def test_urgent_limits_in_another_unit_are_not_compared(catalog: Catalog) -> None:
    # 2 working days normal vs 4 natural hours urgent cannot be ranked without the calendar.
    changed = _with_limit(catalog, "C0101", "urgent", "dispose", TimeLimit(amount=30, unit="natural_hours"))
    validate_catalog(changed)


# --------------------------------------------------------------------------------------------------- diverts


@pytest.mark.parametrize(
    ("code", "answers", "expected"),
    [
        ("E0403", {"gas_smell": True}, "119"),
        ("E0403", {"gas_smell": False}, None),
        ("E0403", {}, None),
        ("E0403", {"gas_smell": 1}, None),  # 1 == True in Python, but it is not a "yes"
        ("E0403", {"gas_smell": "true"}, None),
        ("E0401", {"people_trapped": True, "people_injured": True}, "119"),  # first question wins
        ("E0401", {"people_trapped": False, "people_injured": True}, "120"),
        ("E0401", {"people_trapped": False, "people_injured": False, "size": "大于5平方米"}, None),
        ("E0405", {"depth": "没过膝盖及以上", "people_trapped": True}, "119"),
        ("E0605", {"in_progress": True}, "110"),
        ("E0509", {"needs_medical": True}, "120"),
        ("C0108", {"problem": "缺失", "someone_fell": False, "gas_smell": True}, "119"),
        ("E0702", {}, "119"),  # the category itself diverts: a gas alarm is always relayed
        ("E0501", {"stall_count": 3}, None),
        ("E0101", {}, None),
    ],
)
def test_divert_for(catalog: Catalog, code: str, answers: dict[str, object], expected: str | None) -> None:
    divert = divert_for(catalog.minor(code), answers)
    assert (divert.to if divert else None) == expected
    if divert is not None:
        assert divert.message


def test_divert_for_choice_answer() -> None:
    minor = _synthetic_minor(
        Question(
            key="smoke",
            label="现场情况",
            type="choice",
            options=("无烟", "冒烟", "明火"),
            divert=Divert(when="明火", to="119", message="请立即拨打119"),
        )
    )
    assert divert_for(minor, {"smoke": "明火"}) == Divert(when="明火", to="119", message="请立即拨打119")
    assert divert_for(minor, {"smoke": "冒烟"}) is None


# ---------------------------------------------------------------------------------------------------- answers


def _synthetic_minor(*questions: Question) -> MinorClass:
    limit = TimeLimit(amount=1, unit="working_hours")
    return MinorClass(
        code="E0699",
        kind="event",
        major_code="06",
        name="测试",
        citizen_selectable=True,
        owner_hint="街道",
        accept_condition="测试立案条件。",
        close_condition="测试结案条件。",
        time_limits={u: dict.fromkeys(STAGES, limit) for u in URGENCIES},
        questions=questions,
    )


@pytest.mark.parametrize(
    ("code", "answers"),
    [
        ("E0403", {"gas_smell": False}),
        ("E0401", {"people_trapped": False, "people_injured": False}),
        ("E0401", {"people_trapped": False, "people_injured": False, "size": "1至5平方米"}),
        ("E0401", {"people_trapped": False, "people_injured": False, "size": None}),
        ("E0501", {"stall_count": 3}),
        ("E0501", {"stall_count": 2.0}),
        ("E0502", {}),
        ("E0502", {"area_m2": 0}),
        ("E0706", {"feedback_type": "收费争议", "plate_number": "鄂A12345", "lot_id": ""}),
        ("E0101", {}),
    ],
)
def test_validate_answers_accepts(catalog: Catalog, code: str, answers: dict[str, object]) -> None:
    validate_answers(catalog.minor(code), answers)


@pytest.mark.parametrize(
    ("code", "answers", "key", "rule"),
    [
        ("E0403", {}, "gas_smell", "missing"),
        ("E0403", {"gas_smell": None}, "gas_smell", "missing"),
        ("E0403", {"gas_smell": "yes"}, "gas_smell", "wrong_type"),
        ("E0403", {"gas_smell": 1}, "gas_smell", "wrong_type"),
        ("E0501", {"stall_count": "3"}, "stall_count", "wrong_type"),
        ("E0501", {"stall_count": True}, "stall_count", "wrong_type"),
        ("E0501", {"stall_count": math.inf}, "stall_count", "wrong_type"),
        ("E0501", {"stall_count": 0}, "stall_count", "out_of_range"),
        ("E0501", {"stall_count": 201}, "stall_count", "out_of_range"),
        ("E0501", {"stall_count": ""}, "stall_count", "missing"),
        (
            "E0401",
            {"people_trapped": False, "people_injured": False, "size": "巨大"},
            "size",
            "unknown_option",
        ),
        ("E0401", {"people_trapped": False, "people_injured": False, "size": 3}, "size", "wrong_type"),
        ("E0706", {"feedback_type": "收费争议", "plate_number": 12345}, "plate_number", "wrong_type"),
        ("E0706", {"feedback_type": "收费争议", "plate_number": "鄂" * 201}, "plate_number", "too_long"),
        ("E0101", {"colour": "red"}, "colour", "unknown_key"),
    ],
)
def test_validate_answers_rejects(catalog: Catalog, code: str, answers: dict[str, object], key: str, rule: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        validate_answers(catalog.minor(code), answers)
    assert info.value.code == "invalid_answers"
    assert {"at": key, "rule": rule} in [{"at": p["at"], "rule": p["rule"]} for p in info.value.details["problems"]]


def test_validate_answers_lists_every_problem(catalog: Catalog) -> None:
    with pytest.raises(ValidationFailed) as info:
        validate_answers(catalog.minor("E0401"), {"people_trapped": "no", "weather": "雨"})
    found = {(p["at"], p["rule"]) for p in info.value.details["problems"]}
    assert found == {
        ("weather", "unknown_key"),
        ("people_trapped", "wrong_type"),
        ("people_injured", "missing"),
    }
    assert info.value.details["category"] == "E0401"


def test_validate_answers_required_text() -> None:
    minor = _synthetic_minor(Question(key="where", label="具体位置", type="text", required=True))
    validate_answers(minor, {"where": "3号楼东侧"})
    with pytest.raises(ValidationFailed):
        validate_answers(minor, {"where": "   "})
