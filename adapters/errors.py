"""Errors adapters raise, converted from each platform's own errors.

    DeliveryError                 a message could not be delivered
    ├── RecipientUnreachableError the user cannot be messaged at all (permanent)
    ├── ChannelUnavailableError   the bot cannot post to that channel
    ├── RateLimitedError          the platform asked to slow down (transient)
    ├── TemporaryDeliveryError    a network or server failure (transient)
    └── MissingPermissionError    the app lacks a scope or permission

Services see only these, never slack_sdk or discord.py exceptions, so the
scheduler can treat every platform alike: a permanent failure marks the
participant unreachable, a transient one is retried later.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """Raised when an adapter cannot deliver a message."""

    permanent = False


class RecipientUnreachableError(DeliveryError):
    """Raised when the user cannot receive direct messages from the bot: the
    account is deleted or deactivated, is a bot, or does not accept DMs."""

    permanent = True

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChannelUnavailableError(DeliveryError):
    """Raised when a channel does not exist for the bot or the bot is not in it."""

    permanent = True

    def __init__(self, channel_id: str, reason: str) -> None:
        super().__init__(f"cannot post to {channel_id}: {reason}")
        self.channel_id = channel_id
        self.reason = reason


class RateLimitedError(DeliveryError):
    """Raised when the platform rate limits the bot and the client's own
    retries are spent; `retry_after` is in seconds."""

    def __init__(self, retry_after: float, reason: str = "rate limited") -> None:
        super().__init__(f"{reason}; retry after {retry_after:.0f} s")
        self.retry_after = retry_after
        self.reason = reason


class TemporaryDeliveryError(DeliveryError):
    """Raised when a network error or a platform server error stopped a send."""


class MissingPermissionError(DeliveryError):
    """Raised when the app lacks a scope or permission; retrying cannot help."""

    permanent = True

    def __init__(self, permission: str) -> None:
        super().__init__(f"the app lacks the permission {permission!r}")
        self.permission = permission
