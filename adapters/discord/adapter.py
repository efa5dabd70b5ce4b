"""The Discord adapter: send replies with discord.py, convert its errors.

discord.py waits out 429 responses itself. What escapes as
discord.HTTPException is converted here: 50007 (the user does not accept
DMs from the bot) is permanent, 40003 (opening DMs too fast) asks the
caller to slow down, and 5xx responses are transient.
"""

from __future__ import annotations

import io
import logging

import discord

from adapters.base import FileReply, Reply, UserInfo
from adapters.discord.render import DiscordMessage, render
from adapters.errors import (
    ChannelUnavailableError,
    DeliveryError,
    MissingPermissionError,
    RateLimitedError,
    RecipientUnreachableError,
    TemporaryDeliveryError,
)

log = logging.getLogger(__name__)

CANNOT_MESSAGE_USER = 50007
OPENING_DMS_TOO_FAST = 40003
UNKNOWN_USER = 10013
UNKNOWN_CHANNEL = 10003
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
# Discord gives no retry time with 40003; this pause is an estimate that
# errs on the slow side.
DM_OPEN_BACKOFF_SECONDS = 60.0


def convert_error(error: discord.HTTPException, *, target: str) -> DeliveryError:
    """Convert a discord.py HTTP error into one of our delivery errors."""
    code = error.code
    if code == CANNOT_MESSAGE_USER:
        return RecipientUnreachableError("dms_closed")
    if code == UNKNOWN_USER:
        return RecipientUnreachableError("unknown_user")
    if code == OPENING_DMS_TOO_FAST:
        return RateLimitedError(
            DM_OPEN_BACKOFF_SECONDS, "opening direct messages too fast"
        )
    if code == UNKNOWN_CHANNEL:
        return ChannelUnavailableError(target, "unknown channel")
    if code == MISSING_ACCESS:
        return ChannelUnavailableError(target, "missing access")
    if code == MISSING_PERMISSIONS:
        return MissingPermissionError("Send Messages and Embed Links")
    if error.status >= 500:
        return TemporaryDeliveryError(f"Discord server error {error.status}")
    return DeliveryError(f"Discord rejected the request: {code} {error.text}")


class DiscordAdapter:
    """Sends our replies to Discord users and channels."""

    platform = "discord"

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def _send(
        self,
        channel: discord.abc.Messageable,
        messages: list[DiscordMessage],
        target: str,
    ) -> list[str]:
        sent: list[str] = []
        try:
            for message in messages:
                view = message.view()
                kwargs: dict[str, object] = {}
                if message.content:
                    kwargs["content"] = message.content
                if message.embeds:
                    kwargs["embeds"] = message.embeds
                if view is not None:
                    kwargs["view"] = view
                posted = await channel.send(**kwargs)  # type: ignore[call-overload]
                sent.append(str(posted.id))
        except discord.HTTPException as error:
            raise convert_error(error, target=target) from error
        except (OSError, TimeoutError) as error:
            raise TemporaryDeliveryError(f"cannot reach Discord: {error}") from error
        return sent

    async def _send_file(
        self, channel: discord.abc.Messageable, reply: FileReply
    ) -> str:
        data = discord.File(io.BytesIO(reply.content.encode()), filename=reply.filename)
        posted = await channel.send(content=reply.comment[:2000] or None, file=data)
        return str(posted.id)

    async def open_direct_message(self, user_id: str) -> discord.DMChannel:
        try:
            user = self.client.get_user(int(user_id)) or await self.client.fetch_user(
                int(user_id)
            )
            if user.bot:
                raise RecipientUnreachableError("cannot_dm_bot")
            return await user.create_dm()
        except discord.HTTPException as error:
            raise convert_error(error, target=user_id) from error
        except ValueError as error:
            raise RecipientUnreachableError("invalid_user_id") from error

    async def send_direct_message(self, user_id: str, reply: Reply) -> list[str]:
        channel = await self.open_direct_message(user_id)
        if isinstance(reply, FileReply):
            return [await self._send_file(channel, reply)]
        return await self._send(channel, render(reply), user_id)

    async def _channel(self, channel_id: str) -> discord.abc.Messageable:
        try:
            found = self.client.get_channel(
                int(channel_id)
            ) or await self.client.fetch_channel(int(channel_id))
        except discord.HTTPException as error:
            raise convert_error(error, target=channel_id) from error
        if not isinstance(found, discord.abc.Messageable):
            raise ChannelUnavailableError(channel_id, "not a text channel")
        return found

    async def post_to_channel(self, channel_id: str, reply: Reply) -> list[str]:
        channel = await self._channel(channel_id)
        if isinstance(reply, FileReply):
            try:
                return [await self._send_file(channel, reply)]
            except discord.HTTPException as error:
                raise convert_error(error, target=channel_id) from error
        return await self._send(channel, render(reply), channel_id)

    async def lookup_user(self, user_id: str) -> UserInfo:
        try:
            user = self.client.get_user(int(user_id)) or await self.client.fetch_user(
                int(user_id)
            )
        except discord.NotFound:
            return UserInfo(user_id, user_id, reachable=False, reason="unknown_user")
        except discord.HTTPException as error:
            raise convert_error(error, target=user_id) from error
        if user.bot:
            return UserInfo(
                user_id, user.name, reachable=False, reason="cannot_dm_bot", is_bot=True
            )
        # Discord does not tell bots a user's time zone.
        return UserInfo(user_id, user.display_name)
