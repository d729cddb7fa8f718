"""Geography (GB/T 30428.1): coordinates and datums, the unit-grid geocoder, the demo city's layout.

Pure code: no database, no I/O. Everything here takes and returns WGS-84 unless a name says otherwise.
"""

from backend.geo.coords import (
    EARTH_RADIUS_M,
    BBox,
    CoordSystem,
    LatLng,
    bbox_around,
    cell_ids_within,
    cell_of,
    cells_within,
    destination_point,
    from_wgs84,
    gcj02_to_wgs84,
    haversine_m,
    out_of_china,
    to_wgs84,
    validate_lat_lng,
    wgs84_to_gcj02,
)
from backend.geo.geocoder import GridGeocoder, GridShape
from backend.geo.layout import (
    XINZHOU_CENTER,
    AreaLevel,
    Layout,
    LayoutArea,
    area_km2,
    chinese_numeral,
    community_name,
    generate_layout,
)

__all__ = [
    "EARTH_RADIUS_M",
    "XINZHOU_CENTER",
    "AreaLevel",
    "BBox",
    "CoordSystem",
    "GridGeocoder",
    "GridShape",
    "LatLng",
    "Layout",
    "LayoutArea",
    "area_km2",
    "bbox_around",
    "cell_ids_within",
    "cell_of",
    "cells_within",
    "chinese_numeral",
    "community_name",
    "destination_point",
    "from_wgs84",
    "gcj02_to_wgs84",
    "generate_layout",
    "haversine_m",
    "out_of_china",
    "to_wgs84",
    "validate_lat_lng",
    "wgs84_to_gcj02",
]
