"""The contract between platform adapters and the bot's services.

Every platform module has the same shape: one inward conversion (a platform
payload to an `InboundMessage`), one outward conversion (a `Reply` to the
platform's calls), and one class with the role name `...Adapter` that
implements `Adapter`. The services never see a platform type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from interview_engine.models import OutgoingMessage, Question, ResearchPlan
from interview_engine.report import AnswerReport, SummaryReport
from storage.types import utcnow


@dataclass(frozen=True)
class InboundMessage:
    """A participant's direct message, stripped of its platform's shape.

    Attributes:
        platform: "slack", "discord", "console" or "simulated".
        workspace_id: The Slack team or Discord guild context ("" for DMs
            that have none).
        user_id: The platform's user id of the sender.
        channel_id: Where to reply (the DM channel).
        text: The message text exactly as received.
        message_id: The platform's id of this message (a Slack ts, a Discord
            snowflake), unique within the channel.
        event_key: The platform's id of this delivery when it has one (a
            Slack event_id), used with message_id to drop redeliveries.
        thread_id: The thread the message was posted in, if any.
        reply_to: For a button press, the platform id of the message that
            carried the button; the answer counts only if that message is
            still the interviewer's latest.
    """

    platform: str
    workspace_id: str
    user_id: str
    channel_id: str
    text: str
    message_id: str
    event_key: str | None = None
    thread_id: str | None = None
    display_name: str | None = None
    reply_to: str | None = None
    received_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class UserInfo:
    user_id: str
    display_name: str
    time_zone: str | None = None
    reachable: bool = True
    reason: str | None = None  # why the user cannot be reached, if not
    is_bot: bool = False


@dataclass(frozen=True)
class TextReply:
    text: str


@dataclass(frozen=True)
class InterviewReply:
    """An interviewer message, possibly with answer buttons."""

    message: OutgoingMessage


@dataclass(frozen=True)
class InvitationReply:
    """An invitation to a study's interview, with Start and Not now choices.

    Adapters render a Start button whose value is `join_code`; clicking it,
    or replying to the message, starts the interview.
    """

    text: str
    study_id: int
    join_code: str


@dataclass(frozen=True)
class PlanReply:
    """A study's plan and guide, rendered with edit controls where possible."""

    study_id: int
    title: str
    research_question: str
    status: str
    join_code: str
    plan: ResearchPlan
    questions: list[Question]
    advice: str | None = None


@dataclass(frozen=True)
class StatusReply:
    """Counts of a study's participants by state, with reasons for failures."""

    study_id: int
    title: str
    counts: dict[str, int]
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FileReply:
    """A file to upload, such as an export."""

    filename: str
    content: str
    title: str
    comment: str = ""


@dataclass(frozen=True)
class SummaryReply:
    report: SummaryReport


@dataclass(frozen=True)
class AnswerReply:
    report: AnswerReport


@dataclass(frozen=True)
class ChartReply:
    """A PNG image with a title and a text description for screen readers."""

    title: str
    png: bytes
    alt_text: str


Reply = (
    TextReply
    | InterviewReply
    | InvitationReply
    | PlanReply
    | StatusReply
    | FileReply
    | SummaryReply
    | AnswerReply
    | ChartReply
)


class Adapter(Protocol):
    """What every platform adapter provides to the services."""

    platform: str

    async def send_direct_message(self, user_id: str, reply: Reply) -> list[str]:
        """Send a reply in the user's DM; return the platform ids of the
        messages sent (a long reply can take several)."""
        ...

    async def post_to_channel(self, channel_id: str, reply: Reply) -> list[str]:
        """Post a reply to a channel; return the platform message ids."""
        ...

    async def lookup_user(self, user_id: str) -> UserInfo:
        """Return the user's name, time zone and whether they can get DMs."""
        ...
