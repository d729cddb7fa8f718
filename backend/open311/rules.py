"""Open311 GeoReport v2, the pure part: catalog questions as service attributes (with the spec's
datatypes), attribute values from form fields, the 90-day request window, statuses."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from backend.errors import ValidationFailed

SPEC_URL: Final = "http://wiki.open311.org/GeoReport_v2"
DEFAULT_WINDOW: Final = timedelta(days=90)
MAX_REQUESTS: Final = 1000  # the spec's default cap on GET requests

# Catalog question type → Open311 datatype.
DATATYPES: Final[Mapping[str, str]] = {
    "choice": "singlevaluelist",
    "bool": "singlevaluelist",
    "number": "number",
    "text": "string",
}
BOOL_VALUES: Final = (("true", "是"), ("false", "否"))
_ATTRIBUTE_FIELD = re.compile(r"^attribute\[([^\]]{1,64})\](\[\])?$")


class Open311Error(ValidationFailed):
    """An error Open311 clients read as ``[{"code", "description"}]``; ``status_hint`` is the HTTP status."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description, code=str(status))
        self.status_hint = status


def attribute(question: Mapping[str, Any], order: int) -> dict[str, Any]:
    """One catalog question as an Open311 service attribute."""
    kind = question["type"]
    values: list[dict[str, str]] = []
    description = ""
    if kind == "choice":
        values = [{"key": option, "name": option} for option in question.get("options", ())]
        description = "从列表中选择一项"
    elif kind == "bool":
        values = [{"key": key, "name": name} for key, name in BOOL_VALUES]
        description = "true 或 false"
    elif kind == "number":
        low, high = question.get("minimum"), question.get("maximum")
        description = "数字" + (f"（{low:g}–{high:g}）" if low is not None and high is not None else "")
    else:
        description = "文本，最多200字"
    return {
        "variable": True,
        "code": question["key"],
        "datatype": DATATYPES.get(kind, "string"),
        "required": bool(question.get("required", False)),
        "datatype_description": description,
        "order": order,
        "description": question["label"],
        "values": values,
    }


def attribute_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """``attribute[code]=value`` form fields → {code: value}."""
    found: dict[str, str] = {}
    for name, value in fields.items():
        match = _ATTRIBUTE_FIELD.match(name)
        if match:
            found[match.group(1)] = value
    return found


def answers_from(questions: Sequence[Mapping[str, Any]], raw: Mapping[str, str]) -> dict[str, Any]:
    """Attribute strings typed by their questions (the catalog's own check runs at intake)."""
    by_key = {q["key"]: q for q in questions}
    answers: dict[str, Any] = {}
    for code, value in raw.items():
        if not value.strip():  # forms send empty fields rather than leave them out
            continue
        question = by_key.get(code)
        if question is None:
            raise Open311Error(400, f"service has no attribute {code!r}")
        if question["type"] == "bool":
            if value.lower() not in {"true", "false"}:
                raise Open311Error(400, f"attribute {code!r} must be true or false")
            answers[code] = value.lower() == "true"
        elif question["type"] == "number":
            try:
                number = float(value)
            except ValueError:
                raise Open311Error(400, f"attribute {code!r} must be a number") from None
            if not math.isfinite(number):
                raise Open311Error(400, f"attribute {code!r} must be a number")
            answers[code] = int(number) if number.is_integer() else number
        else:
            answers[code] = value
    return answers


def parse_datetime(name: str, raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C datetime such as 2026-11-21T08:00:00+08:00") from None
    if value.tzinfo is None:
        raise Open311Error(400, f"{name} must carry a time zone offset")
    return value


def request_window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The spec's range: by default the most recent 90 days; never more than 90 days."""
    if end is None:
        end = min(start + DEFAULT_WINDOW, now) if start is not None else now
    if start is None:
        start = end - DEFAULT_WINDOW
    if start > end:
        raise Open311Error(400, "start_date must not be after end_date")
    if end - start > DEFAULT_WINDOW:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    return start, end


def split_list(raw: str | None, *, limit: int = 100) -> list[str]:
    items = [item.strip() for item in (raw or "").split(",") if item.strip()]
    if len(items) > limit:
        raise Open311Error(400, f"at most {limit} values in a list")
    return items
