"""Helpers shared by the scheduling tests: studies, participants and rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlmodel import col, select

from adapters.base import Adapter
from bot.config import SchedulerSettings
from bot.context import AppContext
from bot.scheduling.dispatch import dispatch_due
from bot.scheduling.outcomes import DispatchReport, DispatchState
from storage import (
    Database,
    Interview,
    InterviewStatus,
    Invitation,
    InvitationKind,
    Message,
    MessageRole,
    Notice,
    Participant,
    Study,
)

QUESTION = "How can we improve our escalation process for complex cases?"


async def make_study(context: AppContext, *, owner: str = "slack:UR1") -> Study:
    """Create a study owned by a Slack researcher, so notices have a platform."""
    study = await context.studies.create(QUESTION, title="Escalations")
    platform, owner_id = owner.split(":")
    async with context.database.session() as session:
        stored = await session.get(Study, study.id)
        assert stored is not None
        stored.owner_platform = platform
        stored.owner_id = owner_id
        session.add(stored)
        await session.commit()
        await session.refresh(stored)
    return stored


async def add_participant(
    context: AppContext,
    study: Study,
    user_id: str,
    *,
    platform: str = "slack",
    time_zone: str | None = None,
    name: str = "",
) -> Participant:
    return await context.participants.ensure(
        study,
        platform=platform,
        workspace_id="",
        user_id=user_id,
        display_name=name,
        time_zone=time_zone,
        segment="support agent",
    )


async def add_row(
    database: Database,
    study: Study,
    participant: Participant,
    *,
    due_at: datetime,
    kind: InvitationKind = InvitationKind.INVITATION,
    message: str = "Would you take part?",
) -> Invitation:
    assert study.id is not None and participant.id is not None
    row = Invitation(
        study_id=study.id,
        participant_id=participant.id,
        kind=kind,
        due_at=due_at,
        message=message,
        template_data={"values": {"name": "Sam", "study_title": study.title}},
    )
    async with database.session() as session:
        session.add(row)
        await session.commit()
        await session.refresh(row)
    return row


async def invitations(database: Database, study_id: int) -> list[Invitation]:
    async with database.session() as session:
        result = await session.exec(
            select(Invitation)
            .where(Invitation.study_id == study_id)
            .order_by(col(Invitation.id))
        )
        return list(result.all())


async def notices(database: Database, study_id: int) -> list[Notice]:
    async with database.session() as session:
        result = await session.exec(
            select(Notice).where(Notice.study_id == study_id).order_by(col(Notice.id))
        )
        return list(result.all())


async def participant(database: Database, participant_id: int) -> Participant:
    async with database.session() as session:
        found = await session.get(Participant, participant_id)
    assert found is not None
    return found


def statuses(rows: Sequence[Invitation]) -> list[str]:
    return [row.status for row in rows]


async def completed_interview(
    database: Database,
    study: Study,
    person: Participant,
    answer: str,
    *,
    completed_at: datetime,
    recap: str = "",
) -> Interview:
    """Store an interview completed at a given time, with one answer."""
    assert study.id is not None and person.id is not None
    interview = Interview(
        study_id=study.id,
        participant_id=person.id,
        platform=person.platform,
        status=InterviewStatus.COMPLETED,
        state={"recap": recap} if recap else {},
        started_at=completed_at,
        updated_at=completed_at,
        completed_at=completed_at,
    )
    async with database.session() as session:
        session.add(interview)
        await session.flush()
        assert interview.id is not None
        session.add(
            Message(
                interview_id=interview.id,
                role=MessageRole.INTERVIEWER,
                text="What happened when your case was escalated?",
                meta={"kind": "question"},
            )
        )
        session.add(
            Message(
                interview_id=interview.id, role=MessageRole.PARTICIPANT, text=answer
            )
        )
        await session.commit()
        await session.refresh(interview)
    return interview


async def dispatch(
    context: AppContext,
    adapters: Adapter | Mapping[str, Adapter],
    settings: SchedulerSettings,
    now: datetime,
    *,
    state: DispatchState | None = None,
) -> DispatchReport:
    """Run one dispatcher pass at `now` with one adapter or a platform mapping."""
    if not isinstance(adapters, Mapping):
        adapters = {adapters.platform: adapters}
    return await dispatch_due(
        context.database, adapters, settings, now=now, worker="test-worker", state=state
    )
