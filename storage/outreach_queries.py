"""Questions about a study's audience and outreach.

Who can be invited, how a study's messages and participants stand, and
which recurring schedules and digests exist. Like `storage.queries`, each
function takes an open session and leaves committing to the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Interview,
    InterviewStatus,
    Invitation,
    InvitationStatus,
    Notice,
    Participant,
    RecurringRun,
    RecurringSchedule,
    Study,
)
from storage.scheduling_queries import PENDING


async def pending_participant_ids(
    session: AsyncSession, participant_ids: Sequence[int]
) -> set[int]:
    """Return which participants have an invitation or reminder still to send."""
    if not participant_ids:
        return set()
    result = await session.exec(
        select(Invitation.participant_id).where(
            col(Invitation.participant_id).in_(list(participant_ids)),
            col(Invitation.status).in_(PENDING),
        )
    )
    return set(result.all())


async def invited_participant_ids(session: AsyncSession, study_id: int) -> set[int]:
    """Return the participants of a study who were ever sent or given an invitation."""
    result = await session.exec(
        select(Invitation.participant_id).where(Invitation.study_id == study_id)
    )
    return set(result.all())


async def invitation_counts(
    session: AsyncSession, study_id: int
) -> dict[tuple[str, str], int]:
    """Count a study's rows by (kind, status)."""
    result = await session.exec(
        select(Invitation.kind, Invitation.status, func.count())
        .where(Invitation.study_id == study_id)
        .group_by(col(Invitation.kind), col(Invitation.status))
    )
    return {(kind, status): count for kind, status, count in result.all()}


async def invitation_reasons(
    session: AsyncSession, study_id: int
) -> list[tuple[str, str, int]]:
    """Count a study's failed, missed and cancelled rows by status and reason."""
    reason = func.coalesce(Invitation.status_reason, Invitation.last_error, "")
    result = await session.exec(
        select(Invitation.status, reason, func.count())
        .where(
            Invitation.study_id == study_id,
            col(Invitation.status).in_(
                [
                    InvitationStatus.FAILED,
                    InvitationStatus.MISSED,
                    InvitationStatus.CANCELLED,
                ]
            ),
        )
        .group_by(col(Invitation.status), reason)
        .order_by(col(Invitation.status), func.count().desc())
    )
    return [(status, text, count) for status, text, count in result.all()]


async def participant_reasons(
    session: AsyncSession, study_id: int
) -> tuple[int, int, list[tuple[str, int]]]:
    """Return a study's participant count, opted-out count and unreachable reasons."""
    total = (
        await session.exec(select(func.count()).where(Participant.study_id == study_id))
    ).one()
    opted_out = (
        await session.exec(
            select(func.count()).where(
                Participant.study_id == study_id,
                col(Participant.opted_out_at).is_not(None),
            )
        )
    ).one()
    result = await session.exec(
        select(Participant.unreachable_reason, func.count())
        .where(
            Participant.study_id == study_id,
            col(Participant.unreachable_reason).is_not(None),
        )
        .group_by(col(Participant.unreachable_reason))
    )
    reasons = [(reason or "", count) for reason, count in result.all()]
    return total, opted_out, reasons


async def unsent_notices(session: AsyncSession, study_id: int) -> Sequence[Notice]:
    """Return a study's notices that were not delivered (yet)."""
    result = await session.exec(
        select(Notice)
        .where(
            Notice.study_id == study_id,
            col(Notice.status) != InvitationStatus.SENT,
        )
        .order_by(col(Notice.id))
    )
    return result.all()


async def participants_of(
    session: AsyncSession,
    study_id: int,
    *,
    platform: str | None = None,
    segment: str | None = None,
) -> Sequence[Participant]:
    query = select(Participant).where(Participant.study_id == study_id)
    if platform is not None:
        query = query.where(Participant.platform == platform)
    if segment is not None:
        query = query.where(Participant.segment == segment)
    result = await session.exec(query.order_by(col(Participant.id)))
    return result.all()


async def recurring_schedule(
    session: AsyncSession, study_id: int
) -> RecurringSchedule | None:
    result = await session.exec(
        select(RecurringSchedule).where(RecurringSchedule.study_id == study_id)
    )
    return result.first()


async def enabled_schedules(
    session: AsyncSession,
) -> Sequence[tuple[RecurringSchedule, Study]]:
    result = await session.exec(
        select(RecurringSchedule, Study)
        .join(Study, col(Study.id) == col(RecurringSchedule.study_id))
        .where(col(RecurringSchedule.enabled).is_(True))
        .order_by(col(RecurringSchedule.study_id))
    )
    return result.all()


async def latest_run(session: AsyncSession, study_id: int) -> RecurringRun | None:
    result = await session.exec(
        select(RecurringRun)
        .where(RecurringRun.study_id == study_id)
        .order_by(col(RecurringRun.scheduled_for).desc())
    )
    return result.first()


async def studies_with_digests(session: AsyncSession) -> Sequence[Study]:
    """Return studies that post digests or watch for their target."""
    result = await session.exec(
        select(Study)
        .where(
            (col(Study.digest_mode) != "off")
            | col(Study.target_completions).is_not(None)
        )
        .order_by(col(Study.id))
    )
    return result.all()


async def completed_since(
    session: AsyncSession, study_id: int, since: datetime | None, until: datetime
) -> Sequence[tuple[Interview, Participant]]:
    """Return a study's interviews completed in (since, until]."""
    query = (
        select(Interview, Participant)
        .join(Participant, col(Participant.id) == col(Interview.participant_id))
        .where(
            Interview.study_id == study_id,
            Interview.status == InterviewStatus.COMPLETED,
            col(Interview.completed_at) <= until,
        )
        .order_by(col(Interview.completed_at), col(Interview.id))
    )
    if since is not None:
        query = query.where(col(Interview.completed_at) > since)
    return (await session.exec(query)).all()
