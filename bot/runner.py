"""`perspective run`: start every configured platform in one event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass, field
from typing import Protocol

from adapters.base import Adapter
from bot.config import Settings
from bot.context import AppContext, open_context
from bot.errors import ConfigError
from bot.scheduling.scheduler import start_scheduler

log = logging.getLogger(__name__)


class Runnable(Protocol):
    @property
    def adapter(self) -> Adapter: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Running:
    """The platforms started by `start_platforms`, to stop them again."""

    context: AppContext
    platforms: list[Runnable] = field(default_factory=list)

    async def stop(self) -> None:
        from bot.scheduling.scheduler import stop_scheduler

        await stop_scheduler()
        for platform in reversed(self.platforms):
            try:
                await platform.stop()
            except Exception:
                log.exception("stopping %s failed", type(platform).__name__)
        await self.context.close()


def _secret(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def slack_enabled(settings: Settings) -> bool:
    if settings.slack.enabled is not None:
        return settings.slack.enabled
    return _secret(settings.slack.bot_token_env) is not None


def discord_enabled(settings: Settings) -> bool:
    if settings.discord.enabled is not None:
        return settings.discord.enabled
    return _secret(settings.discord.bot_token_env) is not None


def _require(enabled: bool, name: str, variable: str, where: str) -> str | None:
    token = _secret(variable)
    if enabled and token is None:
        raise ConfigError(
            f"{name} is enabled but {variable} is empty. Set it to {where}."
        )
    return token if enabled else None


async def start_platforms(settings: Settings) -> Running:
    """Open the database and start each configured platform.

    Raises:
        ConfigError: No platform is configured, or one is missing a secret.
    """
    slack_token = _require(
        slack_enabled(settings),
        "Slack",
        settings.slack.bot_token_env,
        "the bot token (xoxb-...) from OAuth & Permissions",
    )
    discord_token = _require(
        discord_enabled(settings),
        "Discord",
        settings.discord.bot_token_env,
        "the bot token from the Developer Portal (your application > Bot)",
    )
    if slack_token is None and discord_token is None:
        raise ConfigError(
            "Nothing to run: no chat platform is configured. Set "
            f"{settings.slack.bot_token_env} (and {settings.slack.app_token_env} "
            f"for Socket Mode) to run on Slack, or {settings.discord.bot_token_env} "
            "to run on Discord; see the README. To try the bot without a "
            "platform, use `perspective chat` or `perspective demo`."
        )
    context = await open_context(settings)
    running = Running(context)
    try:
        if slack_token is not None:
            from adapters.slack.app import SlackBot

            slack = SlackBot(
                context,
                settings.slack,
                settings.access,
                bot_token=slack_token,
                app_token=_secret(settings.slack.app_token_env),
                signing_secret=_secret(settings.slack.signing_secret_env),
            )
            await slack.start()
            running.platforms.append(slack)
        if discord_token is not None:
            from adapters.discord.client import DiscordBot

            discord_bot = DiscordBot(context, settings.discord, token=discord_token)
            await discord_bot.start()
            running.platforms.append(discord_bot)
        await start_scheduler(
            context.database,
            {p.adapter.platform: p.adapter for p in running.platforms},
            settings.scheduler,
        )
    except BaseException:
        await running.stop()
        raise
    return running


async def sync_discord_commands(settings: Settings, guild_id: int | None) -> list[str]:
    """Register /perspective with Discord, without connecting to the gateway."""
    from adapters.discord.client import DiscordBot

    token = _require(True, "Discord", settings.discord.bot_token_env, "the bot token")
    assert token is not None
    context = await open_context(settings)
    bot = DiscordBot(context, settings.discord, token=token)
    try:
        await bot.login()
        await bot.client.setup_hook()
        return await bot.sync_commands(guild_id)
    finally:
        await bot.client.close()
        await context.close()


async def run_until_stopped(settings: Settings) -> None:
    """Run the configured platforms until SIGINT or SIGTERM."""
    running = await start_platforms(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("running; press Ctrl-C to stop")
    try:
        await stop.wait()
    finally:
        await running.stop()
