"""Clocks, recorded traffic and workspace objects of the fake Slack.

Everything the fake records for tests to inspect is a dataclass defined here:
Web API calls, messages, ephemeral messages, updates, files, views, response
URL posts, acknowledgements and limit violations.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


class Clock(Protocol):
    """Time source of the fake: a monotonic clock and a wall clock in seconds."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


class SystemClock:
    """The real clocks, :func:`time.monotonic` and :func:`time.time`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when a test calls :meth:`advance`.

    Rate-limit buckets, trigger and response URL expiry, recorded call times
    and message ``ts`` values follow it. Acknowledgement latencies are always
    measured in real time. A client that obeys
    ``Retry-After`` still sleeps in real time, so a test using this clock
    advances it past the wait itself.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds``."""
        self._now += seconds


class TokenBucket:
    """Token bucket used for Slack's per-method and per-channel rate limits."""

    def __init__(self, *, per_minute: float, burst: int, now: float) -> None:
        self.capacity = float(burst)
        self.rate = per_minute / 60.0
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float) -> float:
        """Take one token and return 0, or return the seconds until one is free."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        if self.rate <= 0:
            return math.inf
        return (1.0 - self.tokens) / self.rate


@dataclass
class User:
    """A workspace member as users.info returns it."""

    id: str
    name: str
    real_name: str
    tz: str
    tz_label: str
    tz_offset: int
    deleted: bool = False
    is_bot: bool = False
    is_admin: bool = False
    bot_id: str | None = None


@dataclass
class Channel:
    """A conversation: public or private channel, DM (``im``) or group DM."""

    id: str
    name: str
    kind: Literal["public", "private", "im", "mpim"]
    members: set[str] = field(default_factory=set)
    created: int = 0
    is_archived: bool = False
    user: str | None = None


@dataclass
class RecordedCall:
    """One Web API request and the fake's response to it."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    time: float
    status: int
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return error if isinstance(error, str) else None


@dataclass
class Message:
    """A message stored in a channel, as posted or later changed."""

    channel: str
    ts: str
    text: str
    user: str | None = None
    bot_id: str | None = None
    blocks: list[Any] | None = None
    attachments: list[Any] | None = None
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    edited: bool = False
    deleted: bool = False


@dataclass
class EphemeralMessage:
    """A chat.postEphemeral message, seen only by ``user``."""

    channel: str
    user: str
    ts: str
    text: str
    blocks: list[Any] | None = None
    thread_ts: str | None = None


@dataclass
class MessageUpdate:
    """One chat.update call that changed a stored message."""

    channel: str
    ts: str
    text: str
    blocks: list[Any] | None
    time: float


@dataclass
class UploadedFile:
    """A file uploaded through files.getUploadURLExternal and the upload URL."""

    id: str
    filename: str
    length: int
    upload_key: str
    content: bytes | None = None
    title: str | None = None
    completed: bool = False
    channel: str | None = None
    initial_comment: str | None = None
    thread_ts: str | None = None


@dataclass
class View:
    """A modal or Home tab view the app opened, pushed, updated or published."""

    id: str
    type: str
    user_id: str
    view: dict[str, Any]
    hash: str
    method: str
    root_view_id: str | None = None
    previous_view_id: str | None = None
    closed: bool = False


@dataclass
class ResponseUrlPost:
    """One post the app made to a ``response_url`` the fake issued."""

    token: str
    body: dict[str, Any]
    time: float
    status: int

    @property
    def response_type(self) -> str:
        """``ephemeral`` (Slack's default) or ``in_channel``."""
        value = self.body.get("response_type")
        return value if isinstance(value, str) else "ephemeral"

    @property
    def replace_original(self) -> bool:
        return bool(self.body.get("replace_original"))

    @property
    def delete_original(self) -> bool:
        return bool(self.body.get("delete_original"))


@dataclass
class Ack:
    """The app's acknowledgement of one delivery and how long it took."""

    kind: str
    id: str
    sent_at: float
    acked_at: float
    status: int | None = None
    payload: Any = None

    @property
    def latency(self) -> float:
        """Seconds between sending the delivery and receiving the ack."""
        return self.acked_at - self.sent_at


@dataclass
class LimitViolation:
    """A breach of a Slack limit, recorded whether or not Slack rejects it."""

    surface: str
    rule: str
    pointer: str
    message: str
    severity: Literal["error", "warning"]
    limit: int | None = None
    actual: int | None = None
    time: float = 0.0
