"""A DTO that decodes a request body straight from bytes with msgspec.

Litestar's default path decodes JSON to Python objects and then converts them to the handler's
type; for a telemetry batch that is twice the work, and it cannot keep ``msgspec.Raw`` fields
(each reading's metrics stay raw until checked against the device type's schema, and are stored
as sent). The OpenAPI document shows ``doc_model``, the same shape with the metrics as an object.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any, ClassVar, TypeVar

import msgspec
from litestar.dto import AbstractDTO, DTOConfig, DTOFieldDefinition
from litestar.exceptions import ClientException
from litestar.openapi.spec import Reference, Schema
from litestar.typing import FieldDefinition

from backend.errors import ValidationFailed

T = TypeVar("T")
_AT = re.compile(r" - at `\$\.?(?P<key>[^`]*)`$")


class MsgspecBytesDTO(AbstractDTO[T]):
    config: ClassVar[DTOConfig] = DTOConfig()
    doc_model: ClassVar[Any] = None

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        return None  # nothing to build: decoding is one msgspec call

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        annotation = cls.doc_model if cls.doc_model is not None else cls.model_type
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(annotation))  # type: ignore[no-any-return]

    def decode_bytes(self, value: bytes) -> Any:
        try:
            return msgspec.json.decode(value, type=self.model_type)
        except msgspec.ValidationError as exc:
            message = str(exc)
            match = _AT.search(message)
            detail = {"message": message, "source": "body"}
            if match:
                detail["key"] = match.group("key")
            raise ValidationFailed(message, code="validation_failed", details=[detail]) from None
        except msgspec.DecodeError as exc:
            raise ClientException(detail=str(exc)) from exc

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        return msgspec.convert(value, self.model_type)
