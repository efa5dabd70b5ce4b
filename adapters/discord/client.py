"""The Discord bot: a discord.py client wired to the conversation service.

Intents: only `guilds` and `dm_messages`, neither of them privileged.
Discord documents that an app without the message content intent still
gets the content of direct messages with it, of messages that mention it,
and of its own messages. Interviews happen in DMs, so the bot never needs
that privileged intent.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import discord
import yarl
from discord import app_commands

from adapters import texts
from adapters.base import InboundMessage, InterviewReply
from adapters.discord.adapter import DiscordAdapter
from adapters.discord.render import ANSWER_PREFIX, START_PREFIX
from adapters.errors import DeliveryError, RecipientUnreachableError
from bot.config import DiscordSettings
from bot.context import AppContext
from bot.errors import ConfigError, NotFoundError
from bot.platform import PlatformRuntime
from bot.services.conversation import StoredReply
from interview_engine.models import ParticipantExperience
from storage import Participant, Study, StudyStatus

log = logging.getLogger(__name__)

# Discord DMs belong to no server, so Discord participants share one
# workspace id and are identified by their user id alone.
DM_WORKSPACE = ""
READY_TIMEOUT_SECONDS = 60.0
REQUIRED_CHANNEL_PERMISSIONS = ("view_channel", "send_messages", "embed_links")


def intents() -> discord.Intents:
    chosen = discord.Intents.none()
    chosen.guilds = True
    chosen.dm_messages = True
    return chosen


def apply_urls(settings: DiscordSettings) -> None:
    """Point discord.py at the configured REST and gateway addresses.

    discord.py reads both from class attributes, so the setting applies to
    every client in the process.
    """
    import discord.gateway
    import discord.http

    if settings.api_base:
        discord.http.Route.BASE = settings.api_base.rstrip("/")
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
            settings.gateway_url
        )


class StartButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=re.escape(START_PREFIX) + r"(?P<code>[a-z0-9]+)",
):
    """The Start interview button; its custom id names the study, so it works
    on any message, also after a restart."""

    def __init__(self, code: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Start interview",
                style=discord.ButtonStyle.primary,
                custom_id=f"{START_PREFIX}{code}",
            )
        )
        self.code = code

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[discord.Client],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> StartButton:
        return cls(match["code"])

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        client = interaction.client
        assert isinstance(client, PerspectiveClient)
        await client.bot.start_clicked(interaction, self.code)


class AnswerButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=re.escape(ANSWER_PREFIX) + r"(?P<value>.+)",
):
    """An answer button under an interview question (Yes, No...)."""

    def __init__(self, value: str) -> None:
        super().__init__(
            discord.ui.Button(label=value[:80], custom_id=f"{ANSWER_PREFIX}{value}")
        )
        self.value = value

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[discord.Client],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> AnswerButton:
        return cls(match["value"])

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        client = interaction.client
        assert isinstance(client, PerspectiveClient)
        await client.bot.answer_clicked(interaction, self.value)


class PerspectiveClient(discord.Client):
    def __init__(self, bot: DiscordBot) -> None:
        # No message of the bot may ping anyone: texts include what
        # researchers and participants typed.
        super().__init__(
            intents=intents(), allowed_mentions=discord.AllowedMentions.none()
        )
        self.bot = bot
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(StartButton, AnswerButton)
        from adapters.discord.commands import build_group

        self.tree.add_command(build_group(self.bot))

    async def on_ready(self) -> None:
        await self.bot.on_ready()

    async def on_message(self, message: discord.Message) -> None:
        await self.bot.on_message(message)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        await self.bot.on_edit(payload)

    async def on_raw_message_delete(
        self, payload: discord.RawMessageDeleteEvent
    ) -> None:
        await self.bot.on_delete(payload)


class DiscordBot:
    """Runs the Discord side of Perspective."""

    def __init__(
        self, context: AppContext, settings: DiscordSettings, *, token: str
    ) -> None:
        self.context = context
        self.settings = settings
        self.token = token
        apply_urls(settings)
        self.client = PerspectiveClient(self)
        self.adapter = DiscordAdapter(self.client)
        self._ready = asyncio.Event()
        self._started_once = False
        self._connection: asyncio.Task[None] | None = None
        self.runtime = PlatformRuntime(
            context, "discord", self._send, settings.reply_delay_seconds
        )
        self._asked_for_text: dict[int, float] = {}

    # -- lifecycle -------------------------------------------------------------

    async def login(self) -> None:
        try:
            await self.client.login(self.token)
        except discord.LoginFailure as error:
            raise ConfigError(
                f"Discord rejected the bot token. Check {self.settings.bot_token_env} "
                "(Developer Portal > your application > Bot > Reset Token)."
            ) from error

    async def start(self) -> None:
        """Log in, connect to the gateway and wait until ready."""
        await self.login()
        self._connection = asyncio.create_task(self._connect())
        ready = asyncio.create_task(self._ready.wait())
        done, _pending = await asyncio.wait(
            {ready, self._connection},
            timeout=READY_TIMEOUT_SECONDS,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._connection in done:
            ready.cancel()
            self._connection.result()  # raises the connection's error
        if ready not in done:
            ready.cancel()
            raise ConfigError("Discord did not become ready within a minute.")
        log.info("Discord: connected as %s", self.client.user)

    async def _connect(self) -> None:
        try:
            await self.client.connect(reconnect=True)
        except discord.PrivilegedIntentsRequired as error:
            raise ConfigError(
                "Discord rejected the gateway intents. Perspective needs only the "
                "Guilds and Direct Messages intents, which are not privileged; "
                "check the application's Bot settings."
            ) from error

    async def stop(self) -> None:
        await self.client.close()
        if self._connection is not None:
            try:
                await self._connection
            except Exception:
                log.exception("Discord connection ended with an error")
        await self.runtime.stop()
        log.info("Discord: stopped")

    async def on_ready(self) -> None:
        # on_ready fires again after a reconnect that could not resume: the
        # start-up work must run once per process.
        self._ready.set()
        if self._started_once:
            log.info("Discord: ready again after a reconnect")
            return
        self._started_once = True
        self.check_permissions()
        # Answer what a crash left unanswered, and resend what it left unsent.
        self.spawn(self.runtime.sweep(grace=timedelta(0)), "recover Discord interviews")
        self.runtime.start_sweeper()

    def check_permissions(self) -> None:
        """Log, per server, which permission the bot lacks in which channel."""
        for guild in self.client.guilds:
            me = guild.me
            if me is None:
                continue
            for channel in guild.text_channels:
                permissions = channel.permissions_for(me)
                missing = [
                    p
                    for p in REQUIRED_CHANNEL_PERMISSIONS
                    if not getattr(permissions, p)
                ]
                if missing and permissions.view_channel:
                    log.warning(
                        "Discord: in %s #%s the bot lacks %s",
                        guild.name,
                        channel.name,
                        ", ".join(missing),
                    )

    async def sync_commands(self, guild_id: int | None = None) -> list[str]:
        """Register the /perspective commands with Discord (an explicit step)."""
        tree = self.client.tree
        if guild_id is None:
            synced = await tree.sync()
        else:
            guild = discord.Object(id=guild_id)
            tree.copy_global_to(guild=guild)
            synced = await tree.sync(guild=guild)
        return [command.name for command in synced]

    # -- background work -------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        self.runtime.spawn(work, what)

    async def drain(self) -> None:
        await self.runtime.drain()

    async def _send(self, reply: StoredReply, thread_ts: str | None) -> list[str]:
        return await self.adapter.post_to_channel(
            reply.channel_id, InterviewReply(reply.message)
        )

    # -- direct messages -------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is not None:
            return
        if self.client.user is not None and message.author.id == self.client.user.id:
            return
        if not message.content.strip():
            # Attachments and empty messages never reach the model; only a
            # participant is asked for words, and at most once a minute.
            log.debug("DM without text from %s", message.author.id)
            if await self._in_interview(
                str(message.author.id), str(message.channel.id)
            ):
                now = time.monotonic()
                if now - self._asked_for_text.get(message.author.id, -60.0) >= 60.0:
                    self._asked_for_text[message.author.id] = now
                    await self._say(
                        message.channel,
                        "I can only read text. Could you type your answer as a "
                        "message?",
                    )
            return
        inbound = InboundMessage(
            platform="discord",
            workspace_id=DM_WORKSPACE,
            user_id=str(message.author.id),
            channel_id=str(message.channel.id),
            text=message.content,
            message_id=str(message.id),
            display_name=message.author.display_name,
        )
        result = await self.context.conversations.accept(inbound)
        if result.status == "duplicate":
            return
        if result.status == "no_interview":
            self.spawn(self.welcome_stranger(message), "reply to a stranger")
            return
        assert result.interview_id is not None
        self.spawn(self.reply(result.interview_id, message.channel), "interview reply")

    async def _in_interview(self, user_id: str, channel_id: str) -> bool:
        return await self.context.conversations.has_open_interview(
            "discord", DM_WORKSPACE, user_id, channel_id
        )

    async def _say(self, channel: discord.abc.Messageable, text: str) -> None:
        try:
            await channel.send(text)
        except discord.HTTPException as error:
            log.warning("sending a notice failed: %s", error)

    async def reply(self, interview_id: int, channel: discord.abc.Messageable) -> None:
        """Answer once the participant pauses; Discord shows "typing" meanwhile."""
        await self.runtime.reply(interview_id, working=channel.typing)

    async def on_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if payload.guild_id is not None:
            return
        data = payload.data
        author = (data.get("author") or {}).get("id")
        content = data.get("content")
        if author is None or content is None:
            return
        await self.context.conversations.apply_edit(
            "discord", str(author), str(payload.message_id), str(content)
        )

    async def on_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            return
        await self.context.conversations.apply_edit(
            "discord", None, str(payload.message_id), None
        )

    async def welcome_stranger(self, message: discord.Message) -> None:
        await self.runtime.welcome_stranger(
            str(message.author.id),
            DM_WORKSPACE,
            str(message.channel.id),
            message.content,
            self.adapter.post_to_channel,
        )

    async def start_interview(
        self, study: Study, participant: Participant, channel_id: str
    ) -> str:
        started = await self.runtime.start_interview(
            study, participant, channel_id, self.adapter.post_to_channel
        )
        return started.status

    # -- buttons ---------------------------------------------------------------

    async def join(self, user: discord.abc.User, join_code: str) -> str | None:
        """Start the user's interview; return a refusal message, if any."""
        try:
            study = await self.context.studies.get(join_code)
        except NotFoundError:
            return "This study no longer exists."
        if study.status != StudyStatus.ACTIVE:
            return "This study has closed. Thank you for your interest!"
        participants = self.context.participants
        participant = await participants.find(
            study, "discord", DM_WORKSPACE, str(user.id)
        )
        experience = ParticipantExperience.model_validate(study.experience)
        if participant is None and experience.require_known_participants:
            return texts.INVITATION_ONLY
        participant = await participants.ensure(
            study,
            platform="discord",
            workspace_id=DM_WORKSPACE,
            user_id=str(user.id),
            display_name=user.display_name,
            consent=True,
        )
        try:
            channel = await self.adapter.open_direct_message(str(user.id))
        except RecipientUnreachableError:
            return (
                "I can't send you direct messages. Allow direct messages from server "
                "members (User Settings > Privacy & Safety), then press Start again."
            )
        status = await self.start_interview(study, participant, str(channel.id))
        return {
            "started": "I've sent you a direct message. Let's talk there!",
            "busy": texts.BUSY,
            "already_completed": texts.ALREADY_COMPLETED,
            "study_closed": texts.STUDY_CLOSED,
        }.get(status, "Check your direct messages with me: we were in the middle.")

    async def start_clicked(
        self, interaction: discord.Interaction[Any], code: str
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            note = await self.join(interaction.user, code)
        except DeliveryError as error:
            log.warning("start for %s failed: %s", interaction.user.id, error)
            note = "I couldn't open a direct message with you. Please try again later."
        await interaction.followup.send(note or "Started.", ephemeral=True)

    async def answer_clicked(
        self, interaction: discord.Interaction[Any], value: str
    ) -> None:
        # Answering by editing the message removes its buttons, so they
        # cannot be pressed twice.
        await interaction.response.edit_message(view=None)
        message_id = str(interaction.message.id) if interaction.message else ""
        inbound = InboundMessage(
            platform="discord",
            workspace_id=DM_WORKSPACE,
            user_id=str(interaction.user.id),
            channel_id=str(interaction.channel_id),
            text=value,
            # One answer per message with buttons; later presses are dropped.
            message_id=f"buttons:{message_id or interaction.id}",
            reply_to=message_id or None,
        )
        result = await self.context.conversations.accept(inbound)
        if result.status == "stored" and result.interview_id is not None:
            self.spawn(self.runtime.reply(result.interview_id), "answer button")
