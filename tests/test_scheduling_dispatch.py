"""The dispatcher: each outcome of a send, downtime repairs, claims."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from adapters.errors import (
    MissingPermissionError,
    RateLimitedError,
    RecipientUnreachableError,
    TemporaryDeliveryError,
)
from bot.config import SchedulerSettings
from bot.context import AppContext
from bot.scheduling.outcomes import DispatchState
from storage import Invitation, InvitationKind, InvitationStatus, scheduling_queries
from tests.recording_adapter import RecordingAdapter
from tests.scheduling_support import (
    add_participant,
    add_row,
    dispatch,
    invitations,
    make_study,
    notices,
    participant,
    statuses,
)
from tests.support import Clock


async def test_due_invitation_sent_once_with_reminders(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    person = await add_participant(context, study, "U1")
    await add_row(context.database, study, person, due_at=clock.now)
    first = await dispatch(context, recording, scheduler_settings, clock.now)
    second = await dispatch(context, recording, scheduler_settings, clock.now)
    assert first.sent == 1
    assert second.sent == 0
    assert recording.texts_to("U1") == ["Would you take part?"]
    rows = await invitations(context.database, study.id or 0)
    assert statuses(rows) == ["sent", "scheduled", "scheduled"]
    assert rows[0].sent_at == clock.now
    reminders = rows[1:]
    assert [r.kind for r in reminders] == ["reminder", "reminder"]
    assert [r.reminder_number for r in reminders] == [1, 2]
    # Monday 10:00 UTC plus 2 and 5 days: Wednesday, then Saturday moved to Monday.
    assert reminders[0].due_at == clock.now + timedelta(days=2)
    assert reminders[1].due_at == clock.now + timedelta(days=7, hours=-1)


async def test_row_not_due_stays_scheduled(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    person = await add_participant(context, study, "U1")
    await add_row(
        context.database, study, person, due_at=clock.now + timedelta(hours=1)
    )
    report = await dispatch(context, recording, scheduler_settings, clock.now)
    assert report.claimed == 0
    assert recording.sent == []


async def test_unreachable_cancels_pending_rows(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    person = await add_participant(context, study, "U1")
    await add_row(context.database, study, person, due_at=clock.now)
    await add_row(
        context.database,
        study,
        person,
        due_at=clock.now + timedelta(days=2),
        kind=InvitationKind.REMINDER,
    )
    recording.fail_next(RecipientUnreachableError("account deactivated"))
    report = await dispatch(context, recording, scheduler_settings, clock.now)
    assert report.failed == 1
    rows = await invitations(context.database, study.id or 0)
    assert statuses(rows) == ["failed", "cancelled"]
    assert rows[0].last_error == "recipient unreachable: account deactivated"
    assert "cannot be reached" in (rows[1].status_reason or "")
    stored = await participant(context.database, person.id or 0)
    assert stored.unreachable_reason == "account deactivated"


async def test_rate_limit_holds_rest_of_platform(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    discord = RecordingAdapter(platform="discord")
    for user in ("U1", "U2", "U3"):
        person = await add_participant(context, study, user)
        await add_row(context.database, study, person, due_at=clock.now)
    other = await add_participant(context, study, "D1", platform="discord")
    await add_row(context.database, study, other, due_at=clock.now)
    recording.fail_next(RateLimitedError(30))
    adapters = {"slack": recording, "discord": discord}
    report = await dispatch(context, adapters, scheduler_settings, clock.now)
    assert report.sent == 1  # the Discord row
    assert report.rate_limited == 1
    assert recording.sent == []
    rows = await invitations(context.database, study.id or 0)
    slack_rows = [
        r for r in rows if r.participant_id != other.id and r.reminder_number == 0
    ]
    assert statuses(slack_rows) == ["scheduled"] * 3
    assert {r.due_at for r in slack_rows} == {clock.now + timedelta(seconds=30)}
    assert [r.attempts for r in slack_rows] == [0, 0, 0]
    clock.advance(30)
    later = await dispatch(context, adapters, scheduler_settings, clock.now)
    assert later.sent == 3


async def test_temporary_failure_backs_off_then_fails(
    context: AppContext,
    recording: RecordingAdapter,
    clock: Clock,
) -> None:
    settings = SchedulerSettings(max_attempts=3, backoff_seconds=60)
    study = await make_study(context)
    person = await add_participant(context, study, "U1")
    await add_row(context.database, study, person, due_at=clock.now)
    expected_waits = [60, 120]
    for wait in expected_waits:
        recording.fail_next(TemporaryDeliveryError("HTTP 503"))
        await dispatch(context, recording, settings, clock.now)
        [row] = await invitations(context.database, study.id or 0)
        assert row.status == InvitationStatus.SCHEDULED
        assert row.due_at == clock.now + timedelta(seconds=wait)
        clock.advance(wait)
    recording.fail_next(TemporaryDeliveryError("HTTP 503"))
    report = await dispatch(context, recording, settings, clock.now)
    [row] = await invitations(context.database, study.id or 0)
    assert report.failed == 1
    assert row.status == InvitationStatus.FAILED
    assert row.attempts == 3
    assert row.last_error == "gave up after 3 attempts: HTTP 503"
    assert recording.sent == []


async def test_missing_permission_alerts_once(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    study = await make_study(context)
    for user in ("U1", "U2"):
        person = await add_participant(context, study, user)
        await add_row(context.database, study, person, due_at=clock.now)
        recording.fail_next(MissingPermissionError("im:write"))
    state = DispatchState()
    with caplog.at_level(logging.ERROR, logger="bot.scheduling.dispatch"):
        report = await dispatch(
            context, recording, scheduler_settings, clock.now, state=state
        )
    assert report.failed == 2
    assert report.retried == 0
    rows = await invitations(context.database, study.id or 0)
    assert statuses(rows) == ["failed", "failed"]
    permission_lines = [r for r in caplog.records if "im:write" in r.getMessage()]
    assert len(permission_lines) == 1
    alerts = [n for n in await notices(context.database, study.id or 0)]
    assert [n.kind for n in alerts] == ["permission"]
    assert alerts[0].recipient_id == "UR1"
    # The alert is a DM to the researcher, delivered in the same pass.
    assert "im:write" in recording.texts_to("UR1")[0]


async def test_downtime_grace_sends_recent_misses_old(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    recent = await add_participant(context, study, "U1")
    old = await add_participant(context, study, "U2")
    await add_row(
        context.database, study, recent, due_at=clock.now - timedelta(hours=3)
    )
    await add_row(context.database, study, old, due_at=clock.now - timedelta(hours=30))
    report = await dispatch(context, recording, scheduler_settings, clock.now)
    assert report.sent == 1
    assert report.missed == 1
    rows = await invitations(context.database, study.id or 0)
    by_user = {row.participant_id: row for row in rows if row.reminder_number == 0}
    assert by_user[recent.id].status == InvitationStatus.SENT
    assert by_user[old.id].status == InvitationStatus.MISSED
    assert "24 hours" in (by_user[old.id].status_reason or "")
    [report_notice] = await notices(context.database, study.id or 0)
    assert report_notice.kind == "missed"
    assert report_notice.status == InvitationStatus.SENT
    assert "1 message to participants" in report_notice.text
    assert recording.texts_to("U2") == []


async def test_stale_claims_released_or_failed(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    never_tried = await add_participant(context, study, "U1")
    in_flight = await add_participant(context, study, "U2")
    first = await add_row(context.database, study, never_tried, due_at=clock.now)
    second = await add_row(context.database, study, in_flight, due_at=clock.now)
    async with context.database.session() as session:
        claimed = await scheduling_queries.claim_due(
            session,
            Invitation,
            platforms=["slack"],
            worker="dead-process",
            now=clock.now,
            limit=10,
        )
        await scheduling_queries.start_sending(
            session, Invitation, second.id or 0, "dead-process", clock.now
        )
        await session.commit()
    assert claimed == [first.id, second.id]
    before_timeout = await dispatch(context, recording, scheduler_settings, clock.now)
    assert before_timeout.sent == 0
    clock.advance(11 * 60)
    report = await dispatch(context, recording, scheduler_settings, clock.now)
    assert report.released == 1
    assert report.unconfirmed == 1
    assert recording.texts_to("U1") == ["Would you take part?"]
    assert recording.texts_to("U2") == []
    rows = {r.id: r for r in await invitations(context.database, study.id or 0)}
    assert rows[second.id].status == InvitationStatus.FAILED
    assert "not confirmed" in (rows[second.id].last_error or "")


async def test_platform_without_adapter_waits(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    study = await make_study(context)
    person = await add_participant(context, study, "D1", platform="discord")
    await add_row(context.database, study, person, due_at=clock.now - timedelta(days=3))
    state = DispatchState()
    with caplog.at_level(logging.WARNING, logger="bot.scheduling.dispatch"):
        for _ in range(2):
            report = await dispatch(
                context,
                {"slack": recording},
                scheduler_settings,
                clock.now,
                state=state,
            )
    assert report.waiting_platforms == {"discord"}
    assert report.missed == 0
    [row] = await invitations(context.database, study.id or 0)
    assert row.status == InvitationStatus.SCHEDULED
    warnings = [r for r in caplog.records if "no discord adapter" in r.getMessage()]
    assert len(warnings) == 1


async def test_outside_working_hours_deferred(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    person = await add_participant(context, study, "U1", time_zone="Asia/Tokyo")
    await add_row(context.database, study, person, due_at=clock.now)
    report = await dispatch(context, recording, scheduler_settings, clock.now)
    assert report.deferred == 1
    [row] = await invitations(context.database, study.id or 0)
    # 10:00 UTC is 19:00 in Tokyo: the next opening is Tuesday 09:00 there.
    assert row.due_at == clock.now + timedelta(hours=14)
    assert row.status == InvitationStatus.SCHEDULED


async def test_cancel_after_claim_prevents_send(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    person = await add_participant(context, study, "U1")
    row = await add_row(context.database, study, person, due_at=clock.now)
    async with context.database.session() as session:
        await scheduling_queries.claim_due(
            session,
            Invitation,
            platforms=["slack"],
            worker="test-worker",
            now=clock.now,
            limit=10,
        )
        cancelled = await scheduling_queries.cancel_pending(
            session, person.id or 0, reason="the participant opted out"
        )
        started = await scheduling_queries.start_sending(
            session, Invitation, row.id or 0, "test-worker", clock.now
        )
        await session.commit()
    assert cancelled == 1
    assert started is False
