"""Bearer-token authentication shared by the surfaces.

``staff_claims`` is a dependency: it reads ``Authorization: Bearer <access JWT>`` and returns the
caller's ``StaffClaims`` or raises 401. ``require_roles`` makes a guard from role names. Object-level
scoping (a handler sees only their department's cases) is the service's job, with the claims passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from backend.errors import Forbidden, Unauthorized
from backend.org.tokens import StaffClaims, claims_of, decode

STAFF_CLAIMS_KEY = "_chengguan_staff_claims"


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a Bearer access token is required", code="unauthorized")
    return token.strip()


def claims_from(connection: ASGIConnection[Any, Any, Any, Any]) -> StaffClaims:
    cached = connection.scope.get("state", {}).get(STAFF_CLAIMS_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    secret = connection.app.state.runtime.settings.app.secret_key
    claims = claims_of(decode(secret, _bearer(connection), expected_type="access"))
    connection.scope.setdefault("state", {})[STAFF_CLAIMS_KEY] = claims  # type: ignore[typeddict-item]
    return claims


async def provide_staff_claims(request: Any) -> StaffClaims:
    return claims_from(request)


def require_roles(*roles: str) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    """A guard admitting staff with any of ``roles`` (an empty list admits any signed-in staff)."""
    wanted = frozenset(roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        claims = claims_from(connection)
        if wanted and not (claims.roles & wanted):
            raise Forbidden("your role may not do this", code="forbidden", details={"required_roles": sorted(wanted)})

    return guard
