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

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
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


class InvitationKind(StrEnum):
    INVITATION = "invitation"
    REMINDER = "reminder"
    NUDGE = "nudge"


class DigestMode(StrEnum):
    OFF = "off"
    PER_INTERVIEW = "per-interview"
    DAILY = "daily"
    WEEKLY = "weekly"


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
    # The IANA time zone that recurring runs and digests follow.
    time_zone: str | None = None
    team_platform: str | None = None
    digest_mode: str = DigestMode.OFF
    # A crontab expression in `time_zone` for daily and weekly digests.
    digest_cron: str | None = None
    # Per-interview notes cover interviews completed from this time on.
    digest_since: datetime | None = _time_column()
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
    """A message due to a participant at a time: an invitation, reminder or nudge.

    A row moves from scheduled to claimed (one process owns it) to sent,
    failed, cancelled or missed. `sending_at` is set just before the
    platform call, so a claim left by a stopped process can tell a row never
    tried (sent again) from one whose delivery is unknown (not resent).
    """

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_status_due", "status", "due_at"),
        Index("ix_invitations_dedupe_key", "dedupe_key", unique=True),
    )

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
    # 0 for the invitation and nudges, 1 and up for its reminders.
    reminder_number: int = 0
    # The template and the placeholder values the message was rendered from,
    # so that reminders can be rendered with the same values.
    template_data: dict[str, Any] = _json_column()
    # Set for rows that must exist once at most (a reminder number of one
    # invitation, the nudge of one interview, one recurring run's invitation).
    dedupe_key: str | None = None
    # Why a row was cancelled, missed or failed, in words for the researcher.
    status_reason: str | None = None
    sending_at: datetime | None = _time_column()


OPEN_INTERVIEW = "status IN ('active', 'paused')"


class Interview(SQLModel, table=True):
    """One participant's conversation with the interviewer in one study."""

    __tablename__ = "interviews"
    # At most one open interview per participant, even when two processes
    # start one at the same moment (a partial index on both databases).
    __table_args__ = (
        Index(
            "uq_interviews_open_participant",
            "participant_id",
            unique=True,
            sqlite_where=text(OPEN_INTERVIEW),
            postgresql_where=text(OPEN_INTERVIEW),
        ),
    )

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


class RecurringSchedule(SQLModel, table=True):
    """A study's cron schedule for inviting its audience again, one per study.

    `audience` is "saved" (the study's participant list, optionally one
    segment) or "cohort" (participants whose case was resolved within the
    last `resolved_within_days` days and who were never invited).
    """

    __tablename__ = "recurring_schedules"
    __table_args__ = (UniqueConstraint("study_id", name="uq_recurring_schedule_study"),)

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="studies.id")
    cron: str
    audience: str = "saved"
    resolved_within_days: int | None = None
    segment: str | None = None
    template: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    enabled: bool = True
    created_at: datetime = _time_column(nullable=False)
    updated_at: datetime = _time_column(nullable=False)


class RecurringRun(SQLModel, table=True):
    """One run of a recurring schedule, unique per study and scheduled time.

    The unique key makes a second fire of the same time, from this process
    or another one, fail to insert, so each scheduled time runs once.
    """

    __tablename__ = "recurring_runs"
    __table_args__ = (
        UniqueConstraint("study_id", "scheduled_for", name="uq_recurring_run"),
    )

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="studies.id", index=True)
    scheduled_for: datetime = _time_column(nullable=False)
    status: str = "done"  # "done" or "missed"
    invited: int = 0
    skipped_fire_times: int = 0
    worker: str = ""
    created_at: datetime = _time_column(nullable=False)


class Notice(SQLModel, table=True):
    """A message for the research team: a researcher DM or a channel post.

    Digests, per-interview notes, reports of missed invitations, alerts and
    the target notice are delivered through these rows with the same claim
    and retry rules as invitations. A digest's `dedupe_key` names its study
    and period, so each period is posted once.
    """

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_status_due", "status", "due_at"),
        Index("ix_notices_dedupe_key", "dedupe_key", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="studies.id", index=True)
    kind: str
    platform: str
    # "user" for a direct message to `recipient_id`, "channel" for a post.
    recipient_kind: str = "user"
    recipient_id: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    dedupe_key: str | None = None
    status: str = InvitationStatus.SCHEDULED
    due_at: datetime = _time_column(nullable=False)
    attempts: int = 0
    last_error: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = _time_column()
    sending_at: datetime | None = _time_column()
    sent_at: datetime | None = _time_column()
    created_at: datetime = _time_column(nullable=False)
