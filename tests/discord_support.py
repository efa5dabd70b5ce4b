"""A running DiscordBot wired to the fake Discord over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from adapters.discord.client import DiscordBot
from bot.config import DiscordSettings
from bot.context import AppContext
from tests.fakes.discord_server import FakeDiscord, point_discord_py_at
from tests.fakes.discord_state import ADMINISTRATOR, FakeChannel, FakeMember, FakeRole

GUILD = 100_000_000_000_000_001
CHANNEL = 100_000_000_000_000_010
RESEARCH_ROLE = 100_000_000_000_000_020
RESEARCHER = 200_000_000_000_000_001
EPHEMERAL = 1 << 6
PARTICIPANTS = [300_000_000_000_000_000 + n for n in range(1, 6)]


def populate(fake: FakeDiscord, *, closed_dms: tuple[int, ...] = ()) -> None:
    """A community server with one channel, a researcher and participants."""
    fake.add_user(RESEARCHER, "maya")
    for user in PARTICIPANTS:
        fake.add_user(user, f"customer{str(user)[-1]}", dms_open=user not in closed_dms)
    fake.add_guild(
        GUILD,
        "Community",
        channels=[FakeChannel(CHANNEL, "feedback")],
        roles=[FakeRole(RESEARCH_ROLE, "Research", ADMINISTRATOR)],
        members=[FakeMember(RESEARCHER, [RESEARCH_ROLE]), *PARTICIPANTS],
        owner_id=RESEARCHER,
    )


class DiscordHarness:
    def __init__(self, fake: FakeDiscord, bot: DiscordBot) -> None:
        self.fake = fake
        self.bot = bot

    async def command(
        self,
        text: str,
        options: dict[str, Any] | None = None,
        *,
        user: int = RESEARCHER,
        channel: int | None = CHANNEL,
    ) -> Any:
        interaction = await self.fake.dispatch_slash_command(
            f"perspective {text}", options or {}, user_id=user, channel_id=channel
        )
        # discord.py runs command callbacks in its own tasks: wait for the answer.
        await self.fake.wait_until(lambda: bool(self.fake.responses_to(interaction)))
        await self.settle()
        return interaction

    async def dm(self, user: int, content: str = "", **options: Any) -> dict[str, Any]:
        message = await self.fake.dispatch_message_create(
            user_id=user, content=content, **options
        )
        await self.settle()
        return message

    async def click(
        self, custom_id: str, user: int, channel: int | None = CHANNEL
    ) -> Any:
        interaction = await self.fake.dispatch_button_click(
            custom_id, user_id=user, channel_id=channel
        )
        await self.settle()
        return interaction

    async def settle(self) -> None:
        for _ in range(4):
            await asyncio.sleep(0.05)
            await self.bot.drain()

    def bot_dms(self, user: int) -> list[dict[str, Any]]:
        bot_id = str(self.fake.bot_user.id)
        return [m for m in self.fake.dms_to(user) if m["author"]["id"] == bot_id]

    def channel_posts(self, channel: int = CHANNEL) -> list[dict[str, Any]]:
        """The bot's messages in a channel that everyone sees (not ephemeral)."""
        bot_id = str(self.fake.bot_user.id)
        return [
            m
            for m in self.fake.messages_in(channel)
            if m["author"]["id"] == bot_id and not int(m.get("flags") or 0) & EPHEMERAL
        ]


@asynccontextmanager
async def running_discord(
    context: AppContext, fake: FakeDiscord, *, reply_delay: float = 0.0
) -> AsyncIterator[DiscordHarness]:
    settings = DiscordSettings(
        api_base=fake.api_base,
        gateway_url=fake.gateway_url,
        reply_delay_seconds=reply_delay,
    )
    with point_discord_py_at(fake):
        bot = DiscordBot(context, settings, token=fake.token)
        await bot.start()
        await bot.sync_commands(GUILD)
        try:
            yield DiscordHarness(fake, bot)
        finally:
            await bot.stop()
