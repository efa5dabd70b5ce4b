"""Invitations through the Slack adapter to the fake Slack with its rate limits.

The fake's clock and the dispatcher's clock move together, so Slack's
limits apply in test time: conversations.open 50 a minute, chat.postMessage
1 a second per channel and about 300 a minute per workspace (the numbers in
tests/fakes/slack_limits.py). The client's own rate-limit retries are off,
so every 429 reaches the dispatcher as RateLimitedError. The
number of invitations can be lowered with PERSPECTIVE_TEST_SLACK_INVITATIONS
for a quick run.
"""

from __future__ import annotations

import os
import time as wall
from collections import Counter

import pytest
from sqlmodel import func, select

from adapters.slack.adapter import SlackAdapter, build_client
from bot.config import SchedulerSettings
from bot.context import AppContext
from storage import Invitation, InvitationKind, InvitationStatus, Participant
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_records import ManualClock
from tests.scheduling_support import dispatch, make_study
from tests.support import Clock

INVITATIONS = int(os.environ.get("PERSPECTIVE_TEST_SLACK_INVITATIONS", "5000"))
INTERVAL_SECONDS = 10
MAX_PASSES = 5000


async def _scheduled_left(context: AppContext) -> int:
    async with context.database.session() as session:
        return (
            await session.exec(
                select(func.count()).where(
                    Invitation.kind == InvitationKind.INVITATION,
                    Invitation.status == InvitationStatus.SCHEDULED,
                )
            )
        ).one()


@pytest.mark.slow
async def test_invitations_through_fake_slack(
    context: AppContext, clock: Clock
) -> None:
    fake_clock = ManualClock()
    study = await make_study(context)
    assert study.id is not None
    async with FakeSlack(clock=fake_clock) as slack:
        users = [f"U{number:07d}" for number in range(INVITATIONS)]
        async with context.database.session() as session:
            for user in users:
                slack.add_user(user, f"User {user}")
                person = Participant(
                    study_id=study.id, platform="slack", platform_user_id=user
                )
                session.add(person)
                await session.flush()
                assert person.id is not None
                session.add(
                    Invitation(
                        study_id=study.id,
                        participant_id=person.id,
                        due_at=clock.now,
                        message="Would you take part?",
                    )
                )
            await session.commit()
        adapter = SlackAdapter(
            build_client(slack.bot_token, slack.api_url, rate_limit_retries=0)
        )
        settings = SchedulerSettings(dispatch_interval_seconds=INTERVAL_SECONDS)
        started = wall.perf_counter()
        passes = 0
        while passes < MAX_PASSES:
            passes += 1
            await dispatch(context, adapter, settings, clock.now)
            if await _scheduled_left(context) == 0:
                break
            clock.advance(INTERVAL_SECONDS)
            fake_clock.advance(INTERVAL_SECONDS)
        wall_seconds = wall.perf_counter() - started

        posts = [call for call in slack.calls_to("chat.postMessage") if call.ok]
        opens = [call for call in slack.calls_to("conversations.open") if call.ok]
        refused = [call for call in slack.calls if call.status == 429]
        assert slack.limit_violations == []
    per_channel = Counter(call.args["channel"] for call in posts)
    assert len(posts) == INVITATIONS
    assert len(per_channel) == INVITATIONS
    assert set(per_channel.values()) == {1}
    elapsed = posts[-1].time - posts[0].time
    print(
        f"\n{INVITATIONS} invitations through the Slack adapter in {elapsed:.0f} s "
        f"of test time over {passes} passes: {INVITATIONS / max(elapsed, 1):.2f}/s; "
        f"{len(opens)} conversations.open, {len(refused)} answers of HTTP 429; "
        f"{wall_seconds:.1f} s of wall time"
    )
