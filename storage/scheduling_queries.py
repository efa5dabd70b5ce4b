"""Queries behind invitations, reminders, notices and recurring runs.

Rows are claimed with one conditional UPDATE ... RETURNING statement
(SQLite 3.35+ and PostgreSQL). On SQLite the statement runs under the
database's single write lock. On PostgreSQL the candidate rows are locked
with FOR UPDATE SKIP LOCKED and the outer WHERE checks the status again.
So two processes never claim the same row on either database. Every later change of a
claimed row names the claiming worker, so a row taken over by another
process is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Interview,
    InterviewStatus,
    Invitation,
    InvitationStatus,
    Notice,
    Participant,
    Study,
)

Outbox = TypeVar("Outbox", Invitation, Notice)
Row = TypeVar("Row", bound=SQLModel)

PENDING = (InvitationStatus.SCHEDULED, InvitationStatus.CLAIMED)


async def insert_once(session: AsyncSession, row: Row) -> bool:
    """Insert a row in a savepoint; return False if a unique key already exists."""
    try:
        async with session.begin_nested():
            session.add(row)
        return True
    except IntegrityError:
        return False


def _platform_filter(model: type[Outbox], platforms: Sequence[str]) -> Any:
    if model is Notice:
        return col(Notice.platform).in_(list(platforms))
    on_platforms = select(Participant.id).where(
        col(Participant.platform).in_(list(platforms))
    )
    return col(Invitation.participant_id).in_(on_platforms)


async def claim_due(
    session: AsyncSession,
    model: type[Outbox],
    *,
    platforms: Sequence[str],
    worker: str,
    now: datetime,
    limit: int,
) -> list[int]:
    """Claim up to `limit` due rows for the platforms; return their ids."""
    if not platforms:
        return []
    candidates = (
        select(model.id)
        .where(
            col(model.status) == InvitationStatus.SCHEDULED,
            col(model.due_at) <= now,
            _platform_filter(model, platforms),
        )
        .order_by(col(model.due_at), col(model.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.exec(
        update(model)
        .where(
            col(model.id).in_(candidates.scalar_subquery()),
            col(model.status) == InvitationStatus.SCHEDULED,
        )
        .values(
            status=InvitationStatus.CLAIMED,
            claimed_by=worker,
            claimed_at=now,
            sending_at=None,
        )
        .returning(col(model.id))
    )
    return sorted(row[0] for row in result.all())


async def start_sending(
    session: AsyncSession, model: type[Outbox], row_id: int, worker: str, now: datetime
) -> bool:
    """Record that the platform call is about to start; False if the claim was lost."""
    result = await session.exec(
        update(model)
        .where(
            col(model.id) == row_id,
            col(model.status) == InvitationStatus.CLAIMED,
            col(model.claimed_by) == worker,
            col(model.sending_at).is_(None),
        )
        .values(sending_at=now)
    )
    return bool(result.rowcount == 1)


async def set_values(
    session: AsyncSession, model: type[Outbox], row_id: int, **values: Any
) -> None:
    await session.exec(update(model).where(col(model.id) == row_id).values(**values))


async def release(
    session: AsyncSession,
    model: type[Outbox],
    row_ids: Sequence[int],
    *,
    worker: str,
    due_at: datetime,
    **values: Any,
) -> int:
    """Put this worker's claimed rows back to scheduled, due at `due_at`."""
    if not row_ids:
        return 0
    result = await session.exec(
        update(model)
        .where(
            col(model.id).in_(list(row_ids)),
            col(model.status) == InvitationStatus.CLAIMED,
            col(model.claimed_by) == worker,
        )
        .values(
            status=InvitationStatus.SCHEDULED,
            due_at=due_at,
            claimed_by=None,
            claimed_at=None,
            sending_at=None,
            **values,
        )
    )
    return int(result.rowcount)


async def record_failed_send(
    session: AsyncSession,
    model: type[Outbox],
    row_id: int,
    *,
    worker: str,
    retry_at: datetime | None,
    attempts: int,
    error: str,
    **failed_values: Any,
) -> None:
    """Put a row back for another try at `retry_at`, or mark it failed if None."""
    if retry_at is not None:
        await release(
            session,
            model,
            [row_id],
            worker=worker,
            due_at=retry_at,
            attempts=attempts,
            last_error=error,
        )
        return
    await set_values(
        session,
        model,
        row_id,
        status=InvitationStatus.FAILED,
        attempts=attempts,
        last_error=error,
        **failed_values,
    )


async def release_stale_claims(
    session: AsyncSession, model: type[Outbox], *, claimed_before: datetime
) -> tuple[int, list[tuple[int, int]]]:
    """Recover rows claimed by a process that stopped.

    Rows whose platform call never started go back to scheduled. Rows whose
    call started may have reached the participant, so they are marked failed
    instead of being sent a second time.

    Returns:
        The number of rows rescheduled, and (row id, study id) of each row
        marked failed.
    """
    stale = (
        col(model.status) == InvitationStatus.CLAIMED,
        col(model.claimed_at) < claimed_before,
    )
    rescheduled = await session.exec(
        update(model)
        .where(*stale, col(model.sending_at).is_(None))
        .values(status=InvitationStatus.SCHEDULED, claimed_by=None, claimed_at=None)
    )
    failed = await session.exec(
        update(model)
        .where(*stale, col(model.sending_at).is_not(None))
        .values(
            status=InvitationStatus.FAILED,
            last_error=(
                "delivery not confirmed: the process sending it stopped during "
                "the platform call, so it is not sent again"
            ),
        )
        .returning(col(model.id), col(model.study_id))
    )
    return int(rescheduled.rowcount), [(row[0], row[1]) for row in failed.all()]


async def mark_missed(
    session: AsyncSession,
    *,
    due_before: datetime,
    platforms: Sequence[str],
    reason: str,
) -> list[tuple[int, int]]:
    """Mark scheduled invitations due before `due_before` as missed.

    Returns (invitation id, study id) of each row this call changed.
    """
    if not platforms:
        return []
    result = await session.exec(
        update(Invitation)
        .where(
            col(Invitation.status) == InvitationStatus.SCHEDULED,
            col(Invitation.due_at) < due_before,
            _platform_filter(Invitation, platforms),
        )
        .values(status=InvitationStatus.MISSED, status_reason=reason)
        .returning(col(Invitation.id), col(Invitation.study_id))
    )
    return [(row[0], row[1]) for row in result.all()]


async def cancel_pending(
    session: AsyncSession,
    participant_id: int,
    *,
    reason: str,
    kinds: Sequence[str] | None = None,
) -> int:
    """Cancel a participant's rows that are not being sent at this moment.

    Claimed rows whose platform call has not started are cancelled too; the
    dispatcher that claimed them then finds its claim gone and skips them.
    """
    query = update(Invitation).where(
        col(Invitation.participant_id) == participant_id,
        col(Invitation.status).in_(PENDING),
        col(Invitation.sending_at).is_(None),
    )
    if kinds is not None:
        query = query.where(col(Invitation.kind).in_(list(kinds)))
    result = await session.exec(
        query.values(
            status=InvitationStatus.CANCELLED,
            status_reason=reason,
            claimed_by=None,
            claimed_at=None,
        )
    )
    return int(result.rowcount)


async def invitations_with_context(
    session: AsyncSession, row_ids: Sequence[int]
) -> Sequence[tuple[Invitation, Participant, Study]]:
    result = await session.exec(
        select(Invitation, Participant, Study)
        .join(Participant, col(Participant.id) == col(Invitation.participant_id))
        .join(Study, col(Study.id) == col(Invitation.study_id))
        .where(col(Invitation.id).in_(list(row_ids)))
        .order_by(col(Invitation.due_at), col(Invitation.id))
    )
    return result.all()


async def notices_by_id(
    session: AsyncSession, row_ids: Sequence[int]
) -> Sequence[Notice]:
    result = await session.exec(
        select(Notice)
        .where(col(Notice.id).in_(list(row_ids)))
        .order_by(col(Notice.due_at), col(Notice.id))
    )
    return result.all()


async def latest_interviews(
    session: AsyncSession, participant_ids: Sequence[int]
) -> dict[int, Interview]:
    """Return each participant's most recent interview, if any."""
    result = await session.exec(
        select(Interview)
        .where(col(Interview.participant_id).in_(list(participant_ids)))
        .order_by(col(Interview.id))
    )
    return {interview.participant_id: interview for interview in result.all()}


async def paused_interviews(
    session: AsyncSession, paused_before: datetime
) -> Sequence[tuple[Interview, Participant, Study]]:
    """Return interviews paused since before `paused_before`, with context."""
    result = await session.exec(
        select(Interview, Participant, Study)
        .join(Participant, col(Participant.id) == col(Interview.participant_id))
        .join(Study, col(Study.id) == col(Interview.study_id))
        .where(
            col(Interview.status) == InterviewStatus.PAUSED,
            col(Interview.updated_at) <= paused_before,
            col(Participant.opted_out_at).is_(None),
            col(Participant.unreachable_reason).is_(None),
        )
    )
    return result.all()


async def existing_keys(
    session: AsyncSession, model: type[Outbox], keys: Sequence[str]
) -> set[str]:
    """Return which of the dedupe keys already have a row."""
    if not keys:
        return set()
    result = await session.exec(
        select(model.dedupe_key).where(col(model.dedupe_key).in_(list(keys)))
    )
    return {key for key in result.all() if key is not None}


async def earliest_due(
    session: AsyncSession, model: type[Outbox], study_id: int | None = None
) -> datetime | None:
    query = select(func.min(model.due_at)).where(
        col(model.status) == InvitationStatus.SCHEDULED
    )
    if study_id is not None:
        query = query.where(col(model.study_id) == study_id)
    return (await session.exec(query)).one()


async def due_platforms(session: AsyncSession, now: datetime) -> set[str]:
    """Return the platforms of participants with invitations due now."""
    result = await session.exec(
        select(Participant.platform)
        .join(Invitation, col(Invitation.participant_id) == col(Participant.id))
        .where(
            col(Invitation.status) == InvitationStatus.SCHEDULED,
            col(Invitation.due_at) <= now,
        )
        .distinct()
    )
    return set(result.all())
