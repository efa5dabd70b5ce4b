"""A fake Discord (REST API v10 and gateway) on loopback for tests of discord.py bots.

Usage::

    async with FakeDiscord() as fake:
        fake.add_user(200, "alice")
        fake.add_guild(100, "Community", channels=[FakeChannel(10, "general")],
                       members=[200])
        with point_discord_py_at(fake):
            client = discord.Client(intents=intents)
            task = asyncio.create_task(client.start(fake.token))
            await fake.wait_until_ready()
            await fake.dispatch_message_create(user_id=200, content="hi")

The real discord.py talks to the fake over HTTP and WebSocket on 127.0.0.1.
The fake enforces Discord's documented message limits (``discord_limits``),
validates request bodies against Discord's OpenAPI description when the file
is present (``discord_spec``), and records what the client did.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes.discord_gateway import PRIVILEGED_INTENTS, GatewayHub
from tests.fakes.discord_http import LimitViolation, RateLimitRule, RestCall
from tests.fakes.discord_interactions import (
    FakeInteraction,
    InteractionBuilder,
    InteractionResponseRecord,
)
from tests.fakes.discord_rest import API_PREFIX, RestApi
from tests.fakes.discord_spec import SpecValidationError, spec_or_reason
from tests.fakes.discord_state import (
    DEFAULT_PERMISSIONS,
    DiscordState,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    PermissionOverwrite,
    StoredFile,
)
from tests.fakes.discord_webhooks import INTERACTION_RESPONSE_DEADLINE

logger = logging.getLogger(__name__)

__all__ = [
    "FakeChannel",
    "FakeDiscord",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "PermissionOverwrite",
    "point_discord_py_at",
]

# The Hello example in gateway.mdx carries a heartbeat_interval of 45000 ms.
DEFAULT_HEARTBEAT_INTERVAL_MS = 45_000


class FakeDiscord:
    """Fake Discord server: state, REST routes, gateway, failure switches, records."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        bot_id: int = 900_000_000_000_000_001,
        bot_name: str = "Perspective",
        application_id: int = 900_000_000_000_000_002,
        heartbeat_interval_ms: int = DEFAULT_HEARTBEAT_INTERVAL_MS,
        privileged_intents_enabled: int = PRIVILEGED_INTENTS,
        interaction_deadline: float = INTERACTION_RESPONSE_DEADLINE,
        echo_bot_messages: bool = True,
        wait_timeout: float = 10.0,
    ) -> None:
        """Configure the fake; nothing listens until ``start`` or ``async with``.

        Args:
            token: bot token the client must send (REST and IDENTIFY).
            heartbeat_interval_ms: interval sent in HELLO, in milliseconds.
            privileged_intents_enabled: privileged intent bits the "Developer
                Portal" allows; IDENTIFY asking for others is closed with 4014.
            interaction_deadline: seconds after dispatch within which the
                first interaction callback is accepted (Discord: 3 s).
            echo_bot_messages: dispatch MESSAGE_CREATE, UPDATE and DELETE for
                the bot's own REST changes, as Discord does.
            wait_timeout: seconds ``wait_until`` and ``wait_until_ready`` wait
                before raising TimeoutError.
        """
        self.token = token
        self.wait_timeout = wait_timeout
        self.state = DiscordState(
            bot_id=bot_id, bot_name=bot_name, application_id=application_id, token=token
        )
        self.hub = GatewayHub(
            self.state,
            heartbeat_interval_ms=heartbeat_interval_ms,
            privileged_intents_enabled=privileged_intents_enabled,
        )
        spec, reason = spec_or_reason()
        self.validation_skipped_reason: str | None = reason
        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        self.interactions = InteractionBuilder(self.state, self._commands)
        self.rest = RestApi(
            self.state,
            self.hub,
            self.interactions,
            self._commands,
            spec=spec,
            interaction_deadline=interaction_deadline,
            echo_bot_messages=echo_bot_messages,
        )
        self._runner: web.AppRunner | None = None
        self.port = 0

    # Lifecycle

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port chosen by the OS."""
        app = web.Application()
        app.router.add_get("/gateway", self.hub.handle)
        app.router.add_get("/gateway/resume", self.hub.handle)
        app.router.add_get(
            "/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment
        )
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self.rest.handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.state.base_url = f"http://127.0.0.1:{self.port}"
        self.hub.gateway_url = f"ws://127.0.0.1:{self.port}/gateway"
        self.hub.resume_gateway_url = f"ws://127.0.0.1:{self.port}/gateway/resume"
        logger.info("fake Discord listening on %s", self.state.base_url)

    async def close(self) -> None:
        await self.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            logger.info("fake Discord on port %d stopped", self.port)

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        stored = self.state.files.get(int(request.match_info["attachment_id"]))
        if stored is None:
            raise web.HTTPNotFound()
        return web.Response(body=stored.data, content_type=stored.content_type)

    @property
    def base_url(self) -> str:
        return self.state.base_url

    @property
    def api_base(self) -> str:
        """REST base that replaces ``https://discord.com/api/v10``."""
        return self.state.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return self.hub.gateway_url

    @property
    def resume_gateway_url(self) -> str:
        return self.hub.resume_gateway_url

    @property
    def bot_user(self) -> FakeUser:
        return self.state.bot

    @property
    def application_id(self) -> int:
        return self.state.application_id

    # World setup

    def add_user(
        self,
        user_id: int,
        username: str,
        *,
        bot: bool = False,
        dms_open: bool = True,
        global_name: str | None = None,
    ) -> FakeUser:
        """Add a user. With ``dms_open=False`` the bot cannot message them (50007)."""
        return self.state.add_user(
            FakeUser(user_id, username, bot, dms_open, global_name)
        )

    def add_guild(
        self,
        guild_id: int,
        name: str,
        *,
        channels: Iterable[FakeChannel] = (),
        roles: Iterable[FakeRole] = (),
        members: Iterable[int | FakeMember] = (),
        owner_id: int | None = None,
        everyone_permissions: int = DEFAULT_PERMISSIONS,
        bot_permissions: int = DEFAULT_PERMISSIONS,
    ) -> FakeGuild:
        """Add a guild that the bot is a member of; call before the client connects.

        The @everyone role has the guild's id and ``everyone_permissions``.
        The bot joins with its own managed role holding ``bot_permissions``.
        Member ids not yet added with ``add_user`` become users named
        ``user<id>``. Channel overwrites decide what the bot may do per
        channel, as Discord computes it.
        """
        joined_at = dt.datetime.now(dt.UTC).isoformat()
        all_members = [
            m if isinstance(m, FakeMember) else FakeMember(m) for m in members
        ]
        for member in all_members:
            if member.user_id not in self.state.users:
                self.add_user(member.user_id, f"user{member.user_id}")
        bot_role = FakeRole(
            self.state.snowflakes.next(),
            self.state.bot.username,
            bot_permissions,
            1,
            True,
        )
        guild = FakeGuild(
            guild_id,
            name,
            owner_id=owner_id if owner_id is not None else self._owner(all_members),
            joined_at=joined_at,
        )
        guild.roles[guild_id] = FakeRole(guild_id, "@everyone", everyone_permissions, 0)
        guild.roles[bot_role.id] = bot_role
        for role in roles:
            guild.roles[role.id] = role
        for member in all_members:
            guild.members[member.user_id] = member
        guild.members[self.state.bot.id] = FakeMember(self.state.bot.id, [bot_role.id])
        for position, channel in enumerate(channels):
            channel.guild_id = guild_id
            channel.position = channel.position or position
            guild.channels[channel.id] = channel
        return self.state.add_guild(guild)

    def _owner(self, members: Sequence[FakeMember]) -> int:
        if members:
            return members[0].user_id
        owner = self.add_user(self.state.snowflakes.next(), "guild-owner")
        return owner.id

    def dm_channel_id(self, user_id: int) -> int:
        """Return the id of the DM channel with a user, opening it if needed."""
        return self.state.open_dm(user_id).id

    # Failure switches

    def fail_dm_open_after(self, count: int) -> None:
        """Make POST /users/@me/channels fail (403, 40003) after ``count`` opens."""
        self.rest.channels.dm_open_limit = count

    def rate_limit_next(
        self,
        route_pattern: str,
        retry_after: float,
        *,
        is_global: bool = False,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` matching requests fail with HTTP 429.

        ``route_pattern`` is ``"METHOD /template"`` as in
        ``"POST /channels/{channel_id}/messages"``, or a concrete path such as
        ``"POST /channels/10/messages"``.
        """
        self.rest.rate_limit_rules.append(
            RateLimitRule(route_pattern, retry_after, is_global, times)
        )

    # Records

    @property
    def rest_calls(self) -> list[RestCall]:
        return self.rest.rest_calls

    def calls_to(self, route: str) -> list[RestCall]:
        """Return calls whose route template key equals ``route``."""
        return [call for call in self.rest.rest_calls if call.route == route]

    @property
    def validation_errors(self) -> list[SpecValidationError]:
        return self.rest.validation_errors

    @property
    def limit_violations(self) -> list[LimitViolation]:
        return self.rest.limit_violations

    @property
    def interaction_responses(self) -> list[InteractionResponseRecord]:
        return self.rest.webhooks.interaction_responses

    def followups_for(self, token: str) -> list[dict[str, Any]]:
        return list(self.rest.webhooks.followups.get(token, []))

    def messages_in(self, channel_id: int) -> list[dict[str, Any]]:
        """Return a channel's stored messages, oldest first, without deleted ones."""
        return list(self.state.messages.get(channel_id, {}).values())

    def dms_to(self, user_id: int) -> list[dict[str, Any]]:
        """Return the messages the bot posted in its DM channel with a user."""
        channel_id = self.state.dm_channel_by_user.get(user_id)
        if channel_id is None:
            return []
        bot_id = str(self.state.bot.id)
        return [m for m in self.messages_in(channel_id) if m["author"]["id"] == bot_id]

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Return the application commands registered globally or for one guild."""
        return list(self._commands.get(guild_id, []))

    @property
    def identify_payloads(self) -> list[dict[str, Any]]:
        return self.hub.identify_payloads

    @property
    def resume_payloads(self) -> list[dict[str, Any]]:
        return self.hub.resume_payloads

    @property
    def connection_count(self) -> int:
        return len(self.hub.connections)

    @property
    def identify_count(self) -> int:
        return len(self.hub.identify_payloads)

    @property
    def resume_count(self) -> int:
        """Number of RESUMEs that ended with a RESUMED dispatch."""
        return self.hub.resumed_count

    @property
    def heartbeat_count(self) -> int:
        return self.hub.heartbeat_count

    @property
    def connection_paths(self) -> list[str]:
        """The URL path of each gateway connection, in order."""
        return [conn.path for conn in self.hub.connections]

    # Waiting

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Poll ``predicate`` every 10 ms until it is true.

        Raises TimeoutError after ``wait_timeout`` seconds (set in the
        constructor), so a test that waits for something that never happens
        fails instead of hanging.
        """
        deadline = time.monotonic() + self.wait_timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {self.wait_timeout} s")
            await asyncio.sleep(0.01)

    async def wait_until_ready(self) -> None:
        """Wait until a connected session got READY and one GUILD_CREATE per guild.

        After a client restart this waits for the new session, because the
        old one has no live connection.
        """

        def ready() -> bool:
            session = self.hub.session
            return (
                session is not None
                and session.guilds_sent
                and session.connection is not None
            )

        await self.wait_until(ready)

    # Gateway control

    async def dispatch(self, event: str, data: Mapping[str, Any]) -> int | None:
        """Send a dispatch; returns its seq, or None if the intents filter it out."""
        return await self.hub.dispatch(event, data)

    async def disconnect(self, code: int = 4000, *, resumable: bool = True) -> None:
        """Close the gateway connection; discord.py then reconnects and resumes.

        Code 4000 (unknown error) lets the client resume. With
        ``resumable=False``, or codes 4007 and 4009, the next RESUME gets
        Invalid Session and the client identifies again.
        """
        await self.hub.disconnect(code, resumable=resumable)

    async def request_reconnect(self) -> None:
        """Send opcode 7 Reconnect."""
        await self.hub.request_reconnect()

    def replay_after_resume(self, message_id: int) -> None:
        """Deliver an already sent MESSAGE_CREATE again after the next RESUME."""
        self.hub.replay_after_resume(message_id)

    # Message builders

    def message_payload(
        self,
        *,
        user_id: int,
        content: str = "",
        channel_id: int | None = None,
        attachments: Iterable[tuple[str, bytes] | tuple[str, bytes, str]] = (),
        embeds: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """Store and return a message from a user, in a guild channel or their DM.

        ``channel_id=None`` means the user's DM channel with the bot.
        Attachments are ``(filename, data)`` or ``(filename, data,
        content_type)``; their ``url`` serves the bytes.
        """
        author = self.state.user(user_id)
        channel = (
            self.state.open_dm(user_id)
            if channel_id is None
            else self.state.channels[channel_id]
        )
        files = [
            StoredFile(
                item[0],
                item[2] if len(item) > 2 else "application/octet-stream",
                item[1],
            )
            for item in attachments
        ]
        body = {"content": content, "embeds": list(embeds)}
        return self.state.build_message(channel, author, body, files=files)

    async def dispatch_message_create(
        self,
        *,
        user_id: int,
        content: str = "",
        channel_id: int | None = None,
        attachments: Iterable[tuple[str, bytes] | tuple[str, bytes, str]] = (),
        embeds: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """Store a user's message and dispatch MESSAGE_CREATE; returns the full payload.

        What the client receives may be blanked by the message content rule.
        """
        message = self.message_payload(
            user_id=user_id,
            content=content,
            channel_id=channel_id,
            attachments=attachments,
            embeds=embeds,
        )
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    async def dispatch_message_update(
        self, message: Mapping[str, Any], *, content: str
    ) -> dict[str, Any]:
        """Edit a stored message's content and dispatch MESSAGE_UPDATE."""
        edited = self.state.edit_message(
            int(message["channel_id"]), int(message["id"]), {"content": content}
        )
        if edited is None:
            raise LookupError(f"message {message['id']} is not stored")
        await self.dispatch("MESSAGE_UPDATE", edited)
        return edited

    # Interaction builders

    def slash_command_interaction(
        self,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        user_id: int,
        channel_id: int | None = None,
    ) -> FakeInteraction:
        """Build, without dispatching, a command such as ``"perspective summary"``."""
        return self.interactions.slash_command(
            command, options or {}, user_id=user_id, channel_id=channel_id
        )

    def button_click_interaction(
        self,
        custom_id: str,
        *,
        user_id: int,
        channel_id: int | None = None,
        message_id: int | None = None,
        component_type: int = 2,
        values: Sequence[str] | None = None,
    ) -> FakeInteraction:
        """Build (without dispatching) a component click on a stored message.

        Without ``message_id`` the newest message in the channel that has a
        component with ``custom_id`` is used. ``channel_id=None`` means the
        user's DM channel.
        """
        return self.interactions.component(
            custom_id,
            user_id=user_id,
            channel_id=channel_id,
            message_id=message_id,
            component_type=component_type,
            values=values,
        )

    async def dispatch_interaction(
        self, interaction: FakeInteraction
    ) -> FakeInteraction:
        """Dispatch INTERACTION_CREATE and start the response deadline clock."""
        interaction.dispatched_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction

    async def dispatch_slash_command(
        self,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        user_id: int,
        channel_id: int | None = None,
    ) -> FakeInteraction:
        interaction = self.slash_command_interaction(
            command, options, user_id=user_id, channel_id=channel_id
        )
        return await self.dispatch_interaction(interaction)

    async def dispatch_button_click(
        self,
        custom_id: str,
        *,
        user_id: int,
        channel_id: int | None = None,
        message_id: int | None = None,
    ) -> FakeInteraction:
        interaction = self.button_click_interaction(
            custom_id, user_id=user_id, channel_id=channel_id, message_id=message_id
        )
        return await self.dispatch_interaction(interaction)

    def responses_to(
        self, interaction: FakeInteraction
    ) -> list[InteractionResponseRecord]:
        return [
            r for r in self.interaction_responses if r.interaction_id == interaction.id
        ]


@contextlib.contextmanager
def point_discord_py_at(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base and gateway URL at the fake, then restore them.

    discord.py 2.x builds every REST URL from the class attribute
    ``discord.http.Route.BASE`` when a ``Route`` is created, and an unsharded
    ``Client`` opens its first gateway connection at
    ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (it does not call
    GET /gateway). Later connections use READY's ``resume_gateway_url``, which
    the fake sets to itself. No public parameter exists for either URL.
    """
    import discord.gateway
    import discord.http
    import yarl

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway
