"""Invitations through the real Slack and Discord adapters, from the commands.

The scheduler's clock is controlled: each test dispatches at the moment the
invitations fall due (inside the participants' working hours), never by
waiting, except where a platform client itself waits out a Retry-After.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from adapters.discord.render import START_PREFIX
from bot.config import SchedulerSettings
from bot.context import AppContext
from bot.scheduling.scheduler import find_runtime, start_scheduler, stop_scheduler
from storage import Invitation, InvitationStatus, Participant
from tests.discord_support import (
    CHANNEL,
    PARTICIPANTS,
    RESEARCHER,
    DiscordHarness,
    running_discord,
)
from tests.discord_support import populate as populate_discord
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack import FakeSlack
from tests.scheduling_support import dispatch
from tests.slack_support import RESEARCHER as SLACK_RESEARCHER
from tests.slack_support import TEAM_CHANNEL, running_bot
from tests.slack_support import populate as populate_slack

QUESTION = "How can we improve our escalation process for complex cases?"


async def rows(context: AppContext) -> list[Invitation]:
    """The invitation rows (reminders that follow them are left out)."""
    async with context.database.session() as session:
        query = select(Invitation).where(Invitation.kind == "invitation")
        return list((await session.exec(query)).all())


async def participants(context: AppContext) -> dict[str, Participant]:
    async with context.database.session() as session:
        found = (await session.exec(select(Participant))).all()
    return {p.platform_user_id: p for p in found}


async def due_moment(context: AppContext) -> datetime:
    """The time at which every scheduled invitation has fallen due."""
    due = [
        r.due_at for r in await rows(context) if r.status == InvitationStatus.SCHEDULED
    ]
    assert due, "nothing was scheduled"
    return max(due) + timedelta(seconds=1)


async def dispatch_until_done(
    context: AppContext, adapter: object, settings: SchedulerSettings, start: datetime
) -> datetime:
    now = start
    for _pass in range(50):
        await dispatch(context, adapter, settings, now)  # type: ignore[arg-type]
        if not [
            r
            for r in await rows(context)
            if r.status == InvitationStatus.SCHEDULED and r.kind == "invitation"
        ]:
            return now
        now += timedelta(seconds=settings.dispatch_interval_seconds)
    raise AssertionError("invitations were still scheduled after 50 passes")


async def test_slack_rate_limit_mid_invitations(context: AppContext) -> None:
    async with FakeSlack() as slack:
        users = [f"UINV{n:06d}" for n in range(30)]
        populate_slack(slack)
        for user in users:
            slack.add_user(user, f"agent{user[-2:]}", tz="Europe/Berlin")
        async with running_bot(context, slack, "socket") as harness:
            study = await context.studies.create(
                QUESTION, owner_platform="slack", owner_id=SLACK_RESEARCHER
            )
            mentions = " ".join(f"<@{u}|a>" for u in users)
            await harness.command(
                SLACK_RESEARCHER,
                TEAM_CHANNEL,
                f'invite {study.id} {mentions} --segment "support agent"',
            )
            await harness.settle()
            assert len(await rows(context)) == 30
            # The post to the 16th invitee gets 429 with Retry-After: 2 once;
            # slack_sdk's retry handler waits it out and posts again.
            slack.fail_when(
                "chat.postMessage",
                "ratelimited",
                status=429,
                retry_after=2,
                count=1,
                match={"channel": users[15]},
            )
            settings = SchedulerSettings(batch_size=15)
            now = await due_moment(context)
            await dispatch_until_done(context, harness.bot.adapter, settings, now)
        refused = [c for c in slack.calls_to("chat.postMessage") if c.status == 429]
        posted = [c for c in slack.calls_to("chat.postMessage") if c.ok]
    assert len(refused) == 1
    per_user = Counter(str(call.args["channel"]) for call in posted)
    assert sorted(per_user) == sorted(users)
    assert set(per_user.values()) == {1}
    assert {r.status for r in await rows(context)} == {InvitationStatus.SENT}


async def test_slack_unreachable_invitees(context: AppContext) -> None:
    async with FakeSlack() as slack:
        populate_slack(slack)
        slack.add_user("UGONE00001", "gone", deleted=True)
        slack.add_user("UBOT000001", "helper-bot", is_bot=True)
        slack.add_user("UOK0000001", "ok-agent")
        async with running_bot(context, slack, "http") as harness:
            study = await context.studies.create(
                QUESTION, owner_platform="slack", owner_id=SLACK_RESEARCHER
            )
            await harness.command(
                SLACK_RESEARCHER,
                TEAM_CHANNEL,
                f"invite {study.id} <@UGONE00001> <@UBOT000001> <@UNOSUCH001> "
                "<@UOK0000001> --segment agent",
            )
            await harness.settle()
            settings = SchedulerSettings()
            await dispatch_until_done(
                context, harness.bot.adapter, settings, await due_moment(context)
            )
            # The researcher is told in the command's reply, seen only by them.
            replies = [str(p.body.get("text", "")) for p in slack.response_url_posts]
    people = await participants(context)
    assert people["UGONE00001"].unreachable_reason == "account_inactive"
    assert people["UBOT000001"].unreachable_reason == "cannot_dm_bot"
    assert people["UNOSUCH001"].unreachable_reason == "user_not_found"
    assert people["UOK0000001"].unreachable_reason is None
    sent = [r for r in await rows(context) if r.status == InvitationStatus.SENT]
    assert [r.participant_id for r in sent] == [people["UOK0000001"].id]
    summary = next(r for r in replies if "invitations scheduled" in r)
    assert summary.count("skipped") == 3


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        populate_discord(fake, closed_dms=(PARTICIPANTS[3], PARTICIPANTS[4]))
        yield fake


async def consenting_study(context: AppContext, users: list[int]) -> int:
    study = await context.studies.create(
        QUESTION, owner_platform="discord", owner_id=str(RESEARCHER)
    )
    for user in users:
        await context.participants.ensure(
            study,
            platform="discord",
            workspace_id="",
            user_id=str(user),
            segment="customer",
            consent=True,
        )
    return study.id or 0


async def invite_all(harness: DiscordHarness, study_id: int, users: list[int]) -> None:
    mentions = " ".join(f"<@{u}>" for u in users)
    interaction = await harness.command(
        "invite", {"study": str(study_id), "users": mentions}
    )
    fake = harness.fake
    await fake.wait_until(lambda: bool(fake.followups_for(interaction.token)))


async def test_discord_closed_dms(
    context: AppContext, discord_fake: FakeDiscord
) -> None:
    study_id = await consenting_study(context, PARTICIPANTS)
    async with running_discord(context, discord_fake) as harness:
        await invite_all(harness, study_id, PARTICIPANTS)
        settings = SchedulerSettings()
        now = await dispatch_until_done(
            context, harness.bot.adapter, settings, await due_moment(context)
        )
        await dispatch(
            context, harness.bot.adapter, settings, now + timedelta(minutes=1)
        )
        code = (await context.studies.get(study_id)).join_code
        for user in PARTICIPANTS[:3]:
            await harness.click(f"{START_PREFIX}{code}", user, channel=None)
        welcomed = [
            u
            for u in PARTICIPANTS
            if any("AI interviewer" in m["content"] for m in harness.bot_dms(u))
        ]
        told = [m["content"] for m in harness.bot_dms(RESEARCHER)]
    people = await participants(context)
    assert welcomed == PARTICIPANTS[:3]
    for user in PARTICIPANTS[3:]:
        assert people[str(user)].unreachable_reason == "dms_closed"
    assert sum("do not accept direct messages" in text for text in told) == 2


async def test_discord_dm_opening_too_fast(
    context: AppContext, discord_fake: FakeDiscord
) -> None:
    users = [400_000_000_000_000_000 + n for n in range(100)]
    for user in users:
        discord_fake.add_user(user, f"member{user % 1000}")
    study_id = await consenting_study(context, users)
    async with running_discord(context, discord_fake) as harness:
        await invite_all(harness, study_id, users)
        assert len(await rows(context)) == 100
        discord_fake.fail_dm_open_after(20)
        settings = SchedulerSettings(batch_size=100)
        now = await due_moment(context)
        report = await dispatch(context, harness.bot.adapter, settings, now)
        assert report.sent == 20
        assert report.rate_limited >= 1
        discord_fake.rest.channels.dm_open_limit = None  # Discord lets up again
        await dispatch_until_done(
            context, harness.bot.adapter, settings, now + timedelta(minutes=2)
        )
        dms = {u: len(harness.bot_dms(u)) for u in users}
    assert set(dms.values()) == {1}
    assert {r.status for r in await rows(context)} == {InvitationStatus.SENT}


async def test_discord_ready_twice_one_scheduler(
    context: AppContext, discord_fake: FakeDiscord
) -> None:
    users = PARTICIPANTS[:3]
    study_id = await consenting_study(context, users)
    async with running_discord(context, discord_fake) as harness:
        await invite_all(harness, study_id, users)
        adapters = {"discord": harness.bot.adapter}
        first = await start_scheduler(
            context.database,
            adapters,
            SchedulerSettings(),
            name="ready-twice",
            run_now=False,
        )
        try:
            await discord_fake.disconnect(4009, resumable=False)
            await discord_fake.wait_until(lambda: discord_fake.identify_count >= 2)
            await harness.settle()
            second = await start_scheduler(
                context.database,
                adapters,
                SchedulerSettings(),
                name="ready-twice",
                run_now=False,
            )
            assert second is first
            assert find_runtime("ready-twice") is first
            jobs = [job.id for job in first.scheduler.get_jobs()]
            assert len(jobs) == len(set(jobs))
            now = await due_moment(context)
            await dispatch(context, harness.bot.adapter, SchedulerSettings(), now)
            await dispatch(context, harness.bot.adapter, SchedulerSettings(), now)
        finally:
            await stop_scheduler("ready-twice")
        counts = {u: len(harness.bot_dms(u)) for u in users}
    assert set(counts.values()) == {1}


async def test_discord_invite_needs_consent(
    context: AppContext, discord_fake: FakeDiscord
) -> None:
    study = await context.studies.create(
        QUESTION, owner_platform="discord", owner_id=str(RESEARCHER)
    )
    async with running_discord(context, discord_fake) as harness:
        interaction = await harness.command(
            "invite", {"study": str(study.id), "users": f"<@{PARTICIPANTS[0]}>"}
        )
        await discord_fake.wait_until(
            lambda: bool(discord_fake.followups_for(interaction.token))
        )
        reply = json.dumps(discord_fake.followups_for(interaction.token))
    assert "unsolicited" in reply
    assert await rows(context) == []
    assert CHANNEL  # the command ran in the community channel
