"""Per-interview notes, the target notice and redaction of personal details."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import SchedulerSettings
from bot.context import AppContext
from bot.errors import InvalidInputError
from bot.scheduling.digests import check_targets, queue_interview_notes, set_digest
from bot.scheduling.redaction import redact
from storage import DigestMode
from tests.recording_adapter import RecordingAdapter
from tests.scheduling_support import (
    add_participant,
    completed_interview,
    dispatch,
    make_study,
    notices,
)
from tests.support import Clock


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at ana.silva@example.com", "mail me at [email]"),
        ("call +1 (555) 123-4567 today", "call [phone] today"),
        ("or 0171 1234567", "or [phone]"),
        ("order 123456789 failed", "order [number] failed"),
        ("on 2026-03-02 it broke", "on 2026-03-02 it broke"),
        ("it cost $1,250", "it cost $1,250"),
        ("My name is Ana Silva, thanks", "My name is [name], thanks"),
        ("Ana said no", "[name] said no"),
    ],
)
def test_redact_replaces_details(text: str, expected: str) -> None:
    assert redact(text, ["Ana Silva"]) == expected


async def test_note_per_completed_interview_redacted(
    context: AppContext,
    recording: RecordingAdapter,
    scheduler_settings: SchedulerSettings,
    clock: Clock,
) -> None:
    study = await make_study(context)
    before = await add_participant(context, study, "U0", name="Old Timer")
    await completed_interview(
        context.database, study, before, "Old news.", completed_at=clock.now
    )
    clock.advance(60)
    await set_digest(
        context.database,
        study,
        mode=DigestMode.PER_INTERVIEW,
        channel="slack:C-team",
        now=clock.now,
    )
    person = await add_participant(context, study, "U1", name="Ana Silva")
    interview = await completed_interview(
        context.database,
        study,
        person,
        "Ana here, ring 555-123-4567 about case 99887766.",
        completed_at=clock.advance(60),
    )
    assert await queue_interview_notes(context.database, now=clock.now) == 1
    assert await queue_interview_notes(context.database, now=clock.now) == 0
    await dispatch(context, recording, scheduler_settings, clock.now)
    [post] = recording.posts
    assert post.user_id == "C-team"
    assert post.text == (
        f"Interview {interview.id} completed (support agent). Key point: "
        "[name] here, ring [phone] about case [number]."
    )


async def test_target_notice_sent_once(
    context: AppContext, scheduler_settings: SchedulerSettings, clock: Clock
) -> None:
    study = await make_study(context)
    await set_digest(
        context.database,
        study,
        mode=DigestMode.OFF,
        channel=None,
        target=2,
        now=clock.now,
    )
    for number in range(3):
        person = await add_participant(context, study, f"U{number}")
        await completed_interview(
            context.database,
            study,
            person,
            "Fine.",
            completed_at=clock.now + timedelta(minutes=number),
        )
        await check_targets(context.database, now=clock.now)
    [notice] = await notices(context.database, study.id or 0)
    assert notice.kind == "target-reached"
    assert notice.recipient_id == "UR1"
    assert notice.text.startswith("“Escalations” has reached its target: 2 completed")


@pytest.mark.parametrize(
    ("channel", "message"),
    [(None, "Name the team channel"), ("teams:C1", "not PLATFORM:CHANNEL")],
)
async def test_digest_needs_valid_channel(
    context: AppContext, clock: Clock, channel: str | None, message: str
) -> None:
    study = await make_study(context)
    with pytest.raises(InvalidInputError, match=message):
        await set_digest(
            context.database,
            study,
            mode=DigestMode.DAILY,
            channel=channel,
            now=clock.now,
        )
