"""The Slack bot: a slack-bolt AsyncApp wired to the conversation service.

Every listener stores what it must and returns within Slack's 3-second
window; the app runs with `process_before_response=True`, so an event is
acknowledged only after its message is stored. Model work and Web API
calls that may be slow run afterwards in tracked background tasks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.base import InterviewReply
from adapters.slack.adapter import REQUIRED_SCOPES, SlackAdapter, build_client
from bot.commands import Invocation
from bot.config import AccessSettings, SlackSettings
from bot.context import AppContext
from bot.errors import ConfigError
from bot.platform import PlatformRuntime
from bot.services.conversation import StoredReply

log = logging.getLogger(__name__)

ADMIN_CACHE_SECONDS = 300


class SlackBot:
    """Runs the Slack side of Perspective in Socket Mode or HTTP mode."""

    def __init__(
        self,
        context: AppContext,
        settings: SlackSettings,
        access: AccessSettings,
        *,
        bot_token: str,
        app_token: str | None = None,
        signing_secret: str | None = None,
        client: AsyncWebClient | None = None,
    ) -> None:
        self.context = context
        self.settings = settings
        self.access = access
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.client = client or build_client(
            bot_token, settings.api_url, rate_limit_retries=settings.rate_limit_retries
        )
        self.adapter = SlackAdapter(self.client)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=signing_secret,
            process_before_response=True,
            request_verification_enabled=settings.mode == "http",
        )
        self.team_id = ""
        self.bot_user_id = ""
        self.runtime = PlatformRuntime(
            context, "slack", self._send, settings.reply_delay_seconds
        )
        self._admins: dict[str, tuple[float, bool]] = {}
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self.http_port: int | None = None

        # Imported here: the listener modules use this class's helpers.
        from adapters.slack.commands import SlashCommands
        from adapters.slack.direct import DirectMessages

        self.direct = DirectMessages(self)
        self.commands = SlashCommands(self)
        self.direct.register(self.app)
        self.commands.register(self.app)

    # -- background work -------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run work after the acknowledgement; log its failure instead of losing it."""
        self.runtime.spawn(work, what)

    async def drain(self) -> None:
        """Wait until every background task has finished (tests, shutdown)."""
        await self.runtime.drain()

    async def _send(self, reply: StoredReply, thread_ts: str | None) -> list[str]:
        return await self.adapter.post_to_channel(
            reply.channel_id, InterviewReply(reply.message), thread_ts=thread_ts
        )

    # -- checks and access -----------------------------------------------------

    async def check(self) -> None:
        """Check the token, the granted scopes and the mode's settings.

        Raises:
            ConfigError: naming the missing scope or setting.
        """
        try:
            response = await self.client.auth_test()
        except SlackApiError as error:
            raise ConfigError(
                f"Slack rejected the bot token ({error.response.get('error')}). "
                f"Check the variable {self.settings.bot_token_env}."
            ) from error
        self.team_id = str(response["team_id"])
        self.bot_user_id = str(response["user_id"])
        self.adapter.team_id = self.team_id
        self.adapter.bot_user_id = self.bot_user_id
        granted = {
            s.strip()
            for s in str(response.headers.get("x-oauth-scopes", "")).split(",")
        }
        missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
        if missing:
            reasons = "; ".join(f"{s} ({REQUIRED_SCOPES[s]})" for s in missing)
            raise ConfigError(
                f"The Slack app is missing the bot scope(s): {reasons}. Add them under "
                "OAuth & Permissions (or paste slack-app-manifest.yaml again), then "
                "reinstall the app to the workspace."
            )
        if self.settings.mode == "socket" and not (self.app_token or "").startswith(
            "xapp-"
        ):
            raise ConfigError(
                f"Socket Mode needs an app-level token starting with xapp- in "
                f"{self.settings.app_token_env}. Create one under Basic Information "
                "> App-Level Tokens with the connections:write scope."
            )
        if self.settings.mode == "http" and not self.signing_secret:
            raise ConfigError(
                "HTTP mode needs the signing secret in "
                f"{self.settings.signing_secret_env} (Basic Information > App "
                "Credentials)."
            )
        log.info("Slack: connected as %s in team %s", self.bot_user_id, self.team_id)

    async def is_researcher(self, invocation: Invocation) -> bool:
        user = invocation.user_id
        if user in self.access.researcher_ids:
            return True
        if self.access.workspace_admins and await self._is_admin(user):
            return True
        group = self.access.researcher_usergroup
        return bool(group and user in await self.adapter.usergroup_members(group))

    async def _is_admin(self, user_id: str) -> bool:
        cached = self._admins.get(user_id)
        if cached and time.monotonic() - cached[0] < ADMIN_CACHE_SECONDS:
            return cached[1]
        admin = await self.adapter.is_admin(user_id)
        self._admins[user_id] = (time.monotonic(), admin)
        return admin

    # -- running ---------------------------------------------------------------

    async def start(self) -> None:
        """Check settings, recover, then connect in the configured mode."""
        await self.check()
        # Answer what a crash left unanswered, and resend what it left unsent.
        await self.runtime.sweep(grace=timedelta(0))
        self.runtime.start_sweeper()
        if self.settings.mode == "socket":
            self._socket = AsyncSocketModeHandler(
                self.app, self.app_token, web_client=self.client
            )
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack: Socket Mode connected")
            return
        web_app = web.Application()
        web_app.router.add_post(self.settings.http_path, self._handle_http)
        self._runner = web.AppRunner(web_app)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.settings.http_host, self.settings.http_port
        )
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        sockets = getattr(server, "sockets", None) or []
        self.http_port = (
            sockets[0].getsockname()[1] if sockets else self.settings.http_port
        )
        log.info(
            "Slack: HTTP mode listening on %s:%s%s",
            self.settings.http_host,
            self.http_port,
            self.settings.http_path,
        )

    async def _handle_http(self, request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        bolt_response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.runtime.stop()
        log.info("Slack: stopped")
