"""Open311 documents in the spec's JSON and XML shapes.

XML follows the spec's examples: a root element (``services``, ``service_requests``, …), one child per
item, list-valued fields as a plural element holding singular ones (``<attributes><attribute>``,
``<values><value>``); true/false in lower case, null as an empty element.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import msgspec
from litestar import Response

JSON = "application/json"
XML = "text/xml"
SINGULAR = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _fill(element: ET.Element, data: dict[str, Any]) -> None:
    for key, value in data.items():
        child = ET.SubElement(element, key)
        if isinstance(value, list):
            for item in value:
                sub = ET.SubElement(child, SINGULAR.get(key, key.rstrip("s")))
                if isinstance(item, dict):
                    _fill(sub, item)
                else:
                    sub.text = _text(item)
        elif isinstance(value, dict):
            _fill(child, value)
        else:
            child.text = _text(value)


def to_xml(root: str, item: str | None, data: list[dict[str, Any]] | dict[str, Any]) -> bytes:
    element = ET.Element(root)
    if isinstance(data, dict):
        _fill(element, data)
    else:
        for entry in data:
            _fill(ET.SubElement(element, item or "item"), entry)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="utf-8")


def render(
    fmt: str,
    data: list[dict[str, Any]] | dict[str, Any],
    *,
    root: str,
    item: str | None = None,
    status_code: int = 200,
) -> Response[bytes]:
    if fmt == "xml":
        return Response(to_xml(root, item, data), media_type=f"{XML}; charset=utf-8", status_code=status_code)
    return Response(msgspec.json.encode(data), media_type=JSON, status_code=status_code)


def render_errors(fmt: str, status: int, description: str) -> Response[bytes]:
    """Open311's error format — a list of {code, description}: the one exception to our error body."""
    return render(fmt, [{"code": status, "description": description}], root="errors", item="error", status_code=status)
