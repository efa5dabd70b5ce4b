"""A running SlackBot wired to the fake Slack, in Socket Mode or HTTP mode.

Tests talk to `SlackHarness` in terms of what people do (a DM, a command, a
button click) and the harness delivers it the way the chosen mode does:
signed HTTP requests, or Socket Mode envelopes. Either way it returns how
long the bot took to acknowledge.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from adapters.slack.app import SlackBot
from adapters.slack.blocks import START_ACTION
from bot.config import AccessSettings, SlackSettings
from bot.context import AppContext
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_payloads import (
    block_actions_payload,
    button_action,
    message_event,
)

Mode = Literal["socket", "http"]

RESEARCHER = "UADMIN0001"
TEAM_CHANNEL = "C0TEAM0001"
PRIVATE_CHANNEL = "G0PRIV0001"


def populate(slack: FakeSlack, participants: int = 3) -> list[str]:
    """Add a researcher, participants and two channels; return participant ids."""
    slack.add_user(RESEARCHER, "maya", real_name="Maya Chen", is_admin=True)
    ids = [f"UPART{n:05d}" for n in range(participants)]
    for user in ids:
        slack.add_user(user, f"user-{user[-3:]}", tz="Europe/Berlin")
    slack.add_channel(TEAM_CHANNEL, "support-research", members=[RESEARCHER, *ids])
    slack.add_channel(
        PRIVATE_CHANNEL,
        "escalations-private",
        is_private=True,
        members=[RESEARCHER],
        bot_is_member=False,
    )
    return ids


@dataclass
class Ack:
    latency: float
    status: int | None


class SlackHarness:
    def __init__(self, slack: FakeSlack, bot: SlackBot, mode: Mode) -> None:
        self.slack = slack
        self.bot = bot
        self.mode = mode

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.bot.http_port}/slack/events"

    async def _envelope(
        self, kind: str, payload: dict[str, Any], **options: Any
    ) -> Ack:
        envelope_id = await self.slack.send_envelope(kind, payload, **options)
        ack = await self.slack.wait_for_ack(envelope_id, timeout=10)
        return Ack(ack.latency, ack.status)

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, **options: Any
    ) -> Ack:
        if self.mode == "socket":
            envelope_id = await self.slack.send_event(
                event, event_id=event_id, **options
            )
            ack = await self.slack.wait_for_ack(envelope_id, timeout=10)
            return Ack(ack.latency, ack.status)
        delivery = await self.slack.post_event(
            self.url, event, event_id=event_id, **options
        )
        return Ack(delivery.elapsed, delivery.status)

    async def dm(self, user: str, text: str, **fields: Any) -> Ack:
        options = {k: fields.pop(k) for k in ("event_id", "retry_num") if k in fields}
        event = message_event(
            user=user,
            channel=self.slack.dm_channel(user),
            text=text,
            channel_type="im",
            **fields,
        )
        return await self.event(event, **options)

    async def command(self, user: str, channel: str, text: str) -> Ack:
        form = self.slack.slash_command(text, user_id=user, channel_id=channel)
        if self.mode == "socket":
            return await self._envelope("slash_commands", form)
        delivery = await self.slack.post_command(
            self.url, text, user_id=user, channel_id=channel
        )
        return Ack(delivery.elapsed, delivery.status)

    async def click(
        self,
        user: str,
        channel: str,
        action_id: str,
        value: str,
        *,
        message: dict[str, Any] | None = None,
    ) -> Ack:
        payload = block_actions_payload(
            actions=[button_action(action_id=action_id, value=value, text="Start")],
            user_id=user,
            channel_id=channel,
            team_id=self.slack.team_id,
            api_app_id=self.slack.app_id,
            message=message,
            response_url=self.slack.workspace.issue_response_url(
                self.slack.base_url, user_id=user, channel_id=channel
            ),
            trigger_id=self.slack.workspace.issue_trigger(user),
        )
        if self.mode == "socket":
            return await self._envelope("interactive", payload)
        delivery = await self.slack.post_interaction(self.url, payload)
        return Ack(delivery.elapsed, delivery.status)

    async def start_interview(self, user: str, join_code: str) -> None:
        """Press a Start interview button in the team channel and let it run."""
        await self.click(user, TEAM_CHANNEL, START_ACTION, join_code)
        await self.settle()

    async def settle(self) -> None:
        """Wait for the bot's background work (model calls, sends) to finish."""
        for _ in range(3):
            await self.bot.drain()
            await asyncio.sleep(0.05)

    def bot_messages(self, channel: str) -> list[Any]:
        return [
            m
            for m in self.slack.messages_in(channel)
            if m.user == self.slack.bot_user_id
        ]

    def dm_texts(self, user: str) -> list[str]:
        return [m.text for m in self.bot_messages(self.slack.dm_channel(user))]


@asynccontextmanager
async def running_bot(
    context: AppContext,
    slack: FakeSlack,
    mode: Mode,
    *,
    access: AccessSettings | None = None,
    reply_delay: float = 0.0,
) -> AsyncIterator[SlackHarness]:
    settings = SlackSettings(
        mode=mode,
        api_url=slack.api_url,
        http_host="127.0.0.1",
        http_port=0,
        reply_delay_seconds=reply_delay,
    )
    bot = SlackBot(
        context,
        settings,
        access or AccessSettings(),
        bot_token=slack.bot_token,
        app_token=slack.app_token,
        signing_secret=slack.signing_secret,
    )
    await bot.start()
    if mode == "socket":
        await slack.wait_for_connections(1)
    try:
        yield SlackHarness(slack, bot, mode)
    finally:
        await bot.stop()
        await bot.client.session.close() if bot.client.session else None
