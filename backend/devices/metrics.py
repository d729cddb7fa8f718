"""Metric schemas of device types, compiled to msgspec decoders (validation runs in C).

A device type's ``metrics`` maps each metric name to its schema::

    {"nh3": {"type": "number", "min": 0, "max": 100, "unit": "mg/m³", "label": "氨"},
     "open": {"type": "boolean"},
     "direction": {"type": "string", "enum": ["in", "out"]},
     "plate": {"type": "string", "max_length": 16},
     "free_stalls": {"type": "integer", "min": 0, "required": true}}

A reading's ``metrics`` object may carry any subset of the metrics (those marked ``required``
must be there), at least one, and nothing the type does not declare.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec

METRIC_TYPES = frozenset({"number", "integer", "boolean", "string"})
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_KEYS = frozenset({"type", "min", "max", "max_length", "enum", "unit", "label", "required"})


class MetricSchemaError(ValueError):
    """A device type's metric schema that cannot be compiled."""


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise ``MetricSchemaError`` naming the first problem of ``schema``."""
    if not isinstance(schema, Mapping) or not schema:
        raise MetricSchemaError("a metric schema is a non-empty object of metric name → schema")
    for name, spec in schema.items():
        if not METRIC_NAME.match(name):
            raise MetricSchemaError(f"metric name {name!r} must match {METRIC_NAME.pattern}")
        if not isinstance(spec, Mapping) or spec.get("type") not in METRIC_TYPES:
            raise MetricSchemaError(f"metric {name!r}: type must be one of {sorted(METRIC_TYPES)}")
        unknown = set(spec) - _KEYS
        if unknown:
            raise MetricSchemaError(f"metric {name!r}: unknown keys {sorted(unknown)}")
        for bound in ("min", "max"):
            if bound in spec and (
                spec["type"] not in {"number", "integer"} or not isinstance(spec[bound], int | float)
            ):
                raise MetricSchemaError(f"metric {name!r}: {bound} needs a numeric metric and a number")
        if "enum" in spec and (
            spec["type"] != "string" or not spec["enum"] or not all(isinstance(v, str) for v in spec["enum"])
        ):
            raise MetricSchemaError(f"metric {name!r}: enum needs a string metric and a list of strings")


def _field_type(spec: Mapping[str, Any]) -> Any:
    kind = spec["type"]
    if kind == "boolean":
        return bool
    if kind == "string":
        if spec.get("enum"):
            return Literal.__getitem__(tuple(spec["enum"]))
        return Annotated[str, msgspec.Meta(max_length=int(spec.get("max_length", 200)))]
    bounds: dict[str, Any] = {}
    if "min" in spec:
        bounds["ge"] = spec["min"]
    if "max" in spec:
        bounds["le"] = spec["max"]
    base: Any = float if kind == "number" else int
    return Annotated[base, msgspec.Meta(**bounds)] if bounds else base


def compile_schema(schema: Mapping[str, Any], name: str = "Metrics") -> type[msgspec.Struct]:
    """A msgspec Struct type for readings of this schema (unknown metrics are refused)."""
    check_schema(schema)
    fields: list[tuple[str, Any, Any]] = []
    for metric, spec in sorted(schema.items()):
        field_type = _field_type(spec)
        if spec.get("required"):
            fields.append((metric, field_type, msgspec.NODEFAULT))
        else:
            fields.append((metric, field_type | msgspec.UnsetType, msgspec.UNSET))
    return msgspec.defstruct(name, fields, kw_only=True, forbid_unknown_fields=True)


class MetricsCodec:
    """Checks readings' metrics against one schema: one at a time, or a whole batch in one call."""

    def __init__(self, struct: type[msgspec.Struct]) -> None:
        self._one = msgspec.json.Decoder(struct)
        self._many = msgspec.json.Decoder(list[struct])  # type: ignore[valid-type]

    def decode(self, raw: bytes | msgspec.Raw) -> dict[str, Any]:
        """The metrics present in ``raw``; raises ``msgspec.ValidationError`` (or ``DecodeError``)
        naming what is wrong."""
        values: dict[str, Any] = msgspec.to_builtins(self._one.decode(raw))
        return values

    def decode_all(self, raws: list[bytes]) -> list[dict[str, Any]] | None:
        """All of them in one pass, or None when any is invalid (then check them one by one)."""
        try:
            decoded = self._many.decode(b"[" + b",".join(raws) + b"]")
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        values: list[dict[str, Any]] = msgspec.to_builtins(decoded)
        return values


@lru_cache(maxsize=256)
def _codec_for(canonical: bytes) -> MetricsCodec:
    return MetricsCodec(compile_schema(msgspec.json.decode(canonical)))


def codec_for(schema: Mapping[str, Any]) -> MetricsCodec:
    """The (cached) codec of a schema; keyed by its content, so an edited type gets a new one."""
    return _codec_for(msgspec.json.encode(schema, order="sorted"))
