"""An in-memory Adapter that records what it sends and fails on request.

Tests tell it to raise any delivery error on the next send, to one user or
to anyone, and give users time zones. It can also enforce Slack's
chat.postMessage limits against a test clock: about one message per second
per channel with a burst of 3, and 300 a minute across the workspace. These
are the estimates in tests/fakes/slack_limits.py. A send over a limit raises
RateLimitedError with the seconds until a token is free, as the Slack
adapter does on HTTP 429 with Retry-After.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from adapters.base import InvitationReply, Reply, TextReply, UserInfo
from adapters.errors import RateLimitedError


@dataclass
class Bucket:
    """A token bucket: `burst` sends at once, refilled at `per_second`."""

    per_second: float
    burst: float
    tokens: float
    updated: datetime

    def refill(self, now: datetime) -> None:
        elapsed = max(0.0, (now - self.updated).total_seconds())
        self.tokens = min(self.burst, self.tokens + elapsed * self.per_second)
        self.updated = now

    def seconds_until_token(self) -> float:
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.per_second


@dataclass(frozen=True)
class Sent:
    user_id: str
    reply: Reply
    at: datetime | None

    @property
    def text(self) -> str:
        if isinstance(self.reply, InvitationReply | TextReply):
            return self.reply.text
        return repr(self.reply)


@dataclass
class RecordingAdapter:
    """Records direct messages and channel posts instead of sending them."""

    platform: str = "slack"
    clock: Callable[[], datetime] | None = None
    rate_limited: bool = False
    per_channel_per_second: float = 1.0
    per_channel_burst: float = 3.0
    workspace_per_minute: float = 300.0
    sent: list[Sent] = field(default_factory=list)
    posts: list[Sent] = field(default_factory=list)
    time_zones: dict[str, str] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)
    _failures: list[tuple[str | None, BaseException]] = field(default_factory=list)
    _buckets: dict[str, Bucket] = field(default_factory=dict)

    def fail_next(self, error: BaseException, *, user_id: str | None = None) -> None:
        """Raise `error` on the next send to `user_id` (or to anyone)."""
        self._failures.append((user_id, error))

    def _maybe_fail(self, target: str) -> None:
        for position, (user_id, error) in enumerate(self._failures):
            if user_id is None or user_id == target:
                del self._failures[position]
                raise error

    def _bucket(self, key: str, per_second: float, burst: float) -> Bucket:
        now = self._now()
        if key not in self._buckets:
            self._buckets[key] = Bucket(per_second, burst, burst, now)
        return self._buckets[key]

    def _now(self) -> datetime:
        assert self.clock is not None, "rate limits need a clock"
        return self.clock()

    def _check_rate(self, channel: str) -> None:
        if not self.rate_limited:
            return
        now = self._now()
        channel_bucket = self._bucket(
            f"channel:{channel}", self.per_channel_per_second, self.per_channel_burst
        )
        workspace = self._bucket(
            "workspace", self.workspace_per_minute / 60, self.workspace_per_minute
        )
        buckets = (channel_bucket, workspace)
        for bucket in buckets:
            bucket.refill(now)
        wait = max(bucket.seconds_until_token() for bucket in buckets)
        if wait > 0:
            raise RateLimitedError(wait)
        for bucket in buckets:
            bucket.tokens -= 1

    async def send_direct_message(self, user_id: str, reply: Reply) -> list[str]:
        self._maybe_fail(user_id)
        self._check_rate(f"D-{user_id}")
        self.sent.append(Sent(user_id, reply, self.clock() if self.clock else None))
        return [f"m{len(self.sent)}"]

    async def post_to_channel(self, channel_id: str, reply: Reply) -> list[str]:
        self._maybe_fail(channel_id)
        self._check_rate(channel_id)
        self.posts.append(Sent(channel_id, reply, self.clock() if self.clock else None))
        return [f"p{len(self.posts)}"]

    async def lookup_user(self, user_id: str) -> UserInfo:
        reason = self.unreachable.get(user_id)
        return UserInfo(
            user_id=user_id,
            display_name=f"User {user_id}",
            time_zone=self.time_zones.get(user_id),
            reachable=reason is None,
            reason=reason,
        )

    def texts_to(self, user_id: str) -> list[str]:
        return [sent.text for sent in self.sent if sent.user_id == user_id]
