"""REST handlers for users, DMs, channels and messages of the fake Discord.

Each handler takes a ``RequestContext`` whose body already passed the limit
and OpenAPI checks of ``discord_rest`` and returns ``(status, json_body)`` or
raises ``ApiError`` with Discord's status, code and message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tests.fakes.discord_gateway import GatewayHub
from tests.fakes.discord_http import (
    CANNOT_MESSAGE_USER,
    EMPTY_MESSAGE,
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    OPENING_DMS_TOO_FAST,
    UNKNOWN_CHANNEL,
    UNKNOWN_GUILD,
    UNKNOWN_MESSAGE,
    UNKNOWN_USER,
    ApiError,
    RequestContext,
    Result,
)
from tests.fakes.discord_state import (
    ATTACH_FILES,
    DM,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    DiscordState,
    FakeChannel,
)

logger = logging.getLogger(__name__)

# Message flags (resources/message.mdx): EPHEMERAL is 1 << 6, LOADING 1 << 7.
EPHEMERAL = 1 << 6
LOADING = 1 << 7

UNKNOWN_MEMBER = 10007
CANNOT_EDIT_OTHERS_MESSAGE = 50005


class ChannelRoutes:
    """Handlers for the bot user, its application, the gateway URL, DMs and messages."""

    def __init__(
        self, state: DiscordState, hub: GatewayHub, *, echo_bot_messages: bool
    ) -> None:
        self.state = state
        self.hub = hub
        self.echo_bot_messages = echo_bot_messages
        self.deleted_messages: list[dict[str, Any]] = []
        self.dm_open_limit: int | None = None
        self.dm_open_count = 0

    # Users, application and gateway

    async def get_current_user(self, ctx: RequestContext) -> Result:
        bot = self.state.bot.payload()
        return 200, {**bot, "verified": True, "mfa_enabled": False, "flags": 0}

    async def get_user(self, ctx: RequestContext) -> Result:
        user = self.state.users.get(ctx.int_param("user_id"))
        if user is None:
            raise ApiError(404, UNKNOWN_USER, "Unknown User")
        return 200, user.payload()

    async def get_application(self, ctx: RequestContext) -> Result:
        return 200, {
            "id": str(self.state.application_id),
            "name": self.state.bot.username,
            "description": "",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": {
                **self.state.bot.payload(),
                "id": str(self.state.application_id + 1),
                "username": "owner",
                "bot": False,
            },
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "interactions_endpoint_url": None,
            "bot": self.state.bot.payload(),
        }

    async def get_gateway(self, ctx: RequestContext) -> Result:
        return 200, {"url": self.hub.gateway_url}

    async def get_gateway_bot(self, ctx: RequestContext) -> Result:
        return 200, {
            "url": self.hub.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

    async def create_dm(self, ctx: RequestContext) -> Result:
        body = ctx.body if isinstance(ctx.body, Mapping) else {}
        try:
            user = self.state.users[int(body.get("recipient_id", 0))]
        except (KeyError, TypeError, ValueError):
            raise ApiError(404, UNKNOWN_USER, "Unknown User") from None
        if self.dm_open_limit is not None and self.dm_open_count >= self.dm_open_limit:
            # Discord's docs list code 40003 without its HTTP status. Public
            # bug reports from Python bot authors (2022) show the response as
            # "403 Forbidden (error code: 40003)".
            raise ApiError(
                403, OPENING_DMS_TOO_FAST, "You are opening direct messages too fast"
            )
        if user.bot:
            # Opening a DM with another bot fails with 400 and code 50007, as
            # a public discord.py traceback from 2021 shows.
            raise ApiError(
                400, CANNOT_MESSAGE_USER, "Cannot send messages to this user"
            )
        self.dm_open_count += 1
        channel = self.state.open_dm(user.id)
        return 200, self.state.channel_payload(channel)

    # Channels and messages

    def channel(self, ctx: RequestContext) -> FakeChannel:
        channel = self.state.channels.get(ctx.int_param("channel_id"))
        if channel is None:
            raise ApiError(404, UNKNOWN_CHANNEL, "Unknown Channel")
        return channel

    def stored_message(self, channel: FakeChannel, message_id: int) -> dict[str, Any]:
        message = self.state.messages.get(channel.id, {}).get(message_id)
        if message is None:
            raise ApiError(404, UNKNOWN_MESSAGE, "Unknown Message")
        return message

    async def get_channel(self, ctx: RequestContext) -> Result:
        return 200, self.state.channel_payload(self.channel(ctx))

    async def list_messages(self, ctx: RequestContext) -> Result:
        channel = self.channel(ctx)
        self._require_read(channel)
        # resources/message.mdx, "Get Channel Messages": limit is 1-100,
        # default 50.
        limit = min(max(ctx.int_query("limit", 50), 1), 100)
        newest_first = sorted(
            self.state.messages.get(channel.id, {}).items(), reverse=True
        )
        before = ctx.int_query("before", 0) or None
        after = ctx.int_query("after", 0) or None
        selected = [
            message
            for message_id, message in newest_first
            if (before is None or message_id < before)
            and (after is None or message_id > after)
        ]
        return 200, selected[:limit]

    async def get_message(self, ctx: RequestContext) -> Result:
        channel = self.channel(ctx)
        self._require_read(channel)
        return 200, self.stored_message(channel, ctx.int_param("message_id"))

    def _require_read(self, channel: FakeChannel) -> None:
        if channel.guild_id is None:
            return
        if not self.state.permissions_in(channel, self.state.bot.id) & VIEW_CHANNEL:
            raise ApiError(403, MISSING_ACCESS, "Missing Access")

    def _require_send(self, channel: FakeChannel, with_files: bool) -> None:
        if channel.type == DM:
            recipient = self.state.users.get(channel.recipient_id or 0)
            if recipient is None or not recipient.dms_open or recipient.bot:
                raise ApiError(
                    403, CANNOT_MESSAGE_USER, "Cannot send messages to this user"
                )
            return
        permissions = self.state.permissions_in(channel, self.state.bot.id)
        if not permissions & VIEW_CHANNEL:
            raise ApiError(403, MISSING_ACCESS, "Missing Access")
        needed = SEND_MESSAGES | (ATTACH_FILES if with_files else 0)
        if permissions & needed != needed:
            raise ApiError(403, MISSING_PERMISSIONS, "Missing Permissions")

    @staticmethod
    def require_not_empty(body: Mapping[str, Any], has_files: bool) -> None:
        content = body.get("content")
        if (isinstance(content, str) and content.strip()) or has_files:
            return
        if any(
            body.get(key) for key in ("embeds", "components", "sticker_ids", "poll")
        ):
            return
        raise ApiError(400, EMPTY_MESSAGE, "Cannot send an empty message")

    async def create_message(self, ctx: RequestContext) -> Result:
        channel = self.channel(ctx)
        body = ctx.body if isinstance(ctx.body, Mapping) else {}
        self._require_send(channel, bool(ctx.files))
        self.require_not_empty(body, bool(ctx.files))
        message = self.state.build_message(
            channel, self.state.bot, body, files=ctx.files
        )
        await self.echo("MESSAGE_CREATE", message)
        return 200, message

    async def edit_message(self, ctx: RequestContext) -> Result:
        channel = self.channel(ctx)
        message_id = ctx.int_param("message_id")
        message = self.stored_message(channel, message_id)
        if message["author"]["id"] != str(self.state.bot.id):
            raise ApiError(
                403,
                CANNOT_EDIT_OTHERS_MESSAGE,
                "Cannot edit a message authored by another user",
            )
        body = ctx.body if isinstance(ctx.body, Mapping) else {}
        edited = self.state.edit_message(channel.id, message_id, body)
        await self.echo("MESSAGE_UPDATE", edited)
        return 200, edited

    async def delete_message(self, ctx: RequestContext) -> Result:
        channel = self.channel(ctx)
        message_id = ctx.int_param("message_id")
        message = self.stored_message(channel, message_id)
        await self.delete(channel, message)
        return 204, None

    async def delete(self, channel: FakeChannel, message: dict[str, Any]) -> None:
        self.state.messages[channel.id].pop(int(message["id"]))
        self.deleted_messages.append(message)
        event = {"id": message["id"], "channel_id": message["channel_id"]}
        if "guild_id" in message:
            event["guild_id"] = message["guild_id"]
        await self.echo("MESSAGE_DELETE", event)

    async def trigger_typing(self, ctx: RequestContext) -> Result:
        self.channel(ctx)
        return 204, None

    async def get_member(self, ctx: RequestContext) -> Result:
        guild = self.state.guilds.get(ctx.int_param("guild_id"))
        if guild is None:
            raise ApiError(404, UNKNOWN_GUILD, "Unknown Guild")
        user_id = ctx.int_param("user_id")
        if user_id not in guild.members:
            raise ApiError(404, UNKNOWN_MEMBER, "Unknown Member")
        return 200, self.state.member_payload(guild, user_id)

    async def echo(self, event: str, data: Mapping[str, Any] | None) -> None:
        """Dispatch the gateway event Discord sends for the bot's own change."""
        if data is None or not self.echo_bot_messages or self.hub.session is None:
            return
        if int(data.get("flags") or 0) & EPHEMERAL:
            return
        await self.hub.dispatch(event, data)
