"""What a failed send means for its row: retry later, or fail for good.

Invitations and team notices share these rules. A rate limit puts the row
back until the platform's Retry-After has passed, without counting an
attempt. A network or server failure is retried with exponential backoff
until `max_attempts` attempts are spent. An unreachable recipient, a
missing permission or an unavailable channel fails the row at once,
because retrying cannot help.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.errors import (
    DeliveryError,
    MissingPermissionError,
    RateLimitedError,
    RecipientUnreachableError,
)
from bot.config import SchedulerSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedSend:
    """The decision after one failed platform call.

    `retry_at` is set when the row goes back to scheduled; otherwise the row
    has failed for good with `error`.
    """

    error: str
    attempts: int
    retry_at: datetime | None = None
    rate_limited: bool = False
    unreachable_reason: str | None = None
    missing_permission: str | None = None


def backoff_seconds(attempts: int, settings: SchedulerSettings) -> float:
    """Return the wait after the given number of failed attempts (1 and up)."""
    delay = settings.backoff_seconds * 2 ** max(0, attempts - 1)
    return float(min(delay, settings.max_backoff_seconds))


def decide_after_error(
    error: BaseException,
    *,
    attempts_before: int,
    now: datetime,
    settings: SchedulerSettings,
) -> FailedSend:
    """Classify an exception raised by an adapter's send call."""
    if isinstance(error, RateLimitedError):
        wait = max(error.retry_after, 0.0)
        return FailedSend(
            error=str(error),
            attempts=attempts_before,
            retry_at=now + timedelta(seconds=wait),
            rate_limited=True,
        )
    attempts = attempts_before + 1
    if isinstance(error, RecipientUnreachableError):
        return FailedSend(
            error=f"recipient unreachable: {error.reason}",
            attempts=attempts,
            unreachable_reason=error.reason,
        )
    if isinstance(error, MissingPermissionError):
        return FailedSend(
            error=str(error), attempts=attempts, missing_permission=error.permission
        )
    if isinstance(error, DeliveryError) and error.permanent:
        return FailedSend(error=str(error) or type(error).__name__, attempts=attempts)
    message = str(error) or type(error).__name__
    if attempts >= settings.max_attempts:
        return FailedSend(
            error=f"gave up after {attempts} attempts: {message}", attempts=attempts
        )
    retry_at = now + timedelta(seconds=backoff_seconds(attempts, settings))
    return FailedSend(error=message, attempts=attempts, retry_at=retry_at)
