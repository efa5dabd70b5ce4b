"""Restarts: downtime catch-up, job registration, digests posted once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.util import ref_to_obj
from sqlmodel import col, select

from bot.config import SchedulerSettings
from bot.context import AppContext
from bot.scheduling.digests import set_digest
from bot.scheduling.jobs import catch_up_job, digest_job, dispatch_job, recurring_job
from bot.scheduling.recurring import set_recurring
from bot.scheduling.scheduler import start_scheduler, stop_scheduler
from storage import DigestMode, InvitationStatus, RecurringRun
from tests.recording_adapter import RecordingAdapter
from tests.scheduling_support import (
    add_participant,
    add_row,
    completed_interview,
    invitations,
    make_study,
    notices,
)
from tests.support import Clock

NAME = "restart-test"


@pytest.fixture(autouse=True)
async def stopped_at_end() -> AsyncIterator[None]:
    """Stop the test's scheduler even when an assertion fails midway."""
    yield
    await stop_scheduler(NAME)


async def restart(
    context: AppContext,
    adapter: RecordingAdapter,
    settings: SchedulerSettings,
    clock: Clock,
) -> None:
    """Stop the scheduler if running, start it again, and run its start-up jobs."""
    await stop_scheduler(NAME)
    await start_scheduler(
        context.database,
        {"slack": adapter},
        settings,
        name=NAME,
        clock=lambda: clock.now,
        run_now=False,
    )
    # What run_now=True would schedule for right after start.
    await catch_up_job(NAME)
    await dispatch_job(NAME)


async def runs_of(context: AppContext, study_id: int) -> list[RecurringRun]:
    async with context.database.session() as session:
        result = await session.exec(
            select(RecurringRun)
            .where(RecurringRun.study_id == study_id)
            .order_by(col(RecurringRun.scheduled_for))
        )
        return list(result.all())


async def test_three_hour_stop_sends_each_once(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    start = clock.now  # Monday 10:00 UTC
    study = await make_study(context)
    await set_recurring(
        context.database,
        study,
        cron="0 * * * *",
        time_zone="UTC",
        audience="cohort",
        resolved_within_days=7,
        now=start - timedelta(minutes=30),
    )
    early = await add_participant(context, study, "C1")
    await context.participants.ensure(
        study,
        platform="slack",
        workspace_id="",
        user_id="C1",
        resolved_at=start - timedelta(days=2),
    )
    for number in range(10):
        person = await add_participant(context, study, f"U{number}")
        due = start + timedelta(minutes=30 + 12 * number)  # 10:30 to 12:18
        await add_row(context.database, study, person, due_at=due)
    for number in range(2):
        person = await add_participant(context, study, f"OLD{number}")
        await add_row(
            context.database, study, person, due_at=start - timedelta(hours=30)
        )

    await restart(context, recording, scheduler_settings, clock)
    assert recording.texts_to(early.platform_user_id) != []
    await stop_scheduler(NAME)

    clock.advance(3 * 3600)  # 13:00: the 11:00, 12:00 and 13:00 runs were missed
    late = await context.participants.ensure(
        study,
        platform="slack",
        workspace_id="",
        user_id="C2",
        resolved_at=start + timedelta(hours=1),
    )
    await restart(context, recording, scheduler_settings, clock)
    await recurring_job(NAME, study.id or 0)  # a second fire of the 13:00 run
    await dispatch_job(NAME)
    await stop_scheduler(NAME)

    for number in range(10):
        assert len(recording.texts_to(f"U{number}")) == 1
    assert len(recording.texts_to("C1")) == 1
    assert len(recording.texts_to(late.platform_user_id)) == 1
    assert recording.texts_to("OLD0") == []
    runs = await runs_of(context, study.id or 0)
    assert [run.scheduled_for.hour for run in runs] == [10, 13]
    assert [run.invited for run in runs] == [1, 1]
    assert runs[1].skipped_fire_times == 2
    rows = await invitations(context.database, study.id or 0)
    missed = [row for row in rows if row.status == InvitationStatus.MISSED]
    assert len(missed) == 2
    [report] = [n for n in await notices(context.database, study.id or 0)]
    assert report.kind == "missed"
    assert report.text.startswith("2 messages to participants of “Escalations”")
    assert recording.texts_to("UR1") == [report.text]


async def test_restart_registers_jobs_once(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    await set_recurring(
        context.database,
        study,
        cron="0 9 * * MON",
        time_zone="Europe/Berlin",
        audience="saved",
        now=clock.now,
    )
    await set_digest(
        context.database,
        study,
        mode=DigestMode.WEEKLY,
        channel="slack:C1",
        now=clock.now,
    )
    options = {"name": NAME, "clock": lambda: clock.now, "run_now": False}
    first = await start_scheduler(
        context.database, {"slack": recording}, scheduler_settings, **options
    )
    discord = RecordingAdapter(platform="discord")
    again = await start_scheduler(
        context.database, {"discord": discord}, scheduler_settings, **options
    )
    assert again is first
    assert set(first.adapters) == {"slack", "discord"}
    await dispatch_job(NAME)  # refreshes the study jobs; must not add copies
    ids = sorted(job.id for job in first.scheduler.get_jobs())
    assert ids == [f"digest:{study.id}", "dispatch", f"recurring:{study.id}"]
    await stop_scheduler(NAME)
    await stop_scheduler(NAME)
    assert not first.scheduler.running

    second = await start_scheduler(
        context.database, {"slack": recording}, scheduler_settings, **options
    )
    jobs = second.scheduler.get_jobs()
    assert sorted(job.id for job in jobs) == ids
    for job in jobs:
        assert ref_to_obj(job.func_ref) is job.func
        assert all(isinstance(arg, str | int) for arg in job.args)
    recurring = second.scheduler.get_job(f"recurring:{study.id}")
    assert str(recurring.trigger.timezone) == "Europe/Berlin"
    await stop_scheduler(NAME)


async def test_weekly_digest_once_across_restart(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    # Monday, after that day's 09:00 digest time.
    clock.now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    study = await make_study(context)
    await set_digest(
        context.database,
        study,
        mode=DigestMode.WEEKLY,
        channel="slack:C-team",
        target=10,
        time_zone="UTC",
        now=clock.now,
    )
    for number, answer in enumerate(
        [
            "I was transferred to three different teams and had to explain it "
            "all over again each time.",
            "The refund took two weeks; call me on +44 20 7946 0958.",
        ]
    ):
        person = await add_participant(context, study, f"U{number}", name="Kim Lo")
        await completed_interview(
            context.database,
            study,
            person,
            answer,
            completed_at=clock.now + timedelta(days=2 + number),
        )
    clock.now = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # the next Monday
    await restart(context, recording, scheduler_settings, clock)
    assert recording.posts == []
    clock.now = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    await digest_job(NAME, study.id or 0)  # the weekly trigger fires
    await dispatch_job(NAME)
    clock.now = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)
    await restart(context, recording, scheduler_settings, clock)
    await digest_job(NAME, study.id or 0)
    await dispatch_job(NAME)
    await stop_scheduler(NAME)
    assert len(recording.posts) == 1
    [post] = recording.posts
    assert post.user_id == "C-team"
    assert post.text.startswith(
        "Weekly digest of “Escalations”, 2026-03-02 to 2026-03-09:"
    )
    assert "2 interviews completed (support agent 2); 2 in all of a target of 10" in (
        post.text
    )
    assert "had to re-explain their issue (1)" in post.text
    digests = [n for n in await notices(context.database, study.id or 0)]
    assert [n.kind for n in digests] == ["digest"]


async def test_digest_missed_while_stopped_posted_once(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    clock.now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    study = await make_study(context)
    await set_digest(
        context.database,
        study,
        mode=DigestMode.WEEKLY,
        channel="slack:C-team",
        time_zone="UTC",
        now=clock.now,
    )
    clock.now = datetime(2026, 3, 9, 8, 30, tzinfo=UTC)
    await restart(context, recording, scheduler_settings, clock)
    await stop_scheduler(NAME)
    for hour in (11, 12):  # stopped across 09:00, started twice afterwards
        clock.now = datetime(2026, 3, 9, hour, 0, tzinfo=UTC)
        await restart(context, recording, scheduler_settings, clock)
        await stop_scheduler(NAME)
    assert len(recording.posts) == 1
    assert "0 interviews completed; 0 in all" in recording.posts[0].text
