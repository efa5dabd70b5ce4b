"""The queries the services run, one function per question asked of the data.

Each function takes an open session and leaves committing to the caller, so
that a service can group several of them in one short transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Code,
    Interview,
    InterviewStatus,
    Message,
    MessageRole,
    Participant,
    ProcessedEvent,
    Study,
    Summary,
)
from storage.types import utcnow


async def study_by_id(session: AsyncSession, study_id: int) -> Study | None:
    return await session.get(Study, study_id)


async def study_by_join_code(session: AsyncSession, code: str) -> Study | None:
    result = await session.exec(select(Study).where(Study.join_code == code))
    return result.first()


async def list_studies(session: AsyncSession) -> Sequence[Study]:
    result = await session.exec(select(Study).order_by(col(Study.id)))
    return result.all()


async def pending_participations(
    session: AsyncSession, platform: str, workspace_id: str, user_id: str
) -> Sequence[tuple[Participant, Study]]:
    """Return the user's participations in active studies not yet started."""
    started = select(Interview.participant_id)
    result = await session.exec(
        select(Participant, Study)
        .join(Study, col(Study.id) == col(Participant.study_id))
        .where(
            Participant.platform == platform,
            Participant.workspace_id == workspace_id,
            Participant.platform_user_id == user_id,
            col(Participant.opted_out_at).is_(None),
            col(Participant.id).not_in(started),
            Study.status == "active",
        )
        .order_by(col(Participant.id).desc())
    )
    return result.all()


async def past_participation(
    session: AsyncSession, platform: str, workspace_id: str, user_id: str
) -> tuple[bool, bool]:
    """Tell whether the user ever opted out, and ever completed an interview."""
    result = await session.exec(
        select(Participant.opted_out_at, Interview.status)
        .join(
            Interview,
            col(Interview.participant_id) == col(Participant.id),
            isouter=True,
        )
        .where(
            Participant.platform == platform,
            Participant.workspace_id == workspace_id,
            Participant.platform_user_id == user_id,
        )
    )
    rows = result.all()
    opted_out = any(
        opted is not None or status == InterviewStatus.OPTED_OUT
        for opted, status in rows
    )
    completed = any(status == InterviewStatus.COMPLETED for _opted, status in rows)
    return opted_out, completed


async def open_studies(session: AsyncSession) -> Sequence[Study]:
    """Return active studies; callers filter by their join settings."""
    result = await session.exec(
        select(Study).where(Study.status == "active").order_by(col(Study.id).desc())
    )
    return result.all()


async def interview_counts(session: AsyncSession, study_id: int) -> dict[str, int]:
    """Count a study's interviews by status."""
    result = await session.exec(
        select(Interview.status, func.count())
        .where(Interview.study_id == study_id)
        .group_by(col(Interview.status))
    )
    return {status: count for status, count in result.all()}


async def find_participant(
    session: AsyncSession,
    study_id: int,
    platform: str,
    workspace_id: str,
    platform_user_id: str,
) -> Participant | None:
    result = await session.exec(
        select(Participant).where(
            Participant.study_id == study_id,
            Participant.platform == platform,
            Participant.workspace_id == workspace_id,
            Participant.platform_user_id == platform_user_id,
        )
    )
    return result.first()


async def open_interview_for_user(
    session: AsyncSession,
    platform: str,
    workspace_id: str,
    platform_user_id: str,
    channel_id: str,
) -> Interview | None:
    """Return the user's most recent active or paused interview in a channel.

    The channel matters: in the terminal each study has its own channel, so
    an answer typed in one study's chat never reaches another study.
    """
    result = await session.exec(
        select(Interview)
        .join(Participant, col(Participant.id) == col(Interview.participant_id))
        .where(
            Participant.platform == platform,
            Participant.workspace_id == workspace_id,
            Participant.platform_user_id == platform_user_id,
            Interview.channel_id == channel_id,
            col(Interview.status).in_([InterviewStatus.ACTIVE, InterviewStatus.PAUSED]),
        )
        .order_by(col(Interview.updated_at).desc())
    )
    return result.first()


async def interview_for_participant(
    session: AsyncSession, participant_id: int
) -> Interview | None:
    result = await session.exec(
        select(Interview)
        .where(Interview.participant_id == participant_id)
        .order_by(col(Interview.id).desc())
    )
    return result.first()


async def messages_of(session: AsyncSession, interview_id: int) -> Sequence[Message]:
    result = await session.exec(
        select(Message)
        .where(Message.interview_id == interview_id)
        .order_by(col(Message.id))
    )
    return result.all()


async def participant_message(
    session: AsyncSession, platform: str, user_id: str | None, platform_message_id: str
) -> Message | None:
    """Find a participant's stored message by its platform id (and sender)."""
    query = (
        select(Message)
        .join(Interview, col(Interview.id) == col(Message.interview_id))
        .join(Participant, col(Participant.id) == col(Interview.participant_id))
        .where(
            Message.platform_message_id == platform_message_id,
            Message.role == MessageRole.PARTICIPANT,
            Participant.platform == platform,
        )
    )
    if user_id is not None:
        query = query.where(Participant.platform_user_id == user_id)
    result = await session.exec(query)
    return result.first()


async def record_event(session: AsyncSession, platform: str, event_key: str) -> bool:
    """Record a platform delivery; return False when it was seen before.

    The insert runs in a savepoint, so a duplicate leaves the caller's
    transaction usable.
    """
    try:
        async with session.begin_nested():
            session.add(ProcessedEvent(platform=platform, event_key=event_key))
        return True
    except IntegrityError:
        return False


async def bump_interview_version(
    session: AsyncSession, interview: Interview, values: dict[str, object]
) -> bool:
    """Update an interview only if nobody else stored a turn since it was read.

    Returns False when another worker won the race; the caller rolls back.
    """
    assert interview.id is not None
    result = await session.exec(
        update(Interview)
        .where(
            col(Interview.id) == interview.id,
            col(Interview.version) == interview.version,
        )
        .values(version=interview.version + 1, updated_at=utcnow(), **values)
    )
    return bool(result.rowcount == 1)


async def interviews_awaiting_reply(
    session: AsyncSession,
    platform: str | None = None,
    older_than: datetime | None = None,
) -> Sequence[int]:
    """Return open interviews whose newest message is an unhandled answer.

    `platform` keeps only one platform's interviews; `older_than` keeps only
    answers stored before that time (a reply may still be on its way).
    """
    latest = (
        select(Message.interview_id, func.max(Message.id).label("last_id"))
        .where(col(Message.deleted_at).is_(None))
        .group_by(col(Message.interview_id))
        .subquery()
    )
    result = await session.exec(
        select(Interview.id)
        .join(latest, latest.c.interview_id == Interview.id)
        .join(Message, col(Message.id) == latest.c.last_id)
        .where(
            Message.role == MessageRole.PARTICIPANT,
            col(Interview.status).in_([InterviewStatus.ACTIVE, InterviewStatus.PAUSED]),
            *([Interview.platform == platform] if platform else []),
            *([col(Message.created_at) < older_than] if older_than else []),
        )
    )
    return [interview_id for interview_id in result.all() if interview_id is not None]


async def undelivered_messages(
    session: AsyncSession, older_than: datetime, platform: str | None = None
) -> Sequence[Message]:
    """Return interviewer messages stored but never confirmed as sent."""
    query = (
        select(Message)
        .join(Interview, col(Interview.id) == col(Message.interview_id))
        .where(
            Message.role == MessageRole.INTERVIEWER,
            col(Message.delivered_at).is_(None),
            col(Message.created_at) < older_than,
        )
        .order_by(col(Message.id))
    )
    if platform is not None:
        query = query.where(Interview.platform == platform)
    result = await session.exec(query)
    return result.all()


async def completed_interviews(
    session: AsyncSession, study_id: int
) -> Sequence[tuple[Interview, Participant]]:
    result = await session.exec(
        select(Interview, Participant)
        .join(Participant, col(Participant.id) == col(Interview.participant_id))
        .where(
            Interview.study_id == study_id,
            Interview.status == InterviewStatus.COMPLETED,
        )
        .order_by(col(Interview.id))
    )
    return result.all()


async def messages_of_interviews(
    session: AsyncSession, interview_ids: Sequence[int]
) -> Sequence[Message]:
    result = await session.exec(
        select(Message)
        .where(
            col(Message.interview_id).in_(list(interview_ids)),
            col(Message.deleted_at).is_(None),
        )
        .order_by(col(Message.interview_id), col(Message.id))
    )
    return result.all()


async def study_interviews(
    session: AsyncSession, study_id: int
) -> Sequence[tuple[Interview, Participant]]:
    result = await session.exec(
        select(Interview, Participant)
        .join(Participant, col(Participant.id) == col(Interview.participant_id))
        .where(Interview.study_id == study_id)
        .order_by(col(Interview.id))
    )
    return result.all()


async def latest_summary(
    session: AsyncSession, study_id: int, segment: str | None
) -> Summary | None:
    query = select(Summary).where(Summary.study_id == study_id)
    if segment is None:
        query = query.where(col(Summary.segment).is_(None))
    else:
        query = query.where(Summary.segment == segment)
    result = await session.exec(query.order_by(col(Summary.id).desc()))
    return result.first()


async def codes_of(session: AsyncSession, summary_id: int) -> Sequence[Code]:
    result = await session.exec(select(Code).where(Code.summary_id == summary_id))
    return result.all()
