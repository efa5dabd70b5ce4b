"""The tables: studies, participants, invitations, interviews and what they produce.

Structured settings (the research plan, the question guide, the participant
experience, the engine state of an interview) are stored as JSON documents
whose shape is owned by `interview_engine`; storage keeps them opaque so
that the engine can evolve them without a migration for every field.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


def _json_column() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def _time_column(*, nullable: bool = True, index: bool = False) -> Any:
    if nullable:
        return Field(
            default=None, sa_column=Column(UTCDateTime(), nullable=True, index=index)
        )
    return Field(
        default_factory=utcnow,
        sa_column=Column(UTCDateTime(), nullable=False, index=index),
    )


class StudyStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    CLOSED = "closed"


class InterviewStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    OPTED_OUT = "opted_out"


class InvitationStatus(StrEnum):
    SCHEDULED = "scheduled"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MISSED = "missed"


class MessageRole(StrEnum):
    INTERVIEWER = "interviewer"
    PARTICIPANT = "participant"


class Study(SQLModel, table=True):
    """A research study: its question, plan, guide and participant experience."""

    __tablename__ = "studies"

    id: int | None = Field(default=None, primary_key=True)
    title: str
    research_question: str = Field(sa_column=Column(Text, nullable=False))
    plan: dict[str, Any] = _json_column()
    questions: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    experience: dict[str, Any] = _json_column()
    interview_settings: dict[str, Any] = _json_column()
    owner_platform: str = "console"
    owner_id: str = "local"
    status: str = Field(default=StudyStatus.ACTIVE, index=True)
    join_code: str = Field(unique=True, index=True)
    team_channel: str | None = None
    target_completions: int | None = None
    created_at: datetime = _time_column(nullable=False)
    updated_at: datetime = _time_column(nullable=False)


class Participant(SQLModel, table=True):
    """A person invited to, or joining, one study on one platform."""

    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint(
            "study_id",
            "platform",
            "workspace_id",
            "platform_user_id",
            name="uq_participant_identity",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="studies.id", index=True)
    platform: str
    workspace_id: str = ""
    platform_user_id: str
    display_name: str = ""
    segment: str = ""
    case_type: str | None = None
    resolution_outcome: str | None = None
    resolved_at: datetime | None = _time_column()
    attributes: dict[str, Any] = _json_column()
    time_zone: str | None = None
    consent: bool = False
    contact_ok: bool | None = None
    opted_out_at: datetime | None = _time_column()
    unreachable_reason: str | None = None
    created_at: datetime = _time_column(nullable=False)


class Invitation(SQLModel, table=True):
    """A message due to a participant at a time: an invitation, reminder or nudge."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="studies.id", index=True)
    participant_id: int = Field(foreign_key="participants.id", index=True)
    kind: str = "invitation"
    due_at: datetime = _time_column(nullable=False)
    status: str = InvitationStatus.SCHEDULED
    attempts: int = 0
    last_error: str | None = None
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    claimed_by: str | None = None
    claimed_at: datetime | None = _time_column()
    sent_at: datetime | None = _time_column()
    created_at: datetime = _time_column(nullable=False)


class Interview(SQLModel, table=True):
    """One participant's conversation with the interviewer in one study."""

    __tablename__ = "interviews"

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="studies.id", index=True)
    participant_id: int = Field(foreign_key="participants.id", index=True)
    status: str = Field(default=InterviewStatus.ACTIVE, index=True)
    state: dict[str, Any] = _json_column()
    platform: str
    channel_id: str = ""
    language: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Incremented on every stored interviewer turn, so that two workers that
    # answer the same participant message cannot both store a reply.
    version: int = 0
    started_at: datetime = _time_column(nullable=False)
    updated_at: datetime = _time_column(nullable=False)
    completed_at: datetime | None = _time_column()


class Message(SQLModel, table=True):
    """One message of an interview, from the interviewer or the participant."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_interview_id_id", "interview_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interviews.id")
    role: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    platform_message_id: str | None = Field(default=None, index=True)
    # Engine metadata: the question this message asks or answers, the kind
    # of turn (question, probe, closing), and whether it was handled.
    meta: dict[str, Any] = _json_column()
    created_at: datetime = _time_column(nullable=False)
    edited_at: datetime | None = _time_column()
    deleted_at: datetime | None = _time_column()
    delivered_at: datetime | None = _time_column()


class ProcessedEvent(SQLModel, table=True):
    """A platform delivery already handled, kept to drop redeliveries."""

    __tablename__ = "processed_events"
    __table_args__ = (
        UniqueConstraint("platform", "event_key", name="uq_processed_event"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    event_key: str
    received_at: datetime = _time_column(nullable=False, index=True)


class Summary(SQLModel, table=True):
    """A generated study summary, kept so that results survive a restart."""

    __tablename__ = "summaries"

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="studies.id", index=True)
    segment: str | None = None
    provider: str
    interview_count: int
    report: dict[str, Any] = _json_column()
    created_at: datetime = _time_column(nullable=False)


class Code(SQLModel, table=True):
    """One code (a theme or a signal) applied to one interview in one summary.

    Theme counts in a summary are computed from these rows, so a recount
    from this table reproduces every number in the report.
    """

    __tablename__ = "codes"
    __table_args__ = (
        UniqueConstraint("summary_id", "interview_id", "kind", "key", name="uq_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    summary_id: int = Field(foreign_key="summaries.id", index=True)
    interview_id: int = Field(foreign_key="interviews.id", index=True)
    kind: str
    key: str
