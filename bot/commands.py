"""`/perspective` subcommands, shared by every chat platform.

A platform turns its own command payload into an `Invocation` and a
`ParsedCommand` (Slack parses the command text, Discord reads typed
options), and renders the `CommandResult` it gets back. Permission checks,
study lookup and argument errors happen here, once, with the same messages
everywhere.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from adapters.base import (
    Adapter,
    AnswerReply,
    FileReply,
    InvitationReply,
    PlanReply,
    Reply,
    StatusReply,
    SummaryReply,
    TextReply,
)
from bot.context import AppContext
from bot.errors import InvalidInputError, PermissionDeniedError, PerspectiveError
from bot.export import FORMATS, export_study
from bot.scheduling.invitations import InviteRequest, PlannedInvitation
from bot.scheduling.send_times import SendTime
from bot.services.studies import experience_of, plan_of, questions_of, settings_of
from interview_engine import plans
from interview_engine.models import AccessLevel
from storage import Study, StudyStatus

log = logging.getLogger(__name__)

COMMAND = "/perspective"

# name -> (syntax, what it does); the order is the order of the help text.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "help": ("help [COMMAND]", "Show this help, or the help of one command."),
    "new": (
        'new ["QUESTION"]',
        "Start a study: draft a research plan from a question.",
    ),
    "plan": ("plan STUDY", "Show a study's plan and questions, with edit buttons."),
    "questions": (
        'questions STUDY [add "TEXT" | remove N | move N TO | mandatory N '
        "| optional N]",
        "List or edit the interview questions.",
    ),
    "settings": (
        "settings STUDY",
        "Edit what participants see: welcome, researcher, closing.",
    ),
    "invite": (
        'invite STUDY @person... --segment "SEGMENT" [--case-type T] [--outcome O] '
        "[--resolved-at YYYY-MM-DD] "
        "[--at YYYY-MM-DDTHH:MM | --days-after-resolution N]",
        "Invite people to be interviewed in a direct message.",
    ),
    "link": ("link STUDY", "Post a Start interview button that anyone here can use."),
    "status": ("status STUDY", "Show who was invited, started, completed, opted out."),
    "summary": (
        'summary [STUDY] [--segment "SEGMENT"]',
        "Post the summary of completed interviews here.",
    ),
    "ask": ('ask STUDY "QUESTION"', "Ask a question of the interview data."),
    "export": (
        "export STUDY [json|csv|md]",
        "Upload transcripts and summary as a file.",
    ),
    "close": ("close STUDY", "Close a study: no new interviews start."),
}
# Commands whose work can take longer than a platform's 3-second window.
SLOW_COMMANDS = frozenset({"new", "summary", "ask", "export", "invite"})
# Commands anyone may use; everything else needs the researcher role.
OPEN_COMMANDS = frozenset({"help"})

# Slack writes <@U123|name> and <#C123|name>; Discord writes <@123>, <@!123>.
_MENTION = re.compile(r"^<(?:@!?|#|!)([A-Z0-9]+)(?:\|[^>]*)?>$")
_USER_ID = re.compile(r"^[A-Z0-9]{2,32}$")
_SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


class UsageError(InvalidInputError):
    """Raised when a subcommand is unknown or its arguments do not fit."""


@dataclass(frozen=True)
class Invocation:
    """The user, workspace and channel of one command."""

    platform: str
    workspace_id: str
    user_id: str
    channel_id: str
    is_direct_message: bool = False


@dataclass
class ParsedCommand:
    """A subcommand with its arguments; `values` holds typed settings that a
    platform with typed options (Discord) passes directly."""

    name: str
    arguments: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    values: dict[str, object] = field(default_factory=dict)


Visibility = Literal["private", "channel", "direct_message"]


@dataclass
class CommandResult:
    """What to show: replies and where, or a form (modal) to open."""

    replies: list[Reply] = field(default_factory=list)
    visibility: Visibility = "private"
    note: str | None = None  # a private line shown next to a channel post
    form: Literal["new", "settings", "plan", "questions"] | None = None
    study: Study | None = None
    target_channel: str | None = None  # post here instead of the invoking channel


ResearcherCheck = Callable[[Invocation], Awaitable[bool]]


def usage(name: str | None = None) -> str:
    """Return the help text of one subcommand, or of all of them."""
    if name in SUBCOMMANDS:
        syntax, summary = SUBCOMMANDS[name]
        return f"`{COMMAND} {syntax}`\n{summary}"
    lines = [f"*{COMMAND}* runs research interviews. Commands:"]
    lines += [
        f"• `{COMMAND} {syntax}`: {summary}" for syntax, summary in SUBCOMMANDS.values()
    ]
    lines.append("STUDY is a study's number or join code.")
    return "\n".join(lines)


def parse(text: str) -> ParsedCommand:
    """Split command text into subcommand, arguments and --options.

    Raises:
        UsageError: Unbalanced quotes, an unknown subcommand, or an option
            without a value.
    """
    try:
        tokens = shlex.split(text.translate(_SMART_QUOTES))
    except ValueError as error:
        raise UsageError(
            f"Could not read the command: {error}. Check the quotes."
        ) from error
    if not tokens:
        return ParsedCommand("help")
    name = tokens[0].lower()
    if name not in SUBCOMMANDS:
        raise UsageError(f"Unknown command “{tokens[0]}”.\n\n{usage()}")
    parsed = ParsedCommand(name)
    index = 1
    while index < len(tokens):
        token = tokens[index]
        if token.startswith("--"):
            key, has_value, value = token[2:].partition("=")
            if not has_value:
                index += 1
                if index >= len(tokens):
                    raise UsageError(f"--{key} needs a value.\n\n{usage(name)}")
                value = tokens[index]
            parsed.options[key.replace("-", "_")] = value
        else:
            parsed.arguments.append(token)
        index += 1
    return parsed


def mentioned_id(token: str) -> str | None:
    """Return the user or channel id in a Slack mention such as <@U123|ana>."""
    match = _MENTION.match(token)
    return match.group(1) if match else None


def _number(value: str, what: str, name: str) -> int:
    try:
        return int(value)
    except ValueError as error:
        raise UsageError(
            f"{what} must be a number, got “{value}”.\n\n{usage(name)}"
        ) from error


def plan_reply(study: Study) -> PlanReply:
    assert study.id is not None
    questions = questions_of(study)
    return PlanReply(
        study_id=study.id,
        title=study.title,
        research_question=study.research_question,
        status=study.status,
        join_code=study.join_code,
        plan=plan_of(study),
        questions=questions,
        advice=plans.mandatory_advice(questions),
    )


def invitation_text(study: Study) -> str:
    experience = experience_of(study)
    minutes = round(study.interview_settings.get("max_minutes", 15))
    return (
        f"{experience.conversation_title}\n{experience.researcher_name} would like "
        f"to hear about your experience. An AI interviewer asks a few questions in a "
        f"direct message; it takes about {minutes} minutes and you can stop at "
        "any time."
    )


class CommandService:
    """Runs parsed subcommands against the services, with permission checks."""

    def __init__(
        self,
        context: AppContext,
        is_researcher: ResearcherCheck,
        adapters: Mapping[str, Adapter] | None = None,
    ) -> None:
        self.context = context
        self.is_researcher = is_researcher
        self.adapters = adapters or {}

    async def run(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        """Run one subcommand; PerspectiveError messages are for the user."""
        allowed = command.name in OPEN_COMMANDS or await self.is_researcher(invocation)
        if not allowed and not await self._owns_named_study(invocation, command):
            raise PermissionDeniedError(
                f"Only researchers can use `{COMMAND} {command.name}`. Ask an "
                "admin to add you to the researchers in the bot's settings "
                "([access] researcher_ids or researcher_usergroup on Slack, "
                "[discord] researcher_role_ids on Discord)."
            )
        handler = getattr(self, f"_{command.name}")
        result: CommandResult = await handler(invocation, command)
        log.info(
            "command %s by %s:%s in %s",
            command.name,
            invocation.platform,
            invocation.user_id,
            invocation.channel_id,
        )
        return result

    async def _owns_named_study(
        self, invocation: Invocation, command: ParsedCommand
    ) -> bool:
        """Let the owner of a study manage that study (and only that one)."""
        if command.name == "new" or not command.arguments:
            return False
        try:
            study = await self.context.studies.get(command.arguments[0])
        except PerspectiveError:
            return False
        return (
            study.owner_platform == invocation.platform
            and study.owner_id == invocation.user_id
        )

    async def study(self, command: ParsedCommand, *, optional: bool = False) -> Study:
        """Find the study named by the first argument (or the latest active one)."""
        if command.arguments:
            return await self.context.studies.get(command.arguments[0])
        if optional:
            active = [
                s for s in await self.context.studies.all() if s.status == "active"
            ]
            if active:
                return active[-1]
            raise UsageError(
                "There is no active study yet. Start one with `/perspective new`."
            )
        raise UsageError(
            f"Which study? Give its number or join code.\n\n{usage(command.name)}"
        )

    async def _help(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        name = command.arguments[0] if command.arguments else None
        return CommandResult([TextReply(usage(name))])

    async def _new(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        if not command.arguments:
            return CommandResult(form="new")
        question = " ".join(command.arguments)
        study = await self.create_study(
            invocation, question, command.options.get("title")
        )
        return CommandResult([plan_reply(study)], study=study)

    async def create_study(
        self, invocation: Invocation, question: str, title: str | None
    ) -> Study:
        study = await self.context.studies.create(
            question,
            title=title,
            owner_platform=invocation.platform,
            owner_id=invocation.user_id,
        )
        if not invocation.is_direct_message:
            study = await self.context.studies.set_team_channel(
                study.id or 0, f"{invocation.platform}:{invocation.channel_id}"
            )
        return study

    async def _plan(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        study = await self.study(command)
        return CommandResult([plan_reply(study)], study=study)

    async def _questions(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        study = await self.study(command)
        rest = command.arguments[1:]
        if not rest:
            return CommandResult([plan_reply(study)], study=study)
        action, values = rest[0].lower(), rest[1:]
        reference = study.id or 0
        if action == "add" and values:
            study = await self.context.studies.add_question(reference, " ".join(values))
        elif action == "remove" and len(values) == 1:
            number = _number(values[0], "The question number", "questions")
            study = await self.context.studies.change_questions(
                reference, lambda qs: plans.remove_question(qs, number)
            )
        elif action == "move" and len(values) == 2:
            number = _number(values[0], "The question number", "questions")
            to = _number(values[1], "The new position", "questions")
            study = await self.context.studies.change_questions(
                reference, lambda qs: plans.move_question(qs, number, to)
            )
        elif action in ("mandatory", "optional") and len(values) == 1:
            number = _number(values[0], "The question number", "questions")
            limits = settings_of(study)
            study = await self.context.studies.change_questions(
                reference,
                lambda qs: plans.set_mandatory(
                    qs, number, action == "mandatory", limits
                ),
            )
        else:
            raise UsageError(f"I could not read that.\n\n{usage('questions')}")
        return CommandResult([plan_reply(study)], study=study)

    async def _settings(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        study = await self.study(command)
        if not command.values:
            return CommandResult(form="settings", study=study)
        study = await self.context.studies.set_experience(
            study.id or 0, **command.values
        )
        experience = experience_of(study)
        lines = [f"Saved the participant experience of study {study.id}:"]
        lines += [f"• {name}: {getattr(experience, name)}" for name in command.values]
        return CommandResult([TextReply("\n".join(lines))], study=study)

    async def _link(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        study = await self.study(command)
        if study.status != StudyStatus.ACTIVE:
            raise InvalidInputError(f"Study {study.id} is closed; reopen it first.")
        reply = InvitationReply(invitation_text(study), study.id or 0, study.join_code)
        return CommandResult(
            [reply],
            visibility="channel",
            study=study,
            target_channel=command.options.get("channel"),
        )

    async def _status(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        study = await self.study(command)
        report = await self.context.scheduling.status(study)
        counts = {
            name.replace("_", " "): count for name, count in report.counts.items()
        }
        details = [f"{r.status}: {r.reason} ({r.count})" for r in report.reasons]
        if report.next_due_at is not None:
            details.append(f"next message due {report.next_due_at:%Y-%m-%d %H:%M} UTC")
        return CommandResult(
            [StatusReply(study.id or 0, study.title, counts, details)], study=study
        )

    def results_visibility(self, invocation: Invocation, study: Study) -> CommandResult:
        """Decide where results may go under the study's access level."""
        level = experience_of(study).access_level
        here = f"{invocation.platform}:{invocation.channel_id}"
        if invocation.is_direct_message or level == AccessLevel.WORKSPACE:
            return CommandResult(visibility="channel")
        if level == AccessLevel.TEAM and study.team_channel in (None, here):
            return CommandResult(visibility="channel")
        where = (
            "only in the study's team channel"
            if level == AccessLevel.TEAM
            else "only to researchers"
        )
        return CommandResult(
            visibility="direct_message",
            note=(
                f"This study's results may be shared {where} (access level "
                f"“{level.value}”), so I sent them to you in a direct message. "
                "Change the access level in the study's settings to post here."
            ),
        )

    async def _summary(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        study = await self.study(command, optional=True)
        segment = command.options.get("segment")
        stored = await self.context.results.summarise(study, segment=segment)
        result = self.results_visibility(invocation, study)
        result.replies = [SummaryReply(stored.report)]
        result.study = study
        return result

    async def _ask(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        study = await self.study(command)
        question = " ".join(command.arguments[1:]).strip()
        if not question:
            raise UsageError(f"What is the question?\n\n{usage('ask')}")
        answer = await self.context.results.ask(study, question)
        return CommandResult([AnswerReply(answer)], study=study)

    async def _export(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        study = await self.study(command)
        export_format = (
            command.arguments[1] if len(command.arguments) > 1 else "json"
        ).lower()
        if export_format not in FORMATS:
            raise UsageError(f"Unknown format “{export_format}”: use json, csv or md.")
        chosen = next(f for f in FORMATS if f == export_format)
        content = await export_study(self.context.results, study, chosen)
        reply = FileReply(
            filename=f"study-{study.id}.{chosen}",
            content=content,
            title=f"{study.title} ({chosen})",
            comment=f"Export of study {study.id}: transcripts and the latest summary.",
        )
        result = self.results_visibility(invocation, study)
        result.replies = [reply]
        result.study = study
        return result

    async def _close(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        study = await self.study(command)
        study = await self.context.studies.set_status(study.id or 0, StudyStatus.CLOSED)
        return CommandResult(
            [
                TextReply(
                    f"Study {study.id} “{study.title}” is closed. "
                    "Open interviews may finish."
                )
            ],
            study=study,
        )

    async def _invite(
        self, invocation: Invocation, command: ParsedCommand
    ) -> CommandResult:
        study = await self.study(command)
        users: list[str] = []
        for token in command.arguments[1:]:
            user = mentioned_id(token) or token.lstrip("@")
            if not _USER_ID.match(user):
                raise UsageError(
                    f"“{token}” is not a user: mention people with @.\n\n"
                    f"{usage('invite')}"
                )
            users.append(user)
        options = command.options
        if not users and not options.get("segment"):
            raise UsageError(f"Whom should I invite?\n\n{usage('invite')}")
        if invocation.platform == "discord":
            users = await self._consenting(study, users)
        request = InviteRequest(
            platform=invocation.platform,
            user_ids=users,
            segment=options.get("segment"),
            case_type=options.get("case_type"),
            outcome=options.get("outcome"),
            resolved_at=_date(options.get("resolved_at"), "--resolved-at"),
            template=options.get("template"),
            send_time=SendTime(
                at=_date(options.get("at"), "--at", aware=False),
                days_after_resolution=_float(options.get("days_after_resolution")),
            ),
        )
        planned = await self.context.scheduling.invite(
            study, request, adapters=self.adapters
        )
        return CommandResult([TextReply(_invite_summary(study, planned))], study=study)

    async def _consenting(self, study: Study, users: list[str]) -> list[str]:
        """Keep Discord users who gave consent; Discord forbids unsolicited DMs."""
        allowed: list[str] = []
        for user in users:
            found = await self.context.participants.find(study, "discord", "", user)
            if found is not None and found.consent:
                allowed.append(user)
        if users and not allowed:
            raise InvalidInputError(
                "Discord does not allow unsolicited direct messages, and none of them "
                "has agreed to be contacted. Post a Start button with "
                "`/perspective post-invite` instead."
            )
        return allowed


def _date(value: str | None, option: str, *, aware: bool = True) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise UsageError(
            f"{option} needs a date such as 2026-12-07 or 2026-12-07T09:30, "
            f"got “{value}”."
        ) from error
    if aware and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError as error:
        raise UsageError(
            f"--days-after-resolution needs a number, got “{value}”."
        ) from error
    if not 0 <= number <= 365:
        raise UsageError("--days-after-resolution must be between 0 and 365.")
    return number


def _invite_summary(study: Study, planned: list[PlannedInvitation]) -> str:
    scheduled = [p for p in planned if p.skipped is None]
    skipped = [p for p in planned if p.skipped is not None]
    lines = [f"Study {study.id}: {len(scheduled)} invitations scheduled."]
    for item in scheduled[:20]:
        when = item.local_due_at
        at = f"{when:%a %d %b %H:%M} ({item.time_zone})" if when else "now"
        lines.append(f"• {item.name or item.user_id}: {at}")
    if len(scheduled) > 20:
        lines.append(f"• and {len(scheduled) - 20} more")
    for item in skipped[:20]:
        lines.append(f"• skipped {item.name or item.user_id}: {item.skipped}")
    if len(skipped) > 20:
        lines.append(f"• and {len(skipped) - 20} more skipped")
    return "\n".join(lines)


__all__ = [
    "COMMAND",
    "CommandResult",
    "CommandService",
    "Invocation",
    "ParsedCommand",
    "SLOW_COMMANDS",
    "SUBCOMMANDS",
    "UsageError",
    "mentioned_id",
    "parse",
    "usage",
]
