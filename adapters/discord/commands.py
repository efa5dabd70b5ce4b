"""`/perspective` as a Discord app command group.

Each subcommand defers within Discord's 3-second window (an ephemeral
"thinking" state), runs the shared command layer, and answers with exactly
one followup: the result, or one error message. Results that belong in the
channel are posted there with the followup confirming it. Permission:
members with Manage Server or a configured research role, and study owners.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands

from adapters.base import Reply, TextReply
from adapters.discord.render import render
from adapters.errors import (
    ChannelUnavailableError,
    DeliveryError,
    MissingPermissionError,
)
from bot.commands import (
    CommandResult,
    CommandService,
    Invocation,
    ParsedCommand,
    usage,
)
from bot.errors import PerspectiveError

if TYPE_CHECKING:
    from adapters.discord.client import DiscordBot

log = logging.getLogger(__name__)

Interaction = discord.Interaction[discord.Client]
# Commands that make sense without a server: help only. The rest need the
# server's roles to check who is a researcher.
DM_COMMANDS = frozenset({"help"})


class CommandRunner:
    """Runs one interaction through the shared command layer."""

    def __init__(self, bot: DiscordBot) -> None:
        self.bot = bot

    def research_server_problem(self, interaction: Interaction) -> str | None:
        """Say why research commands are not allowed in this server, if so.

        Manage Server is a per-server permission, so with the bot in several
        servers an admin of any of them would otherwise see every study.
        """
        allowed = self.bot.settings.guild_ids
        guild = interaction.guild
        if guild is None:
            return None
        if allowed:
            if guild.id in allowed:
                return None
            return "Research commands are not enabled in this server."
        if len(self.bot.client.guilds) > 1:
            return (
                "I'm in several servers, so research commands are off until the "
                "bot's settings name the servers to use ([discord] guild_ids)."
            )
        return None

    def is_researcher(self, interaction: Interaction) -> bool:
        member = interaction.user
        settings = self.bot.settings
        if not isinstance(member, discord.Member):
            return False
        if self.research_server_problem(interaction) is not None:
            return False
        if (
            settings.manage_server_is_researcher
            and member.guild_permissions.manage_guild
        ):
            return True
        return any(role.id in settings.researcher_role_ids for role in member.roles)

    async def run(self, interaction: Interaction, command: ParsedCommand) -> None:
        if interaction.guild is None and command.name not in DM_COMMANDS:
            await interaction.response.send_message(
                f"`/perspective {command.name}` works in a server channel, where I can "
                "check your role. In direct messages I only run interviews.",
                ephemeral=True,
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        invocation = Invocation(
            platform="discord",
            workspace_id=str(interaction.guild_id or ""),
            user_id=str(interaction.user.id),
            channel_id=str(interaction.channel_id),
            is_direct_message=interaction.guild is None,
        )
        has_role = self.is_researcher(interaction)
        problem = self.research_server_problem(interaction)
        if problem is not None and command.name not in DM_COMMANDS:
            await self.followup(interaction, [TextReply(problem)])
            return

        async def researcher(inv: Invocation) -> bool:
            return has_role

        service = CommandService(
            self.bot.context, researcher, {"discord": self.bot.adapter}
        )
        try:
            result = await service.run(invocation, command)
            await self.publish(interaction, invocation, result)
        except PerspectiveError as error:
            await self.followup(interaction, [TextReply(str(error))])
        except Exception:
            log.exception("command %s failed", command.name)
            await self.followup(
                interaction,
                [TextReply("Something went wrong on my side; it has been logged.")],
            )

    async def followup(self, interaction: Interaction, replies: list[Reply]) -> None:
        for reply in replies:
            for message in render(reply):
                kwargs: dict[str, Any] = {"ephemeral": True}
                if message.content:
                    kwargs["content"] = message.content
                if message.embeds:
                    kwargs["embeds"] = message.embeds
                await interaction.followup.send(**kwargs)

    async def publish(
        self, interaction: Interaction, invocation: Invocation, result: CommandResult
    ) -> None:
        adapter = self.bot.adapter
        if result.form is not None:
            # Discord has no multi-field forms here: settings come as options.
            await self.followup(
                interaction,
                [
                    TextReply(
                        "Pass the settings to change as options of "
                        "`/perspective settings`, for example `researcher_name` or "
                        "`open_join`."
                    )
                ],
            )
            return
        if result.visibility == "private":
            await self.followup(interaction, result.replies or [TextReply("Done.")])
            return
        if result.visibility == "direct_message":
            for reply in result.replies:
                await adapter.send_direct_message(invocation.user_id, reply)
            await self.followup(interaction, [TextReply(result.note or "Sent to you.")])
            return
        target = result.target_channel or invocation.channel_id
        try:
            for reply in result.replies:
                await adapter.post_to_channel(target, reply)
        except (ChannelUnavailableError, MissingPermissionError) as error:
            log.info("cannot post to %s: %s", target, error)
            await self.followup(
                interaction,
                [
                    TextReply(
                        "I can't post in that channel: give me the View Channel, Send "
                        "Messages and Embed Links permissions there, then try again. "
                        "Nothing is lost: the result is saved."
                    )
                ],
            )
            return
        except DeliveryError as error:
            await self.followup(interaction, [TextReply(f"Posting failed ({error}).")])
            return
        await self.followup(interaction, [TextReply(f"Posted in <#{target}>.")])


def build_group(bot: DiscordBot) -> app_commands.Group:
    """Build the /perspective group; syncing it with Discord is a separate step."""
    runner = CommandRunner(bot)
    group = app_commands.Group(
        name="perspective",
        description="Run research interviews and read their results",
    )

    @group.command(name="help", description="Show what /perspective can do")
    async def help_command(interaction: Interaction) -> None:
        await interaction.response.send_message(usage()[:2000], ephemeral=True)

    @group.command(
        name="new", description="Start a study: draft a plan from a question"
    )
    @app_commands.describe(question="The research question", title="A short title")
    async def new(
        interaction: Interaction, question: str, title: str | None = None
    ) -> None:
        options = {"title": title} if title else {}
        await runner.run(interaction, ParsedCommand("new", [question], options))

    @group.command(name="plan", description="Show a study's plan and questions")
    async def plan(interaction: Interaction, study: str) -> None:
        await runner.run(interaction, ParsedCommand("plan", [study]))

    @group.command(name="questions", description="List or edit the interview questions")
    @app_commands.describe(
        action="What to do",
        text="Question text for add",
        number="Question number",
        to="New position for move",
    )
    async def questions(
        interaction: Interaction,
        study: str,
        action: Literal[
            "list", "add", "remove", "move", "mandatory", "optional"
        ] = "list",
        text: str | None = None,
        number: int | None = None,
        to: int | None = None,
    ) -> None:
        arguments = [study]
        if action != "list":
            arguments.append(action)
            arguments += [
                str(v) for v in (text, number, to) if v is not None and v != ""
            ]
        await runner.run(interaction, ParsedCommand("questions", arguments))

    @group.command(name="settings", description="Set what participants see")
    async def settings(
        interaction: Interaction,
        study: str,
        researcher_name: str | None = None,
        welcome: str | None = None,
        call_to_action: str | None = None,
        contact: str | None = None,
        open_join: bool | None = None,
        access: Literal["researchers", "team", "workspace"] | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "researcher_name": researcher_name,
            "welcome_message": welcome,
            "call_to_action": call_to_action,
            "contact": contact,
            "require_known_participants": None if open_join is None else not open_join,
            "access_level": access,
        }
        changes = {k: v for k, v in fields.items() if v is not None}
        await runner.run(
            interaction, ParsedCommand("settings", [study], values=changes)
        )

    @group.command(
        name="invite", description="Invite members who agreed to be contacted"
    )
    @app_commands.describe(
        users="Mentions or user ids, separated by spaces",
        segment="Segment label, such as escalated customer",
        at="Send time, YYYY-MM-DDTHH:MM in each member's time",
        days_after_resolution="Send this many days after the case was resolved",
    )
    async def invite(
        interaction: Interaction,
        study: str,
        users: str | None = None,
        segment: str | None = None,
        case_type: str | None = None,
        outcome: str | None = None,
        at: str | None = None,
        days_after_resolution: float | None = None,
    ) -> None:
        options = {
            "segment": segment,
            "case_type": case_type,
            "outcome": outcome,
            "at": at,
            "days_after_resolution": (
                None if days_after_resolution is None else str(days_after_resolution)
            ),
        }
        arguments = [study, *(users or "").split()]
        given = {k: v for k, v in options.items() if v is not None}
        await runner.run(interaction, ParsedCommand("invite", arguments, given))

    @group.command(name="post-invite", description="Post a Start interview button")
    async def post_invite(
        interaction: Interaction, study: str, channel: discord.TextChannel
    ) -> None:
        await runner.run(
            interaction, ParsedCommand("link", [study], {"channel": str(channel.id)})
        )

    @group.command(name="status", description="Who was invited, started, completed")
    async def status(interaction: Interaction, study: str) -> None:
        await runner.run(interaction, ParsedCommand("status", [study]))

    @group.command(
        name="summary", description="Post the summary of completed interviews"
    )
    async def summary(
        interaction: Interaction, study: str | None = None, segment: str | None = None
    ) -> None:
        options = {"segment": segment} if segment else {}
        await runner.run(
            interaction, ParsedCommand("summary", [study] if study else [], options)
        )

    @group.command(name="ask", description="Ask a question of the interview data")
    async def ask(interaction: Interaction, study: str, question: str) -> None:
        await runner.run(interaction, ParsedCommand("ask", [study, question]))

    @group.command(
        name="export", description="Upload transcripts and summary as a file"
    )
    async def export(
        interaction: Interaction,
        study: str,
        format: Literal["json", "csv", "md"] = "json",
    ) -> None:
        await runner.run(interaction, ParsedCommand("export", [study, format]))

    @group.command(name="close", description="Close a study")
    async def close(interaction: Interaction, study: str) -> None:
        await runner.run(interaction, ParsedCommand("close", [study]))

    return group
