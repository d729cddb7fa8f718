"""Wire types of the mini-program API (msgspec structs; OpenAPI is generated from them)."""

from __future__ import annotations

import msgspec


class RegionOut(msgspec.Struct):
    code: str
    name: str


class RegionList(msgspec.Struct):
    items: list[RegionOut]
