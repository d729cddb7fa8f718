"""Open311 GeoReport v2 rules: attributes and their datatypes, typed answers, the 90-day window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.open311.rules import (
    Open311Error,
    answers_from,
    attribute,
    attribute_fields,
    parse_datetime,
    request_window,
    split_list,
)

QUESTIONS: list[dict[str, Any]] = [
    {"key": "problem", "label": "井盖问题", "type": "choice", "options": ["缺失", "破损"], "required": True},
    {"key": "someone_fell", "label": "是否有人坠入？", "type": "bool", "required": True},
    {"key": "stalls", "label": "蹲位数", "type": "number", "minimum": 0, "maximum": 50},
    {"key": "plate", "label": "车牌号", "type": "text"},
]


def test_datatypes_per_the_spec() -> None:
    attrs = [attribute(q, i + 1) for i, q in enumerate(QUESTIONS)]
    assert [a["datatype"] for a in attrs] == ["singlevaluelist", "singlevaluelist", "number", "string"]
    assert attrs[0]["values"] == [{"key": "缺失", "name": "缺失"}, {"key": "破损", "name": "破损"}]
    assert attrs[1]["values"] == [{"key": "true", "name": "是"}, {"key": "false", "name": "否"}]
    assert attrs[2]["datatype_description"] == "数字（0–50）" and attrs[2]["values"] == []
    assert [a["order"] for a in attrs] == [1, 2, 3, 4] and all(a["variable"] for a in attrs)
    assert [a["required"] for a in attrs] == [True, True, False, False]


def test_answers_are_typed_from_form_fields() -> None:
    fields = {"attribute[problem]": "缺失", "attribute[someone_fell]": "TRUE", "attribute[stalls]": "4",
              "attribute[plate]": "", "api_key": "k", "attribute[]": "x"}  # fmt: skip
    raw = attribute_fields(fields)
    assert raw == {"problem": "缺失", "someone_fell": "TRUE", "stalls": "4", "plate": ""}
    assert answers_from(QUESTIONS, raw) == {"problem": "缺失", "someone_fell": True, "stalls": 4}


@pytest.mark.parametrize("raw", [{"someone_fell": "maybe"}, {"stalls": "four"}, {"stalls": "nan"}, {"unknown": "1"}])
def test_bad_answers_are_400(raw: dict[str, str]) -> None:
    with pytest.raises(Open311Error) as error:
        answers_from(QUESTIONS, raw)
    assert error.value.status_hint == 400


def test_the_90_day_window() -> None:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    assert request_window(None, None, now) == (now - timedelta(days=90), now)
    start = now - timedelta(days=200)
    assert request_window(start, None, now) == (start, start + timedelta(days=90))
    end = now - timedelta(days=10)
    assert request_window(None, end, now) == (end - timedelta(days=90), end)
    with pytest.raises(Open311Error, match="90 days"):
        request_window(start, now, now)
    with pytest.raises(Open311Error, match="after"):
        request_window(now, start, now)


def test_dates_and_lists() -> None:
    assert parse_datetime("start_date", "2026-11-01T00:00:00Z") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_datetime("start_date", "") is None
    for bad in ["yesterday", "2026-11-01T00:00:00"]:
        with pytest.raises(Open311Error):
            parse_datetime("start_date", bad)
    assert split_list(" a, b ,,c") == ["a", "b", "c"] and split_list(None) == []
    with pytest.raises(Open311Error):
        split_list(",".join(str(i) for i in range(101)))
