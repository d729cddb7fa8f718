"""The evaluation surfaces over HTTP: the admin console's JSON API (role-guarded), its XLSX/CSV exports and
SVG charts, and the anonymised public summary (公示)."""

from __future__ import annotations

import csv
import io
import json
from xml.etree import ElementTree

import httpx
import openpyxl
import pytest

from backend.seed.demo import DEMO_PASSWORD, DEMO_STAFF
from tests.integration.evaluation.history import XINZHOU, ZHUCHENG, History

API = "/api/admin/v1/evaluation"
WEEK = {"from": "2026-11-23", "to": "2026-11-25"}


async def token(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post("/api/field/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.mark.parametrize(
    ("username", "status"),
    [("seat1", 200), ("dispatcher1", 200), ("lead1", 200), ("auditor1", 200), ("admin", 200),
     ("handler1", 403), ("collector1", 403), ("officer1", 403)],
)  # fmt: skip
async def test_who_may_read(client: httpx.AsyncClient, username: str, status: int) -> None:
    response = await client.get(f"{API}/indicators", headers=await token(client, username))
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"]["code"] == "forbidden"


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/views/department", params=WEEK)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


async def test_catalog_lists_formulas_and_weights(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"{API}/indicators", headers=await token(client, "seat1"))).json()
    by_key = {i["key"]: i for i in body["indicators"]}
    assert by_key["missed_rate"]["polarity"] == "negative" and by_key["missed_rate"]["label"] == "漏报率"
    collector = next(p for p in body["posts"] if p["post"] == "collector")
    assert collector["weights"] == {
        "valid_report_rate": 40, "missed_rate": 20, "verify_on_time_rate": 20, "check_on_time_rate": 20,
    }  # fmt: skip
    assert [g["grade"] for g in body["grades"]] == ["A", "B", "C", "D", "E"]


async def test_views_worst_and_trend(client: httpx.AsyncClient, history: History) -> None:
    headers = await token(client, "lead1")
    departments = (await client.get(f"{API}/views/department", params=WEEK, headers=headers)).json()
    assert departments["period"] == {"start": "2026-11-23", "end": "2026-11-25", "label": "2026-11-23 至 2026-11-25"}
    hw = next(r for r in departments["rows"] if r["code"] == "XZ-HW")
    assert hw["composite"] == 35.5 and hw["grade"] == "E" and hw["rank"] == 2
    assert hw["indicators"]["dispose_on_time_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert departments["indicators"]["department"][0] == "assigned"

    worst = (await client.get(f"{API}/views/department/worst", params={**WEEK, "n": 2}, headers=headers)).json()
    assert [r["code"] for r in worst["rows"]] == ["XZ-ZCJD", "XZ-HW"]

    streets = (await client.get(f"{API}/views/street", params={**WEEK, "within": XINZHOU}, headers=headers)).json()
    assert streets["rows"][0]["code"] == ZHUCHENG and streets["rows"][0]["name"] == "邾城街道"

    trend = await client.get(
        f"{API}/views/department/trend",
        params={**WEEK, "subject": history.departments["XZ-HW"], "indicator": "close_rate", "bucket": "day"},
        headers=headers,
    )
    assert [p["value"] for p in trend.json()["points"]] == [0.5, 0.0, 0.0]
    assert trend.json()["indicator_label"] == "结案率"

    backwards = {"from": "2026-11-25", "to": "2026-11-01"}
    bad = await client.get(f"{API}/views/department", params=backwards, headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_period"
    far = await client.get(f"{API}/views/department", params={"date": "9999-12-31"}, headers=headers)
    assert far.status_code == 400 and far.json()["error"]["code"] == "date_out_of_range"
    unknown = await client.get(f"{API}/views/department/trend", params={"indicator": "nope"}, headers=headers)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_indicator"


async def test_xlsx_opens_with_chinese_headers(client: httpx.AsyncClient, history: History) -> None:
    response = await client.get(f"{API}/export.xlsx", params=WEEK, headers=await token(client, "auditor1"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames[:5] == ["区", "街道", "社区", "单元网格", "部门"]
    assert {"人员-信息采集员", "人员-值班长", "人员-派遣员", "指标说明"} <= set(book.sheetnames)
    departments = book["部门"]
    header = [c.value for c in departments[2]]
    assert header[:5] == ["排名", "编码", "名称", "上级编码", "考核岗位"]
    assert {"应处置数", "按时处置率", "返工率", "延期数", "结案率", "按时结案率", "满意度"} <= set(header)
    assert header[-2:] == ["综合指标值", "等级"]
    rows = {r[1]: dict(zip(header, r, strict=True)) for r in departments.iter_rows(min_row=3, values_only=True)}
    assert rows["XZ-HW"]["名称"] == "新洲区环境卫生管理处" and rows["XZ-HW"]["综合指标值"] == 35.5
    assert rows["XZ-HW"]["按时处置率"] == pytest.approx(1 / 3, abs=1e-6) and rows["XZ-HW"]["等级"] == "E"
    collectors = book["人员-信息采集员"]
    assert [c.value for c in collectors[2]][5:8] == ["上报数", "有效上报数", "有效上报率"]
    assert "漏报率" in [c.value for c in book["指标说明"]["A"]]


async def test_csv_has_a_bom_and_chinese_headers(client: httpx.AsyncClient, history: History) -> None:
    response = await client.get(f"{API}/views/district/export.csv", params=WEEK, headers=await token(client, "seat1"))
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["排名", "编码", "名称"] and "结案率" in rows[0]
    xinzhou = next(r for r in rows if r[1] == XINZHOU)
    assert xinzhou[2] == "新洲区" and xinzhou[rows[0].index("综合指标值")] == "41.25"


async def test_charts_are_svg_with_chinese_labels(client: httpx.AsyncClient, history: History) -> None:
    headers = await token(client, "dispatcher1")
    ranking = await client.get(f"{API}/views/department/charts/ranking.svg", params=WEEK, headers=headers)
    assert ranking.status_code == 200 and ranking.headers["content-type"].startswith("image/svg+xml")
    texts = [t.text for t in ElementTree.fromstring(ranking.text).iter("{http://www.w3.org/2000/svg}text")]
    assert {"新洲区城市管理执法局", "新洲区环境卫生管理处", "部门排名 · 综合指标值"} <= set(texts)
    trend = await client.get(
        f"{API}/views/district/charts/trend.svg",
        params={**WEEK, "subject": XINZHOU, "indicator": "close_rate"},
        headers=headers,
    )
    labels = [t.text for t in ElementTree.fromstring(trend.text).iter("{http://www.w3.org/2000/svg}text")]
    assert "新洲区 · 结案率 趋势（按日）" in labels and "50.0%" in labels


async def test_weights_only_administrators_change(client: httpx.AsyncClient, history: History) -> None:
    denied = await client.put(
        f"{API}/weights/department", json={"weights": {"close_rate": 1}}, headers=await token(client, "lead1")
    )
    assert denied.status_code == 403
    admin = await token(client, "admin")
    wrong = await client.put(f"{API}/weights/department", json={"weights": {"missed_rate": 1}}, headers=admin)
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_weights"
    done = await client.put(f"{API}/weights/department", json={"weights": {"close_rate": 1}}, headers=admin)
    assert done.status_code == 200
    assert done.json() == {"post": "department", "weights": {"close_rate": 1.0}, "default": False}
    rows = (await client.get(f"{API}/views/department", params=WEEK, headers=admin)).json()["rows"]
    assert next(r for r in rows if r["code"] == "XZ-HW")["composite"] == 40.0
    reset = await client.delete(f"{API}/weights/department", headers=admin)
    assert reset.status_code == 200 and reset.json()["default"] is True


async def test_public_summary_has_no_personal_data(client: httpx.AsyncClient, history: History) -> None:
    response = await client.get("/api/mp/v1/public/evaluation", params={"period": "week", "date": "2026-11-24"})
    assert response.status_code == 200 and "public" in response.headers["cache-control"]
    body = response.json()
    assert set(body) == {"period", "districts", "streets", "note"}
    assert body["period"]["start"] == "2026-11-23" and body["period"]["end"] == "2026-11-29"
    fields = {
        "code", "name", "parent_code", "cases", "cases_per_km2", "close_rate", "closed_on_time_rate", "satisfaction",
        "composite", "grade", "rank",
    }  # fmt: skip
    assert [r["code"] for r in body["districts"]] == [XINZHOU]
    assert [r["code"] for r in body["streets"]] == [ZHUCHENG, "420117002"], "streets without a case are left out"
    for region in body["districts"] + body["streets"]:
        assert set(region) == fields
    district = body["districts"][0]
    assert (district["cases"], district["close_rate"], district["grade"], district["rank"]) == (10, 0.5, "D", 1)
    text = json.dumps(body, ensure_ascii=False)
    for username, (name, _, _, phone) in DEMO_STAFF.items():
        assert username not in text and name not in text and phone not in text
    for department in ("环境卫生", "执法局", "街道办事处"):
        assert department not in text
    for case_id in history.cases.values():
        assert str(case_id) not in text
    assert "citizen-" not in text


async def test_console_page_embeds_its_charts(client: httpx.AsyncClient, history: History) -> None:
    signed_in = await client.post("/admin/login", data={"username": "auditor1", "password": DEMO_PASSWORD})
    assert signed_in.status_code == 302
    page = await client.get("/admin/evaluation", params={"view": "department", **WEEK})
    assert page.status_code == 200, page.text
    assert "综合评价" in page.text and "新洲区环境卫生管理处" in page.text and "十差" in page.text
    assert 'src="evaluation/chart/ranking.svg?view=department&amp;from=2026-11-23&amp;to=2026-11-25"' in page.text
    chart = await client.get("/admin/evaluation/chart/ranking.svg", params={"view": "department", **WEEK})
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert "新洲区环境卫生管理处" in chart.text
    trend = await client.get("/admin/evaluation/chart/trend.svg", params={"view": "district", **WEEK})
    assert trend.status_code == 200 and "全市 · 综合指标值 趋势（按日）" in trend.text
    book = await client.get("/admin/evaluation/export.xlsx", params=WEEK)
    assert book.status_code == 200 and openpyxl.load_workbook(io.BytesIO(book.content)).sheetnames[0] == "区"
    assert "filename*=UTF-8''%E7%BB%BC%E5%90%88%E8%AF%84%E4%BB%B7" in book.headers["content-disposition"]
    bad = await client.get("/admin/evaluation", params={"view": "department", "from": "2026-11-25", "to": "2026-11-01"})
    assert bad.status_code == 200 and "alert-danger" in bad.text
    await client.get("/admin/logout")
    assert (await client.get("/admin/evaluation")).status_code == 302
