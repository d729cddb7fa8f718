"""The one interface every channel provider implements, and what a send can come to.

A provider gets the job's session (the WeChat provider consumes a subscription grant, the inbox
writes a row — both commit with the notification's new status) and returns ``Sent`` or
``Suppressed``; it raises ``TransientError`` for what a later attempt may fix (a timeout, a rate
limit) and ``PermanentError`` for what it will not (a bad template, a refused credential).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Notification
from push.enums import Channel


@dataclass(frozen=True)
class Sent:
    provider_message_id: str | None = None
    template: str | None = None  # the provider's template id / code that was used


@dataclass(frozen=True)
class Suppressed:
    """Deliberately not sent, and not to be retried: no subscription grant, the user refused it, no
    template configured for this event on this channel."""

    reason: str
    template: str | None = None


Outcome = Sent | Suppressed


class DeliveryError(Exception):
    retryable: ClassVar[bool] = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(DeliveryError):
    """Worth another attempt later (network, timeout, rate limit, a provider's 5xx)."""


class PermanentError(DeliveryError):
    """Another attempt would fail the same way (bad credentials, bad template, bad address)."""

    retryable = False


class ChannelProvider(ABC):
    """Delivers notifications of one channel. Subclasses: a real provider and a dev one per channel."""

    channel: ClassVar[Channel]

    @abstractmethod
    async def send(self, session: AsyncSession, notification: Notification, now: datetime) -> Outcome: ...

    async def aclose(self) -> None:  # noqa: B027 — most providers hold nothing to release
        """Release connections; called when the process stops."""
