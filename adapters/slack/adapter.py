"""The Slack adapter: send replies through the Web API, convert its errors.

slack_sdk's AsyncWebClient does the HTTP work and, through its retry
handlers, waits out 429 responses (honouring Retry-After) and retries
connection errors. Every SlackApiError that escapes is converted here into
our own delivery errors, so services never see slack_sdk types.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.base import FileReply, Reply, UserInfo
from adapters.errors import (
    ChannelUnavailableError,
    DeliveryError,
    MissingPermissionError,
    RateLimitedError,
    RecipientUnreachableError,
    TemporaryDeliveryError,
)
from adapters.slack.blocks import SlackMessage, render

log = logging.getLogger(__name__)

# Slack errors that mean the recipient can never get a DM from this bot.
UNREACHABLE_ERRORS = frozenset(
    {
        "user_not_found",
        "user_disabled",
        "account_inactive",
        "cannot_dm_bot",
        "user_not_visible",
        "users_not_found",
    }
)
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})

# The bot scopes the app needs, and why; the manifest requests exactly these.
REQUIRED_SCOPES: dict[str, str] = {
    "chat:write": "send interview questions and post summaries",
    "commands": "the /perspective command",
    "im:history": "receive participants' direct messages",
    "im:read": "tell direct messages apart from channels",
    "im:write": "open a direct message with a participant",
    "users:read": "read names and time zones",
    "usergroups:read": "check membership of the researcher user group",
    "files:write": "upload exports",
    "reactions:write": "show that the bot is working on a reply",
}


def build_client(
    token: str, api_url: str, *, rate_limit_retries: int = 3
) -> AsyncWebClient:
    """Create a Web API client that waits out rate limits and network blips."""
    return AsyncWebClient(
        token=token,
        base_url=api_url,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )


def convert_error(error: SlackApiError, *, target: str) -> DeliveryError:
    """Convert a Slack Web API error into one of our delivery errors."""
    response = error.response
    code = str(response.get("error", "unknown_error"))
    if code in UNREACHABLE_ERRORS:
        return RecipientUnreachableError(code)
    if code in CHANNEL_ERRORS:
        return ChannelUnavailableError(target, code)
    if code == "missing_scope":
        return MissingPermissionError(str(response.get("needed", "unknown scope")))
    if code == "ratelimited" or response.status_code == 429:
        retry_after = float(response.headers.get("Retry-After", 30))
        return RateLimitedError(retry_after)
    if response.status_code >= 500 or code in (
        "internal_error",
        "fatal_error",
        "request_timeout",
    ):
        return TemporaryDeliveryError(f"Slack server error: {code}")
    return DeliveryError(f"Slack rejected the request: {code}")


class SlackAdapter:
    """Sends our replies to Slack users and channels."""

    platform = "slack"

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._dm_channels: dict[str, str] = {}
        self.team_id = ""
        self.bot_user_id = ""

    async def _call(self, method: str, target: str, **arguments: Any) -> Any:
        try:
            return await self.client.api_call(method, json=arguments)
        except SlackApiError as error:
            raise convert_error(error, target=target) from error
        except (SlackRequestError, OSError, TimeoutError) as error:
            raise TemporaryDeliveryError(f"cannot reach Slack: {error}") from error

    async def open_direct_message(self, user_id: str) -> str:
        """Return the DM channel id with a user, opening it once."""
        if user_id not in self._dm_channels:
            response = await self._call("conversations.open", user_id, users=user_id)
            self._dm_channels[user_id] = response["channel"]["id"]
        return self._dm_channels[user_id]

    async def _post(
        self, channel: str, messages: list[SlackMessage], thread_ts: str | None = None
    ) -> list[str]:
        sent: list[str] = []
        target = channel
        for message in messages:
            arguments: dict[str, Any] = {
                "channel": target,
                "text": message.text,
                "blocks": message.blocks,
                "unfurl_links": False,
            }
            if thread_ts:
                arguments["thread_ts"] = thread_ts
            response = await self._call("chat.postMessage", channel, **arguments)
            sent.append(str(response["ts"]))
            if target.startswith(("U", "W")) and response.get("channel"):
                # Posting to a user id opens the DM; later parts go to its id.
                target = str(response["channel"])
                self._dm_channels[channel] = target
        return sent

    async def send_direct_message(
        self, user_id: str, reply: Reply, *, thread_ts: str | None = None
    ) -> list[str]:
        if isinstance(reply, FileReply):
            return [await self.upload(await self.open_direct_message(user_id), reply)]
        # chat.postMessage accepts a user id as the channel and opens the DM
        # itself, which spares a conversations.open call (a stricter rate
        # tier) per invitation.
        channel = self._dm_channels.get(user_id, user_id)
        return await self._post(channel, render(reply), thread_ts)

    async def post_to_channel(
        self, channel_id: str, reply: Reply, *, thread_ts: str | None = None
    ) -> list[str]:
        if isinstance(reply, FileReply):
            return [await self.upload(channel_id, reply)]
        return await self._post(channel_id, render(reply), thread_ts)

    async def post_ephemeral(self, channel_id: str, user_id: str, reply: Reply) -> None:
        for message in render(reply):
            await self._call(
                "chat.postEphemeral",
                channel_id,
                channel=channel_id,
                user=user_id,
                text=message.text,
                blocks=message.blocks,
            )

    async def upload(self, channel_id: str, reply: FileReply) -> str:
        try:
            response = await self.client.files_upload_v2(
                channel=channel_id,
                filename=reply.filename,
                content=reply.content,
                title=reply.title,
                initial_comment=reply.comment or None,
            )
        except SlackApiError as error:
            raise convert_error(error, target=channel_id) from error
        files = response.get("files") or [response.get("file") or {}]
        return str(files[0].get("id", ""))

    async def lookup_user(self, user_id: str) -> UserInfo:
        try:
            response = await self.client.users_info(user=user_id)
        except SlackApiError as error:
            converted = convert_error(error, target=user_id)
            if isinstance(converted, RecipientUnreachableError):
                return UserInfo(
                    user_id, user_id, reachable=False, reason=converted.reason
                )
            raise converted from error
        user = response["user"]
        profile = user.get("profile", {})
        name = (
            profile.get("display_name") or user.get("real_name") or user.get("name", "")
        )
        if user.get("deleted"):
            return UserInfo(user_id, name, reachable=False, reason="account_inactive")
        if user.get("is_bot") or user.get("is_app_user"):
            return UserInfo(
                user_id, name, reachable=False, reason="cannot_dm_bot", is_bot=True
            )
        return UserInfo(user_id, name, time_zone=user.get("tz"))

    async def is_admin(self, user_id: str) -> bool:
        try:
            response = await self.client.users_info(user=user_id)
        except SlackApiError:
            log.warning("users.info failed for %s; treating as not an admin", user_id)
            return False
        user = response["user"]
        return bool(user.get("is_admin") or user.get("is_owner"))

    async def usergroup_members(self, usergroup_id: str) -> set[str]:
        try:
            response = await self.client.usergroups_users_list(usergroup=usergroup_id)
        except SlackApiError as error:
            log.warning(
                "cannot read user group %s: %s",
                usergroup_id,
                error.response.get("error"),
            )
            return set()
        return set(response.get("users", []))

    async def add_reaction(self, channel: str, ts: str, name: str) -> None:
        """Mark a message; failures are logged and ignored (it is cosmetic)."""
        try:
            await self.client.reactions_add(channel=channel, timestamp=ts, name=name)
        except SlackApiError as error:
            log.debug("reactions.add failed: %s", error.response.get("error"))

    async def remove_reaction(self, channel: str, ts: str, name: str) -> None:
        try:
            await self.client.reactions_remove(channel=channel, timestamp=ts, name=name)
        except SlackApiError as error:
            log.debug("reactions.remove failed: %s", error.response.get("error"))
