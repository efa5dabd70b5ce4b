"""Users, guilds, channels and messages held by the fake Discord, as API payloads.

Everything here is plain data and payload building with no I/O. The REST
routes and the gateway read and change one ``DiscordState``. Payload shapes
follow Discord's API v10 object documentation (user, guild member, role,
channel, message), with ids as strings as Discord sends them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Discord epoch (2015-01-01T00:00:00Z) in milliseconds, from the "Snowflakes"
# section of Discord's API reference: timestamp bits start at bit 22.
DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits from Discord's "Permissions" topic (bitwise flags).
ADMINISTRATOR = 1 << 3
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 53) - 1
DEFAULT_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | ADD_REACTIONS
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)

GUILD_TEXT = 0
DM = 1

_USER_MENTION = re.compile(r"<@!?(\d+)>")


class SnowflakeFactory:
    """Issue unique, increasing snowflakes whose timestamp is the current time."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def next(self) -> int:
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (millis << 22) | (next(self._counter) & 0x3FFFFF)


def snowflake_time(snowflake: int) -> dt.datetime:
    millis = (snowflake >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)


@dataclass
class FakeUser:
    id: int
    username: str
    bot: bool = False
    dms_open: bool = True
    global_name: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass(frozen=True)
class PermissionOverwrite:
    """A channel overwrite: ``type`` 0 targets a role, 1 targets a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int = DEFAULT_PERMISSIONS
    position: int = 1
    managed: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "hoist": False,
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }


@dataclass
class FakeChannel:
    """A guild text channel (type 0) or a DM channel (type 1)."""

    id: int
    name: str = ""
    type: int = GUILD_TEXT
    guild_id: int | None = None
    recipient_id: int | None = None
    position: int = 0
    overwrites: Sequence[PermissionOverwrite] = ()


@dataclass
class FakeMember:
    user_id: int
    roles: Sequence[int] = ()
    nick: str | None = None


@dataclass
class FakeGuild:
    id: int
    name: str
    owner_id: int
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    roles: dict[int, FakeRole] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    joined_at: str = ""


@dataclass(frozen=True)
class StoredFile:
    """Bytes of one attachment, served at the attachment's ``url``."""

    filename: str
    content_type: str
    data: bytes


class DiscordState:
    """The fake's world: the bot, users, guilds, channels and their messages."""

    def __init__(
        self, *, bot_id: int, bot_name: str, application_id: int, token: str
    ) -> None:
        self.snowflakes = SnowflakeFactory()
        self.token = token
        self.application_id = application_id
        self.bot = FakeUser(bot_id, bot_name, bot=True)
        self.users: dict[int, FakeUser] = {bot_id: self.bot}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.dm_channel_by_user: dict[int, int] = {}
        self.messages: dict[int, dict[int, dict[str, Any]]] = {}
        self.files: dict[int, StoredFile] = {}
        self.base_url = ""

    # Users, guilds and channels

    def add_user(self, user: FakeUser) -> FakeUser:
        self.users[user.id] = user
        return user

    def user(self, user_id: int) -> FakeUser:
        try:
            return self.users[user_id]
        except KeyError:
            raise KeyError(f"unknown user {user_id}: call add_user first") from None

    def add_guild(self, guild: FakeGuild) -> FakeGuild:
        self.guilds[guild.id] = guild
        for channel in guild.channels.values():
            self.channels[channel.id] = channel
        return guild

    def open_dm(self, user_id: int) -> FakeChannel:
        """Return the DM channel with a user, creating it on first use."""
        channel_id = self.dm_channel_by_user.get(user_id)
        if channel_id is None:
            channel_id = self.snowflakes.next()
            self.channels[channel_id] = FakeChannel(
                channel_id, type=DM, recipient_id=user_id
            )
            self.dm_channel_by_user[user_id] = channel_id
        return self.channels[channel_id]

    def permissions_in(self, channel: FakeChannel, user_id: int) -> int:
        """Compute a member's permissions in a channel.

        Follows the order of Discord's "Permission Overwrites" rules: base
        permissions from @everyone and the member's roles, ADMINISTRATOR grants
        everything, then the @everyone overwrite, the combined role overwrites,
        and the member overwrite. DM channels grant the default set.
        """
        if channel.guild_id is None:
            return DEFAULT_PERMISSIONS
        guild = self.guilds[channel.guild_id]
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        member = guild.members.get(user_id)
        role_ids = list(member.roles) if member else []
        everyone = guild.roles.get(guild.id)
        permissions = everyone.permissions if everyone else 0
        for role_id in role_ids:
            role = guild.roles.get(role_id)
            if role is not None:
                permissions |= role.permissions
        if permissions & ADMINISTRATOR:
            return ALL_PERMISSIONS
        by_target = {(o.type, o.id): o for o in channel.overwrites}
        everyone_overwrite = by_target.get((0, guild.id))
        if everyone_overwrite is not None:
            permissions &= ~everyone_overwrite.deny
            permissions |= everyone_overwrite.allow
        role_allow = role_deny = 0
        for role_id in role_ids:
            overwrite = by_target.get((0, role_id))
            if overwrite is not None:
                role_allow |= overwrite.allow
                role_deny |= overwrite.deny
        permissions = (permissions & ~role_deny) | role_allow
        member_overwrite = by_target.get((1, user_id))
        if member_overwrite is not None:
            permissions = (
                permissions & ~member_overwrite.deny
            ) | member_overwrite.allow
        return permissions

    # Payloads

    def member_payload(self, guild: FakeGuild, user_id: int) -> dict[str, Any]:
        member = guild.members.get(user_id) or FakeMember(user_id)
        return {
            "user": self.user(user_id).payload(),
            "nick": member.nick,
            "roles": [str(role) for role in member.roles],
            "joined_at": guild.joined_at,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
        }

    def channel_payload(self, channel: FakeChannel) -> dict[str, Any]:
        if channel.type == DM:
            recipient = self.user(channel.recipient_id or 0)
            return {
                "id": str(channel.id),
                "type": DM,
                "last_message_id": None,
                "recipients": [recipient.payload()],
                "flags": 0,
            }
        return {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [o.payload() for o in channel.overwrites],
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }

    def guild_payload(self, guild: FakeGuild, *, with_members: bool) -> dict[str, Any]:
        """Build the GUILD_CREATE body for a guild.

        NOTE: Discord sends the full member list only in some cases (large
        guilds and missing intents change it). The fake sends every member when
        the client asked for GUILD_MEMBERS and only the bot's own member
        otherwise.
        """
        member_ids = list(guild.members) if with_members else [self.bot.id]
        channels = []
        for channel in guild.channels.values():
            payload = self.channel_payload(channel)
            payload.pop("guild_id")
            channels.append(payload)
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "owner_id": str(guild.owner_id),
            "unavailable": False,
            "large": False,
            "member_count": len(guild.members),
            "joined_at": guild.joined_at,
            "roles": [role.payload() for role in guild.roles.values()],
            "channels": channels,
            "members": [self.member_payload(guild, uid) for uid in member_ids],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "emojis": [],
            "stickers": [],
            "features": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_progress_bar_enabled": False,
            "system_channel_flags": 0,
            "preferred_locale": "en-US",
        }

    def mentioned_users(self, content: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for match in _USER_MENTION.finditer(content):
            user = self.users.get(int(match.group(1)))
            if user is not None and user.payload() not in found:
                found.append(user.payload())
        return found

    def build_message(
        self,
        channel: FakeChannel,
        author: FakeUser,
        body: Mapping[str, Any],
        *,
        files: Iterable[StoredFile] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Build and store a message payload as Discord would return it."""
        message_id = self.snowflakes.next()
        content = body.get("content") or ""
        attachments = [self._store_file(channel.id, stored) for stored in files]
        message: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel.id),
            "author": author.payload(),
            "content": content,
            "timestamp": snowflake_time(message_id).isoformat(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": False,
            "mentions": self.mentioned_users(content),
            "mention_roles": [],
            "attachments": attachments,
            "embeds": [_normalise_embed(e) for e in body.get("embeds") or []],
            "components": list(body.get("components") or []),
            "pinned": False,
            "type": 19 if body.get("message_reference") else 0,
            "flags": int(body.get("flags") or 0),
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if body.get("message_reference"):
            reference = dict(body["message_reference"])
            reference.setdefault("channel_id", str(channel.id))
            message["message_reference"] = {k: _id_str(v) for k, v in reference.items()}
        if channel.guild_id is not None:
            guild = self.guilds[channel.guild_id]
            message["guild_id"] = str(guild.id)
            member = self.member_payload(guild, author.id)
            member.pop("user")
            message["member"] = member
        if extra:
            message.update(extra)
        self.messages.setdefault(channel.id, {})[message_id] = message
        return message

    def _store_file(self, channel_id: int, stored: StoredFile) -> dict[str, Any]:
        attachment_id = self.snowflakes.next()
        self.files[attachment_id] = stored
        path = f"/attachments/{channel_id}/{attachment_id}/{stored.filename}"
        url = self.base_url + path
        return {
            "id": str(attachment_id),
            "filename": stored.filename,
            "size": len(stored.data),
            "url": url,
            "proxy_url": url,
            "content_type": stored.content_type,
        }

    def edit_message(
        self, channel_id: int, message_id: int, body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        message = self.messages.get(channel_id, {}).get(message_id)
        if message is None:
            return None
        for key in ("content", "embeds", "components", "flags", "attachments"):
            if key in body:
                value = body[key]
                if key == "embeds":
                    value = [_normalise_embed(e) for e in value or []]
                message[key] = value if value is not None else _EMPTY[key]
        if "content" in body:
            message["mentions"] = self.mentioned_users(message["content"])
        message["edited_timestamp"] = dt.datetime.now(dt.UTC).isoformat()
        return message

    def find_message(self, message_id: int) -> dict[str, Any] | None:
        for by_id in self.messages.values():
            if message_id in by_id:
                return by_id[message_id]
        return None


_EMPTY: dict[str, Any] = {
    "content": "",
    "embeds": [],
    "components": [],
    "flags": 0,
    "attachments": [],
}


def _id_str(value: Any) -> Any:
    return (
        str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    )


def _normalise_embed(embed: Mapping[str, Any]) -> dict[str, Any]:
    """Return the embed as Discord stores it: ``type`` is always ``rich``."""
    stored = dict(embed)
    stored["type"] = "rich"
    return stored
