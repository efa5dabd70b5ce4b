"""Reminders and nudges stop when a participant starts, opts out or pauses."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col

from adapters.base import InboundMessage
from bot.config import SchedulerSettings
from bot.context import AppContext
from bot.scheduling.reminders import opt_out
from bot.services.studies import experience_of
from interview_engine.models import TurnKind
from storage import Interview, InvitationKind, InvitationStatus
from tests.recording_adapter import RecordingAdapter
from tests.scheduling_support import (
    add_participant,
    add_row,
    dispatch,
    invitations,
    make_study,
)
from tests.support import Clock, long_answers


async def run_days(
    context: AppContext,
    adapter: RecordingAdapter,
    settings: SchedulerSettings,
    clock: Clock,
    days: int,
) -> None:
    """Run the dispatcher every hour for `days` days of test time."""
    for _hour in range(24 * days):
        clock.advance(3600)
        await dispatch(context, {"slack": adapter}, settings, clock.now)


def said(user: str, text: str, number: int) -> InboundMessage:
    return InboundMessage(
        platform="slack",
        workspace_id="",
        user_id=user,
        channel_id=f"D-{user}",
        text=text,
        message_id=f"{user}.{number}",
    )


async def test_start_after_first_reminder_cancels_second(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    person = await add_participant(context, study, "U1")
    await add_row(context.database, study, person, due_at=clock.now)
    await dispatch(context, recording, scheduler_settings, clock.now)
    await run_days(context, recording, scheduler_settings, clock, 3)
    assert len(recording.texts_to("U1")) == 2  # the invitation and reminder 1
    started = await context.conversations.start(study, person, channel_id="D-U1")
    assert started.status == "started"
    await run_days(context, recording, scheduler_settings, clock, 7)
    assert len(recording.texts_to("U1")) == 2
    rows = await invitations(context.database, study.id or 0)
    second = [r for r in rows if r.reminder_number == 2]
    assert [r.status for r in second] == [InvitationStatus.CANCELLED]
    assert second[0].status_reason == "the participant started the interview"


async def test_stop_reply_cancels_everything(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    person = await add_participant(context, study, "U1")
    await add_row(context.database, study, person, due_at=clock.now)
    await dispatch(context, recording, scheduler_settings, clock.now)
    # The participant replies "stop" to the invitation before starting.
    cancelled = await opt_out(context.database, person.id or 0, now=clock.now)
    assert cancelled == 2
    await run_days(context, recording, scheduler_settings, clock, 10)
    assert recording.texts_to("U1") == ["Would you take part?"]
    rows = await invitations(context.database, study.id or 0)
    assert [r.status for r in rows] == ["sent", "cancelled", "cancelled"]


async def test_stop_inside_interview_cancels_nudge(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    person = await add_participant(context, study, "U1")
    started = await context.conversations.start(study, person, channel_id="D-U1")
    interview_id = started.interview_id
    assert interview_id is not None
    await context.conversations.accept(said("U1", "pause", 1))
    await context.conversations.respond(interview_id)
    await _paused_since(context, interview_id, clock.now - timedelta(hours=28))
    # At 07:00 UTC the nudge is created, due when the window opens at 09:00.
    report = await dispatch(
        context,
        {"slack": recording},
        scheduler_settings,
        clock.now - timedelta(hours=3),
    )
    assert report.nudges == 1
    assert report.sent == 0
    await context.conversations.accept(said("U1", "stop", 2))
    await context.conversations.respond(interview_id)
    await run_days(context, recording, scheduler_settings, clock, 3)
    assert recording.sent == []
    [nudge] = await invitations(context.database, study.id or 0)
    assert nudge.kind == InvitationKind.NUDGE
    assert nudge.status == InvitationStatus.CANCELLED
    assert nudge.status_reason == "the participant opted out"


async def test_paused_interview_nudged_once(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    person = await add_participant(context, study, "U1", name="Ana Silva")
    started = await context.conversations.start(study, person, channel_id="D-U1")
    interview_id = started.interview_id
    assert interview_id is not None
    await context.conversations.accept(said("U1", "pause", 1))
    await context.conversations.respond(interview_id)
    await _paused_since(context, interview_id, clock.now - timedelta(hours=23))
    await run_days(context, recording, scheduler_settings, clock, 4)
    texts = recording.texts_to("U1")
    assert len(texts) == 1
    assert texts[0].startswith("Hi Ana, your interview for")
    [nudge] = await invitations(context.database, study.id or 0)
    # Paused at 11:00 UTC on Sunday (23 hours before the start): due 24 hours
    # later, which is inside Monday's window.
    assert nudge.sent_at == clock.now - timedelta(days=4) + timedelta(hours=1)


async def _paused_since(context: AppContext, interview_id: int, moment) -> None:
    async with context.database.session() as session:
        await session.exec(
            update(Interview)
            .where(col(Interview.id) == interview_id)
            .values(updated_at=moment)
        )
        await session.commit()


async def test_completion_thanks_once_without_scheduled_row(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    person = await add_participant(context, study, "U1")
    started = await context.conversations.start(study, person, channel_id="D-U1")
    interview_id = started.interview_id
    assert interview_id is not None
    texts = [reply.message.text for reply in started.replies]
    for number, answer in enumerate(long_answers(80)):
        await context.conversations.accept(said("U1", answer, number))
        replies = await context.conversations.respond(interview_id)
        texts += [reply.message.text for reply in replies]
        if any(reply.message.kind == TurnKind.FAREWELL for reply in replies):
            break
    thank_you = experience_of(study).thank_you_message
    assert sum(thank_you in text for text in texts) == 1
    await run_days(context, recording, scheduler_settings, clock, 2)
    assert recording.sent == []
    assert await invitations(context.database, study.id or 0) == []
