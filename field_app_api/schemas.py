"""Wire types of the field app API."""

from __future__ import annotations

from typing import Annotated

import msgspec


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    device_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None


class RefreshIn(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class StaffOut(msgspec.Struct):
    id: str
    username: str
    name: str
    roles: list[str]
    department_id: str | None


class TokenOut(msgspec.Struct):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    staff: StaffOut
