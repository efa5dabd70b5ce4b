"""Workspace state of the fake Slack: people, conversations and what was sent.

:class:`Workspace` contains the users, channels and user groups a test sets up,
and every message, file, view, trigger and response URL the fake has seen. The
Web API module reads and changes it; :class:`tests.fakes.slack.FakeSlack`
exposes it to tests.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes.slack_blocks import Problem, errors_of
from tests.fakes.slack_limits import limit
from tests.fakes.slack_records import (
    Channel,
    Clock,
    EphemeralMessage,
    LimitViolation,
    Message,
    MessageUpdate,
    ResponseUrlPost,
    UploadedFile,
    User,
    View,
)

logger = logging.getLogger(__name__)

_ID_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


class SlackError(Exception):
    """A Slack error response: ``{"ok": false, "error": ...}`` plus extra fields."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class CallContext:
    """What a method handler needs besides its arguments."""

    method: str
    base_url: str
    token_kind: str


def parse_json_argument(value: Any, error: str) -> Any:
    """Decode a JSON argument sent as a form string (e.g. ``blocks``)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise SlackError(error) from exc


def block_error(problems: list[Problem], error: str) -> SlackError:
    """Build Slack's error for invalid blocks or views, with json-pointers."""
    lines = [problem.slack_error_line() for problem in problems]
    return SlackError(
        error,
        errors=lines,
        response_metadata={"messages": [f"[ERROR] {line}" for line in lines]},
    )


@dataclass
class Trigger:
    """A trigger_id the fake issued with a command or interaction."""

    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class ResponseUrl:
    """A response_url the fake issued and how often it was used."""

    token: str
    channel_id: str | None
    user_id: str
    issued_at: float
    message_ts: str | None = None
    uses: int = 0


class Workspace:
    """People, conversations and recorded traffic of one fake workspace."""

    def __init__(
        self,
        *,
        team_id: str,
        team_domain: str,
        app_id: str,
        bot_user_id: str,
        bot_id: str,
        bot_name: str,
        scopes: tuple[str, ...],
        clock: Clock,
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.scopes = set(scopes)
        self.clock = clock
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, tuple[str, list[str]]] = {}
        self.messages: dict[str, list[Message]] = {}
        self.ephemeral: list[EphemeralMessage] = []
        self.updates: list[MessageUpdate] = []
        self.files: dict[str, UploadedFile] = {}
        self.views: dict[str, View] = {}
        self.modal_stacks: dict[str, list[str]] = {}
        self.home_views: dict[str, View] = {}
        self.view_log: list[View] = []
        self.triggers: dict[str, Trigger] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.response_url_posts: list[ResponseUrlPost] = []
        self.violations: list[LimitViolation] = []
        self._ids = itertools.count(1)
        self._last_ts_micros = 0
        self.add_user(bot_user_id, bot_name, is_bot=True, bot_id=bot_id)

    # -- setup -----------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        tz: str = "America/New_York",
        tz_offset: int | None = None,
        tz_label: str | None = None,
        deleted: bool = False,
        is_bot: bool = False,
        is_admin: bool = False,
        bot_id: str | None = None,
    ) -> User:
        """Add a workspace member; ``tz_offset`` defaults to the zone's offset now."""
        now = datetime.now(ZoneInfo(tz))
        offset = now.utcoffset()
        user = User(
            id=user_id,
            name=name,
            real_name=real_name or name,
            tz=tz,
            # Slack's label reads like "Eastern Standard Time"; the fake uses
            # the zone's abbreviation unless the test passes a label.
            tz_label=tz_label or (now.tzname() or tz),
            tz_offset=tz_offset
            if tz_offset is not None
            else int(offset.total_seconds() if offset else 0),
            deleted=deleted,
            is_bot=is_bot,
            is_admin=is_admin,
            bot_id=bot_id
            if bot_id is not None
            else (self.new_id("B") if is_bot else None),
        )
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        members: list[str] | tuple[str, ...] = (),
        bot_is_member: bool = True,
    ) -> Channel:
        """Add a public or private channel with the given members."""
        channel = Channel(
            id=channel_id,
            name=name,
            kind="private" if is_private else "public",
            members=set(members),
            created=int(self.clock.time()),
        )
        if bot_is_member:
            channel.members.add(self.bot_user_id)
        self.channels[channel_id] = channel
        self.messages.setdefault(channel_id, [])
        return channel

    def add_usergroup(self, group_id: str, handle: str, users: list[str]) -> None:
        """Add a user group (``S...`` id) with its members."""
        self.usergroups[group_id] = (handle, list(users))

    # -- identifiers and time --------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """Return a fresh Slack-looking id such as ``D0000000007``."""
        number = next(self._ids)
        digits = ""
        while number:
            number, rest = divmod(number, len(_ID_ALPHABET))
            digits = _ID_ALPHABET[rest] + digits
        return prefix + "0" + digits.rjust(9, "0")

    def next_ts(self) -> str:
        """Return a new message ts: epoch ``seconds.microseconds``, increasing."""
        now = int(self.clock.time() * 1_000_000)
        self._last_ts_micros = max(now, self._last_ts_micros + 1)
        seconds, micros = divmod(self._last_ts_micros, 1_000_000)
        return f"{seconds}.{micros:06d}"

    # -- lookups ---------------------------------------------------------------

    def find_channel(self, reference: str) -> Channel | None:
        """Find a conversation by id, or by name with or without ``#``."""
        if reference in self.channels:
            return self.channels[reference]
        name = reference.removeprefix("#")
        for channel in self.channels.values():
            if channel.kind in ("public", "private") and channel.name == name:
                return channel
        return None

    def dm_with(self, user_id: str) -> tuple[Channel, bool]:
        """Return the bot's DM with ``user_id`` and whether it already existed."""
        for channel in self.channels.values():
            if channel.kind == "im" and channel.user == user_id:
                return channel, True
        channel = Channel(
            id=self.new_id("D"),
            name=user_id,
            kind="im",
            members={user_id, self.bot_user_id},
            created=int(self.clock.time()),
            user=user_id,
        )
        self.channels[channel.id] = channel
        self.messages.setdefault(channel.id, [])
        return channel, False

    def find_message(self, channel_id: str, ts: str) -> Message | None:
        for message in self.messages.get(channel_id, []):
            if message.ts == ts and not message.deleted:
                return message
        return None

    # -- triggers and response URLs --------------------------------------------

    def issue_trigger(self, user_id: str) -> str:
        """Issue a trigger_id for ``user_id``, valid for 3 seconds and once."""
        trigger_id = f"{int(self.clock.time())}.{next(self._ids)}.fake{self.team_id}"
        self.triggers[trigger_id] = Trigger(user_id, self.clock.monotonic())
        return trigger_id

    def use_trigger(self, trigger_id: object) -> tuple[str | None, str | None]:
        """Consume a trigger; return ``(user_id, None)`` or ``(None, error)``."""
        if not isinstance(trigger_id, str) or not trigger_id:
            return None, "invalid_arguments"
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            return None, "invalid_trigger_id"
        if trigger.used:
            return None, "exchanged_trigger_id"
        if self.clock.monotonic() - trigger.issued_at > limit("trigger.seconds"):
            return None, "expired_trigger_id"
        trigger.used = True
        return trigger.user_id, None

    def issue_response_url(
        self,
        base_url: str,
        *,
        user_id: str,
        channel_id: str | None,
        message_ts: str | None = None,
    ) -> str:
        """Issue a response_url served by the fake; return the URL."""
        token = f"{self.team_id}/{next(self._ids)}/fake"
        self.response_urls[token] = ResponseUrl(
            token=token,
            channel_id=channel_id,
            user_id=user_id,
            issued_at=self.clock.monotonic(),
            message_ts=message_ts,
        )
        return f"{base_url}response/{token}"

    # -- limits ----------------------------------------------------------------

    def record_problems(self, surface: str, problems: list[Problem]) -> list[Problem]:
        """Append every problem to :attr:`violations`; return the errors."""
        now = self.clock.monotonic()
        for problem in problems:
            self.violations.append(
                LimitViolation(
                    surface=surface,
                    rule=problem.rule,
                    pointer=problem.pointer,
                    message=problem.message,
                    severity=problem.severity,
                    limit=problem.limit,
                    actual=problem.actual,
                    time=now,
                )
            )
            logger.info(
                "Slack limit breach on %s: %s at %s (%s)",
                surface,
                problem.rule,
                problem.pointer,
                problem.severity,
            )
        return errors_of(problems)
