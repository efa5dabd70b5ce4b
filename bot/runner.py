"""`perspective run`: start every configured platform in one event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass, field
from typing import Protocol

from bot.config import Settings
from bot.context import AppContext, open_context
from bot.errors import ConfigError

log = logging.getLogger(__name__)


class Runnable(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Running:
    """The platforms started by `start_platforms`, to stop them again."""

    context: AppContext
    platforms: list[Runnable] = field(default_factory=list)

    async def stop(self) -> None:
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


async def start_platforms(settings: Settings) -> Running:
    """Open the database and start each configured platform.

    Raises:
        ConfigError: No platform is configured, or one is missing a secret.
    """
    slack_token = _secret(settings.slack.bot_token_env)
    if slack_enabled(settings) and slack_token is None:
        raise ConfigError(
            f"Slack is enabled but {settings.slack.bot_token_env} is empty. "
            "Set it to the bot token (xoxb-...) from OAuth & Permissions."
        )
    if not slack_enabled(settings):
        raise ConfigError(
            "Nothing to run: no chat platform is configured. Set "
            f"{settings.slack.bot_token_env} (and {settings.slack.app_token_env} "
            "for Socket Mode) to run on Slack; see the README. To try the bot "
            "without a platform, use `perspective chat` or `perspective demo`."
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
    except BaseException:
        await running.stop()
        raise
    return running


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
