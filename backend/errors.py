"""The one domain error tree. No HTTP in here: surfaces map these to responses in one place
(``app/errors.py``), so a service can raise ``NotFound`` without knowing who called it."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose. ``code`` is stable and machine-readable."""

    code = "domain_error"
    status_hint = 400

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class ValidationFailed(DomainError):
    """Input that is well-formed but not acceptable (a bad coordinate, an unknown category)."""

    code = "validation_failed"
    status_hint = 400


class NotFound(DomainError):
    """The object does not exist — or exists but is not the caller's (we never say which)."""

    code = "not_found"
    status_hint = 404


class Unauthorized(DomainError):
    """No valid credentials."""

    code = "unauthorized"
    status_hint = 401


class Forbidden(DomainError):
    """Authenticated, but the caller's role may not do this."""

    code = "forbidden"
    status_hint = 403


class Conflict(DomainError):
    """The request clashes with the current state (a duplicate, a concurrent change)."""

    code = "conflict"
    status_hint = 409


class InvalidTransition(Conflict):
    """A case (or order, or alarm) cannot take this action from its current state."""

    code = "invalid_transition"


class RateLimited(DomainError):
    code = "rate_limited"
    status_hint = 429


class ConfigurationError(Exception):
    """Settings that cannot work. Raised at start-up with a message a person can act on."""
