"""Send times in local working hours, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import SchedulerSettings
from bot.context import AppContext
from bot.errors import InvalidInputError
from bot.scheduling.invitations import InviteRequest, invite
from bot.scheduling.send_times import (
    SendTime,
    WorkingHours,
    reminder_times,
    send_time_for,
)
from bot.scheduling.templates import check_template, render
from storage import InvitationKind
from tests.recording_adapter import RecordingAdapter
from tests.scheduling_support import (
    add_participant,
    add_row,
    dispatch,
    invitations,
    make_study,
)
from tests.support import Clock

LOS_ANGELES = ZoneInfo("America/Los_Angeles")
EVERY_DAY = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]


async def test_invitation_at_2am_local_sent_at_9am(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    clock.now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Monday 02:00 in LA
    study = await make_study(context)
    await add_participant(context, study, "U1", time_zone="America/Los_Angeles")
    [planned] = await invite(
        context.database,
        study,
        InviteRequest(platform="slack", user_ids=["U1"], segment="customer"),
        scheduler_settings,
        now=clock.now,
    )
    assert planned.local_due_at == datetime(2026, 3, 2, 9, 0, tzinfo=LOS_ANGELES)
    adapters = {"slack": recording}
    await dispatch(context, adapters, scheduler_settings, clock.now)
    assert recording.sent == []
    clock.now = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 09:00 in LA
    report = await dispatch(context, adapters, scheduler_settings, clock.now)
    assert report.sent == 1
    assert recording.sent[0].at == clock.now


async def test_due_row_at_2am_local_deferred_to_9am(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    clock.now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    study = await make_study(context)
    person = await add_participant(
        context, study, "U1", time_zone="America/Los_Angeles"
    )
    await add_row(context.database, study, person, due_at=clock.now)
    await dispatch(context, recording, scheduler_settings, clock.now)
    [row] = await invitations(context.database, study.id or 0)
    assert row.due_at.astimezone(LOS_ANGELES) == datetime(
        2026, 3, 2, 9, 0, tzinfo=LOS_ANGELES
    )
    assert recording.sent == []


async def test_daily_reminder_once_per_local_day_across_dst(
    context: AppContext, recording: RecordingAdapter, clock: Clock
) -> None:
    settings = SchedulerSettings(
        working_days=EVERY_DAY,
        reminder_offsets_days=[1, 2, 3, 4, 5],
        max_reminders=5,
    )
    # Thursday 5 March 2026, 09:00 PST; clocks go forward on Sunday 8 March.
    clock.now = datetime(2026, 3, 5, 17, 0, tzinfo=UTC)
    study = await make_study(context)
    person = await add_participant(
        context, study, "U1", time_zone="America/Los_Angeles"
    )
    await add_row(context.database, study, person, due_at=clock.now)
    adapters = {"slack": recording}
    for _hour in range(24 * 7):
        await dispatch(context, adapters, settings, clock.now)
        clock.advance(3600)
    assert len(recording.sent) == 6
    local_times = [
        sent.at.astimezone(LOS_ANGELES) for sent in recording.sent if sent.at
    ]
    dates = [moment.date().isoformat() for moment in local_times]
    assert dates == [
        "2026-03-05",
        "2026-03-06",
        "2026-03-07",
        "2026-03-08",
        "2026-03-09",
        "2026-03-10",
    ]
    assert {moment.time() for moment in local_times} == {time(9, 0)}
    utc_hours = [sent.at.hour for sent in recording.sent if sent.at]
    assert utc_hours == [17, 17, 17, 16, 16, 16]
    rows = await invitations(context.database, study.id or 0)
    assert [r.kind for r in rows].count(InvitationKind.REMINDER) == 5


def test_reminder_sharing_a_day_moves_to_next() -> None:
    hours = WorkingHours(time(9), time(17), frozenset(range(5)))
    sent_at = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)  # Friday
    # 1 and 2 days later are Saturday and Sunday: both open on Monday.
    times = reminder_times(sent_at, [1, 2], zone=ZoneInfo("UTC"), hours=hours)
    assert [t.date().isoformat() for t in times] == ["2026-03-09", "2026-03-10"]
    assert [t.hour for t in times] == [9, 9]


def test_days_after_resolution_keeps_local_time() -> None:
    hours = WorkingHours(time(9), time(17), frozenset(range(7)))
    resolved = datetime(2026, 3, 6, 19, 0, tzinfo=UTC)  # 11:00 PST, Friday
    due = SendTime(days_after_resolution=7)
    moment = send_time_for(
        due, now=resolved, zone=LOS_ANGELES, hours=hours, resolved_at=resolved
    )
    assert moment.astimezone(LOS_ANGELES) == datetime(
        2026, 3, 13, 11, 0, tzinfo=LOS_ANGELES
    )
    assert moment - resolved == timedelta(days=7, hours=-1)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Hi {nam}", "Unknown placeholder “{nam}”"),
        ("Hi {name!r}", "Unknown placeholder"),
        ("Hi {name", "unmatched brace"),
        ("   ", "empty"),
    ],
)
def test_bad_template_rejected(template: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_template(template)


def test_template_renders_placeholders() -> None:
    text = check_template("Hi {name}, {minutes} min for {study_title} {{braces}}")
    values = {"name": "Ana", "minutes": "10", "study_title": "Escalations"}
    assert render(text, values) == "Hi Ana, 10 min for Escalations {braces}"
