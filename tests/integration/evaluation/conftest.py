"""Fixtures of the evaluation tests: the geocoder and the scripted history."""

from __future__ import annotations

from typing import Any

import pytest

from backend.geo import GridGeocoder
from backend.geo.cache import GeocoderCache
from tests.integration.evaluation.history import History, build


@pytest.fixture
async def geocoder(db: Any) -> GridGeocoder:
    return await GeocoderCache().get(db)


@pytest.fixture
async def history(db: Any, geocoder: GridGeocoder) -> History:
    return await build(db, geocoder)
