"""Evaluation exports: an XLSX workbook with Chinese headers, one sheet per view (and per staff post), plus
a sheet that explains every indicator; and CSV (UTF-8 with a byte-order mark, so Excel reads the Chinese)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import xlsxwriter

from backend.evaluation.rules import GRADE_FLOORS, GRADE_LABELS, INDICATORS, POST_INDICATORS, Post, Unit
from backend.evaluation.service import Row, ViewResult

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

_BASE_HEADERS = ["排名", "编码", "名称", "上级编码", "考核岗位"]
_TAIL_HEADERS = ["综合指标值", "等级"]
_HEADER = {"bold": True, "bg_color": "#DDEBF7", "align": "center", "valign": "vcenter", "text_wrap": True, "border": 1}


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
    """One sheet per view (the staff view: one per post), then 指标说明. Written with XlsxWriter, which
    streams a workbook several times faster than a read-write library."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    header = book.add_format(_HEADER)
    title = book.add_format({"bold": True, "font_size": 13})
    percent = book.add_format({"num_format": "0.00%"})
    for result in results:
        groups: list[tuple[Post | None, list[Row]]]
        if len(result.posts) > 1:
            groups = [(post, [r for r in result.rows if r.post is post]) for post in result.posts]
        else:
            groups = [(None, result.rows)]
        for post, rows in groups:
            posts = [post] if post is not None else result.posts
            keys = _indicator_keys(posts)
            sheet = book.add_worksheet(_sheet_title(result, post))
            sheet.write(0, 0, f"{result.view.label}综合评价 {result.period.label}", title)
            sheet.write_row(1, 0, headers(posts), header)
            for i, row in enumerate(rows, start=2):
                sheet.write_row(i, 0, _cells(row, keys))
            widths = [6, 18, 28, 14, 10] + [12] * len(keys) + [10, 6]
            for column, width in enumerate(widths):
                rate = len(_BASE_HEADERS) <= column < len(_BASE_HEADERS) + len(keys)
                rate = rate and INDICATORS[keys[column - len(_BASE_HEADERS)]].unit is Unit.rate
                sheet.set_column(column, column, width, percent if rate else None)
            sheet.freeze_panes(2, 3)
    notes = book.add_worksheet("指标说明")
    notes.write_row(0, 0, ["指标", "键", "计算公式", "方向", "单位"], header)
    line = 1
    for indicator in INDICATORS.values():
        direction = "负向(越低越好)" if indicator.polarity == "negative" else "正向"
        notes.write_row(line, 0, [indicator.label, indicator.key, indicator.formula, direction, indicator.unit.value])
        line += 1
    notes.write_row(line + 1, 0, ["等级", "综合指标值"], header)
    line += 2
    for grade, floor in GRADE_FLOORS:
        notes.write_row(line, 0, [f"{grade.value} {GRADE_LABELS[grade]}", f"≥ {floor:g}"])
        line += 1
    notes.write_row(line, 0, ["E 差", "< 40"])
    for column, width in enumerate((18, 24, 40, 16, 10)):
        notes.set_column(column, column, width)
    book.close()
    return out.getvalue()


def csv_bytes(result: ViewResult) -> bytes:
    keys = _indicator_keys(result.posts)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(headers(result.posts))
    for row in result.rows:
        writer.writerow(["" if v is None else v for v in _cells(row, keys)])
    return ("\ufeff" + text.getvalue()).encode("utf-8")
