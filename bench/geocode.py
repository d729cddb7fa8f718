"""Point-in-polygon geocoding over the demo city's 540 unit grids (STRtree, in memory).

Baseline in the same run: a naive scan testing every grid polygon with shapely's ``contains``.
Prints ratios; last line is one JSON object of the figures.

    .venv/bin/python bench/geocode.py
"""

from __future__ import annotations

import json
import time

import numpy as np
import shapely

from backend.geo.geocoder import GridGeocoder
from backend.seed.demo import demo_layout


def main() -> None:
    layout = demo_layout()
    geocoder = GridGeocoder(layout.grid_shapes())
    min_lng, min_lat, max_lng, max_lat = layout.district.polygon.bounds
    rng = np.random.default_rng(7)
    n = 200_000
    pts = np.column_stack((rng.uniform(min_lat, max_lat, n), rng.uniform(min_lng, max_lng, n)))

    start = time.perf_counter()
    geocoder.locate_many(pts)
    bulk = n / (time.perf_counter() - start)

    singles = pts[:50_000].tolist()
    start = time.perf_counter()
    for lat, lng in singles:
        geocoder.locate(lat, lng)
    single = len(singles) / (time.perf_counter() - start)

    polygons = [g.polygon for g in layout.grids]
    for p in polygons:
        shapely.prepare(p)
    sample = singles[:2_000]
    start = time.perf_counter()
    for lat, lng in sample:
        point = shapely.Point(lng, lat)
        next((p for p in polygons if p.contains(point)), None)
    naive = len(sample) / (time.perf_counter() - start)

    figures = {
        "grids": len(polygons),
        "locate_many_per_s": round(bulk),
        "locate_per_s": round(single),
        "naive_scan_per_s": round(naive),
        "locate_vs_naive": round(single / naive, 1),
        "locate_many_vs_naive": round(bulk / naive, 1),
    }
    print(f"locate_many {bulk:,.0f}/s, locate {single:,.0f}/s, naive scan {naive:,.0f}/s")
    print(f"locate is {single / naive:.1f}× the naive scan; locate_many {bulk / naive:.1f}×")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
