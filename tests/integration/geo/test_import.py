"""Regions and grids from GeoJSON and CSV; the geocoder follows the grids it is given."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from backend.errors import ValidationFailed
from backend.geo.cache import GeocoderCache
from backend.geo.importer import import_geojson, import_regions_csv
from backend.geo.layout import generate_layout
from backend.models import District, Grid, Street

HUANGPI = "429901"  # a test district, not one of the seeded Wuhan districts


def huangpi_layout() -> Any:
    return generate_layout(
        HUANGPI, [("429901001", "前川街道"), ("429901002", "祁家湾街道")], 30.88, 114.37,
        district_name="黄陂区", communities_per_street=(1, 2), grids_per_community=(2, 2),
    )  # fmt: skip


async def test_geojson_import_adds_every_level_and_the_geocoder_sees_it(db: Any) -> None:
    layout = huangpi_layout()
    cache = GeocoderCache(check_every=0)
    before = await cache.get(db)
    lat, lng = 30.88, 114.37
    assert before.locate(lat, lng) is None
    result = await import_geojson(db, layout.to_geojson())
    assert result.counts == {"district": 1, "street": 2, "community": 4, "grid": 16}
    after = await cache.get(db)
    found = after.locate(lat + 0.001, lng + 0.001)
    assert found is not None and found.district_code == HUANGPI
    assert await db.scalar(select(func.count()).select_from(Grid).where(Grid.district_code == HUANGPI)) == 16


async def test_reimport_updates_names_in_place(db: Any) -> None:
    fc = huangpi_layout().to_geojson()
    await import_geojson(db, fc)
    renamed = copy.deepcopy(fc)
    for f in renamed["features"]:
        if f["properties"]["code"] == "429901001":
            f["properties"]["name"] = "前川街道办事处"
    await import_geojson(db, renamed)
    street = await db.get(Street, "429901001")
    await db.refresh(street)
    assert street.name == "前川街道办事处"
    assert await db.scalar(select(func.count()).select_from(Street).where(Street.district_code == HUANGPI)) == 2


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f["properties"].update(code="12345"), "must be 15 digits"),
        (lambda f: f["properties"].update(level="province"), "level must be one of"),
        (lambda f: f.update(geometry={"type": "Point", "coordinates": [114.3, 30.8]}), "Polygon or MultiPolygon"),
        (
            lambda f: f.update(geometry={"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}),
            "invalid",
        ),
        (lambda f: f.update(geometry=None), "needs its boundary"),
        (lambda f: f["properties"].update(parent_code="429999001001"), "not its prefix"),
    ],
)
async def test_a_bad_grid_refuses_the_whole_file(db: Any, mutate: Any, message: str) -> None:
    fc = huangpi_layout().to_geojson()
    grid = next(f for f in fc["features"] if f["properties"]["level"] == "grid")
    mutate(grid)
    with pytest.raises(ValidationFailed) as refused:
        await import_geojson(db, fc)
    assert any(message in p["message"] for p in refused.value.details["problems"])
    assert await db.get(District, HUANGPI) is None, "nothing was written"


async def test_missing_parent_is_refused(db: Any) -> None:
    fc = huangpi_layout().to_geojson()
    only_grids = {
        "type": "FeatureCollection",
        "features": [f for f in fc["features"] if f["properties"]["level"] == "grid"],
    }
    with pytest.raises(ValidationFailed) as refused:
        await import_geojson(db, only_grids)
    assert any("does not exist" in p["message"] for p in refused.value.details["problems"])


async def test_streets_from_csv(db: Any) -> None:
    await import_regions_csv(db, "code,name\n429901,试验区\n", "district")
    result = await import_regions_csv(
        db, "code,name,area_code\n429901001,前川街道,429901\n429901002,祁家湾街道,429901\n", "street"
    )
    assert result.counts["street"] == 2
    with pytest.raises(ValidationFailed):
        await import_regions_csv(db, "code,name,area_code\n4299010,坏编码,429901\n", "street")


def test_cli_import_reports_problems_and_counts(tmp_path: Path, services: Any) -> None:
    from backend.cli import main

    bad = tmp_path / "bad.geojson"
    feature = {"type": "Feature", "geometry": None, "properties": {"level": "grid", "code": "1"}}
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    result = CliRunner().invoke(main, ["import", "geojson", str(bad)])
    assert result.exit_code != 0 and "nothing was imported" in result.output

    good = tmp_path / "qiaokou.geojson"
    layout = generate_layout("429902", [("429902001", "易家街道")], 30.58, 114.21, district_name="试验二区",
                             communities_per_street=(1, 1), grids_per_community=(1, 2))  # fmt: skip
    good.write_text(json.dumps(layout.to_geojson(), ensure_ascii=False))
    result = CliRunner().invoke(main, ["import", "geojson", str(good)])
    assert result.exit_code == 0, result.output
    assert "imported 5 areas" in result.output
