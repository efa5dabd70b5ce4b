"""5,000 invitations through a rate-limited adapter, each sent once.

The recording adapter enforces the limits the fake Slack server enforces
for chat.postMessage (about 1 message per second per channel with a burst
of 3, and 300 a minute across the workspace), against the test clock. The
dispatcher runs every 10 seconds of test time, as with the default
dispatch interval.
"""

from __future__ import annotations

import time as wall
from collections import Counter
from datetime import timedelta

from sqlmodel import func, select

from bot.config import SchedulerSettings
from bot.context import AppContext
from storage import Invitation, InvitationKind, InvitationStatus, Participant
from tests.recording_adapter import RecordingAdapter
from tests.scheduling_support import dispatch, make_study
from tests.support import Clock

INVITATIONS = 5000
ALLOWED_PER_SECOND = 300 / 60
INTERVAL_SECONDS = 10
MAX_PASSES = 2000


async def _schedule(
    context: AppContext, study_ids: list[int], users: int, clock: Clock
):
    async with context.database.session() as session:
        for study_id in study_ids:
            for number in range(users):
                person = Participant(
                    study_id=study_id, platform="slack", platform_user_id=f"U{number}"
                )
                session.add(person)
                await session.flush()
                assert person.id is not None
                session.add(
                    Invitation(
                        study_id=study_id,
                        participant_id=person.id,
                        due_at=clock.now,
                        message="Would you take part?",
                    )
                )
        await session.commit()


async def _dispatch_until_done(
    context: AppContext, adapter: RecordingAdapter, clock: Clock
) -> int:
    settings = SchedulerSettings(dispatch_interval_seconds=INTERVAL_SECONDS)
    for passes in range(1, MAX_PASSES + 1):
        await dispatch(context, {"slack": adapter}, settings, clock.now)
        async with context.database.session() as session:
            left = (
                await session.exec(
                    select(func.count()).where(
                        Invitation.kind == InvitationKind.INVITATION,
                        Invitation.status == InvitationStatus.SCHEDULED,
                    )
                )
            ).one()
        if left == 0:
            return passes
        clock.advance(INTERVAL_SECONDS)
    raise AssertionError(
        f"{left} invitations still scheduled after {MAX_PASSES} passes"
    )


async def test_five_thousand_sent_once_at_allowed_rate(
    context: AppContext, clock: Clock
) -> None:
    adapter = RecordingAdapter(clock=lambda: clock.now, rate_limited=True)
    study = await make_study(context)
    await _schedule(context, [study.id or 0], INVITATIONS, clock)
    started = clock.now
    wall_start = wall.perf_counter()
    passes = await _dispatch_until_done(context, adapter, clock)
    wall_seconds = wall.perf_counter() - wall_start

    recipients = Counter(sent.user_id for sent in adapter.sent)
    assert len(adapter.sent) == INVITATIONS
    assert set(recipients.values()) == {1}
    last = max(sent.at for sent in adapter.sent if sent.at)
    elapsed = (last - started).total_seconds()
    # The first 300 go out at once (the workspace burst), the rest at 5/s.
    sustained = (INVITATIONS - 300) / elapsed
    print(
        f"\n{INVITATIONS} invitations sent once each in {elapsed:.0f} s of test "
        f"time over {passes} dispatcher passes: {INVITATIONS / elapsed:.2f}/s "
        f"overall and {sustained:.2f}/s after the burst, against an allowed "
        f"{ALLOWED_PER_SECOND:.2f}/s; {wall_seconds:.1f} s of wall time"
    )
    assert sustained >= 0.9 * ALLOWED_PER_SECOND
    assert sustained <= ALLOWED_PER_SECOND * 1.01


async def test_one_channel_paced_after_burst(context: AppContext, clock: Clock) -> None:
    adapter = RecordingAdapter(clock=lambda: clock.now, rate_limited=True)
    studies = [await make_study(context) for _ in range(6)]
    await _schedule(context, [s.id or 0 for s in studies], 1, clock)
    settings = SchedulerSettings()
    for _second in range(10):
        await dispatch(context, {"slack": adapter}, settings, clock.now)
        clock.advance(1)
    times = [sent.at for sent in adapter.sent if sent.at]
    assert len(times) == 6
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert gaps[:2] == [timedelta(0), timedelta(0)]  # the burst of 3
    assert all(gap >= timedelta(seconds=1) for gap in gaps[2:])
