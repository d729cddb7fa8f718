"""Evaluation exports: an XLSX workbook with Chinese headers, one sheet per view (and per staff post), plus
a sheet that explains every indicator; and CSV (UTF-8 with a byte-order mark, so Excel reads the Chinese)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from backend.evaluation.rules import GRADE_FLOORS, GRADE_LABELS, INDICATORS, POST_INDICATORS, Post, Unit
from backend.evaluation.service import Row, ViewResult

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

_BASE_HEADERS = ["排名", "编码", "名称", "上级编码", "考核岗位"]
_TAIL_HEADERS = ["综合指标值", "等级"]
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def _indicator_keys(posts: Sequence[Post]) -> list[str]:
    keys: list[str] = []
    for post in posts:
        keys += [k for k in POST_INDICATORS[post] if k not in keys]
    return keys


def headers(posts: Sequence[Post]) -> list[str]:
    """The Chinese column headers of a table of rows of ``posts``."""
    return _BASE_HEADERS + [INDICATORS[k].label for k in _indicator_keys(posts)] + _TAIL_HEADERS


def _cells(row: Row, keys: Sequence[str]) -> list[object]:
    values: list[object] = [row.rank, row.code, row.name, row.parent_code, row.post.label]
    for key in keys:
        value = row.indicators.get(key)
        values.append(None if value is None else round(value, 6))
    values += [row.composite, row.grade.value if row.grade else None]
    return values


def _sheet_title(result: ViewResult, post: Post | None) -> str:
    title = result.view.label if post is None else f"{result.view.label}-{post.label}"
    return title[:31]


def workbook(results: Sequence[ViewResult]) -> bytes:
    """One sheet per view (the staff view: one per post), then 指标说明."""
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for result in results:
        groups: list[tuple[Post | None, list[Row]]]
        if len(result.posts) > 1:
            groups = [(post, [r for r in result.rows if r.post is post]) for post in result.posts]
        else:
            groups = [(None, result.rows)]
        for post, rows in groups:
            posts = [post] if post is not None else result.posts
            keys = _indicator_keys(posts)
            sheet = book.create_sheet(_sheet_title(result, post))
            sheet.append([f"{result.view.label}综合评价 {result.period.label}"])
            sheet.append(headers(posts))
            for cell in sheet[2]:
                cell.font = Font(bold=True)
                cell.fill = _HEADER_FILL
                cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            for row in rows:
                sheet.append(_cells(row, keys))
            for i, key in enumerate(keys):
                if INDICATORS[key].unit is Unit.rate:
                    column = get_column_letter(len(_BASE_HEADERS) + i + 1)
                    for cell in sheet[column][2:]:
                        cell.number_format = "0.00%"
            sheet.freeze_panes = "D3"
            widths = [6, 18, 28, 14, 10] + [12] * len(keys) + [10, 6]
            for i, width in enumerate(widths, start=1):
                sheet.column_dimensions[get_column_letter(i)].width = width
    notes = book.create_sheet("指标说明")
    notes.append(["指标", "键", "计算公式", "方向", "单位"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
    for indicator in INDICATORS.values():
        direction = "负向(越低越好)" if indicator.polarity == "negative" else "正向"
        notes.append([indicator.label, indicator.key, indicator.formula, direction, indicator.unit.value])
    notes.append([])
    notes.append(["等级", "综合指标值"])
    for grade, floor in GRADE_FLOORS:
        notes.append([f"{grade.value} {GRADE_LABELS[grade]}", f"≥ {floor:g}"])
    notes.append(["E 差", "< 40"])
    for column, width in zip("ABCDE", (18, 24, 40, 16, 10), strict=True):
        notes.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(result: ViewResult) -> bytes:
    keys = _indicator_keys(result.posts)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(headers(result.posts))
    for row in result.rows:
        writer.writerow(["" if v is None else v for v in _cells(row, keys)])
    return ("\ufeff" + text.getvalue()).encode("utf-8")
