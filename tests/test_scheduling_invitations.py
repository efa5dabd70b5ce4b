"""Inviting participants, importing them from CSV, and reading the status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import SchedulerSettings
from bot.context import AppContext
from bot.errors import InvalidInputError
from bot.scheduling.invitations import InviteRequest, invite, plan_invitations
from bot.scheduling.participants_import import import_participants
from bot.scheduling.reminders import opt_out
from bot.scheduling.send_times import SendTime
from bot.scheduling.status import study_status
from storage import InvitationStatus
from tests.recording_adapter import RecordingAdapter
from tests.scheduling_support import add_participant, dispatch, invitations, make_study
from tests.support import Clock

CSV = """platform,user_id,name,segment,case_type,outcome,resolved_at,time_zone,region
slack,U1,Ana Silva,escalated customer,billing,refunded,2026-02-20,Europe/Lisbon,EU
slack,U2,Ben Ode,escalated customer,billing,refunded,2026-02-24,Mars/Olympus,EU
slack,,Cy Dunn,support agent,,,,,
slack,U4,Dee Park,support agent,,,2026-02-27T15:30,America/New_York,US
slack,U1,Ana Again,escalated customer,,,,,
discord,D5,Eve,escalated customer,shipping,replaced,2026-02-25,,
teams,T6,Fay,support agent,,,,,
slack,U7,Gus,support agent,,,March 1st,,
"""


async def test_csv_import_keeps_valid_rows(context: AppContext) -> None:
    study = await make_study(context)
    report = await import_participants(context.database, study, CSV)
    assert report.imported == 3
    messages = {error.line: error.message for error in report.errors}
    assert sorted(messages) == [3, 4, 6, 8, 9]
    assert messages[3].startswith("time_zone: Unknown time zone “Mars/Olympus”")
    assert messages[4] == "user_id is missing"
    assert messages[6] == "duplicate of line 2, left out"
    assert messages[8].startswith("platform “teams” is unknown")
    assert messages[9].startswith("resolved_at “March 1st” is not a date")
    people = {p.platform_user_id: p for p in await _participants(context, study)}
    assert set(people) == {"U1", "U4", "D5"}
    assert people["U1"].display_name == "Ana Silva"
    assert people["U1"].attributes == {"region": "EU"}
    assert people["U1"].resolved_at == datetime(2026, 2, 20, 0, 0, tzinfo=UTC)
    # 15:30 in New York (EST, UTC-5) is 20:30 UTC.
    assert people["U4"].resolved_at == datetime(2026, 2, 27, 20, 30, tzinfo=UTC)
    assert people["D5"].resolution_outcome == "replaced"
    again = await import_participants(context.database, study, CSV)
    assert again.imported == 0
    assert again.updated == 3


async def test_csv_without_required_columns_rejected(context: AppContext) -> None:
    study = await make_study(context)
    with pytest.raises(InvalidInputError, match="lacks user_id"):
        await import_participants(context.database, study, "platform,name\nslack,A\n")


async def test_invite_segment_after_import(
    context: AppContext, scheduler_settings: SchedulerSettings, clock: Clock
) -> None:
    study = await make_study(context)
    await import_participants(context.database, study, CSV)
    planned = await invite(
        context.database,
        study,
        InviteRequest(
            platform="slack",
            segment="escalated customer",
            template="Hi {name}, join {study_title} by {researcher_name}.",
            send_time=SendTime(days_after_resolution=10),
        ),
        scheduler_settings,
        now=clock.now,
    )
    assert [p.user_id for p in planned] == ["U1"]
    [ana] = planned
    assert ana.message == "Hi Ana, join Escalations by the research team."
    # Resolved 20 February at 00:00 in Lisbon (UTC), ten days later is a
    # Monday before the window: 09:00 that day, which has already passed.
    assert ana.due_at == clock.now
    second = await invite(
        context.database,
        study,
        InviteRequest(platform="slack", segment="escalated customer"),
        scheduler_settings,
        now=clock.now,
    )
    assert second == []


async def test_invite_skips_with_reasons(
    context: AppContext,
    scheduler_settings: SchedulerSettings,
    recording: RecordingAdapter,
    clock: Clock,
) -> None:
    study = await make_study(context)
    stopped = await add_participant(context, study, "U2")
    await opt_out(context.database, stopped.id or 0)
    started = await add_participant(context, study, "U3")
    await context.conversations.start(study, started, channel_id="D3")
    recording.unreachable["U4"] = "account deactivated"
    recording.time_zones["U1"] = "Asia/Tokyo"
    planned = await invite(
        context.database,
        study,
        InviteRequest(
            platform="slack",
            user_ids=["U1", "U2", "U3", "U4", "U5", "U1"],
            segment="agent",
            send_time=SendTime(days_after_resolution=3),
        ),
        scheduler_settings,
        now=clock.now,
        adapters={"slack": recording},
    )
    reasons = {p.user_id: p.skipped for p in planned}
    assert reasons == {
        "U1": reasons["U1"],
        "U2": "opted out",
        "U3": "already started the interview",
        "U4": "cannot be reached: account deactivated",
        "U5": reasons["U5"],
    }
    assert "no resolution date" in (reasons["U1"] or "")
    dated = await invite(
        context.database,
        study,
        InviteRequest(platform="slack", user_ids=["U1"], segment="agent"),
        scheduler_settings,
        now=clock.now,
        adapters={"slack": recording},
    )
    assert dated[0].time_zone == "Asia/Tokyo"
    # 10:00 UTC is 19:00 in Tokyo: the invitation waits for 09:00 there.
    assert dated[0].due_at == clock.now + timedelta(hours=14)
    again = await invite(
        context.database,
        study,
        InviteRequest(platform="slack", user_ids=["U1"], segment="agent"),
        scheduler_settings,
        now=clock.now,
    )
    assert again[0].skipped == "already has an invitation or reminder waiting"


async def test_preview_stores_nothing(
    context: AppContext, scheduler_settings: SchedulerSettings, clock: Clock
) -> None:
    study = await make_study(context)
    request = InviteRequest(
        platform="slack",
        user_ids=["U1"],
        segment="agent",
        send_time=SendTime(at=datetime(2026, 3, 3, 11, 30)),
    )
    preview = await plan_invitations(
        context.database, study, request, scheduler_settings, now=clock.now
    )
    assert preview[0].due_at == datetime(2026, 3, 3, 11, 30, tzinfo=UTC)
    assert preview[0].invitation_id is None
    assert await _participants(context, study) == []
    stored = await invite(
        context.database, study, request, scheduler_settings, now=clock.now
    )
    assert stored[0].message == preview[0].message
    assert stored[0].due_at == preview[0].due_at


async def test_status_counts_with_reasons(
    context: AppContext,
    scheduler_settings: SchedulerSettings,
    recording: RecordingAdapter,
    clock: Clock,
) -> None:
    from adapters.errors import RecipientUnreachableError

    study = await make_study(context)
    await invite(
        context.database,
        study,
        InviteRequest(platform="slack", user_ids=["U1", "U2", "U3"], segment="a"),
        scheduler_settings,
        now=clock.now,
    )
    recording.fail_next(RecipientUnreachableError("user not found"), user_id="U2")
    await dispatch(context, recording, scheduler_settings, clock.now)
    people = {p.platform_user_id: p for p in await _participants(context, study)}
    await context.conversations.start(study, people["U1"], channel_id="D1")
    await opt_out(context.database, people["U3"].id or 0)
    report = await study_status(context.database, study.id or 0)
    assert report.counts == {
        "scheduled": 0,
        "sent": 2,
        "failed": 1,
        "missed": 0,
        "cancelled": 4,
        "started": 1,
        "completed": 0,
        "opted_out": 1,
        "unreachable": 1,
    }
    assert report.by_kind["invitation"] == {"sent": 2, "failed": 1}
    reasons = {(r.status, r.reason): r.count for r in report.reasons}
    assert reasons[("unreachable", "user not found")] == 1
    assert reasons[("failed", "recipient unreachable: user not found")] == 1
    assert reasons[("cancelled", "the participant started the interview")] == 2
    assert reasons[("cancelled", "the participant opted out")] == 2
    assert report.as_dict()["counts"]["sent"] == 2
    rows = await invitations(context.database, study.id or 0)
    assert sum(r.status == InvitationStatus.CANCELLED for r in rows) == 4


async def _participants(context: AppContext, study):
    from storage import outreach_queries

    async with context.database.session() as session:
        return list(await outreach_queries.participants_of(session, study.id))
