"""Attacks on the Slack and Discord adapters, each pinned by a test."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import func, select

from adapters.base import InboundMessage, SummaryReply
from adapters.slack.blocks import ANSWER_ACTION_PREFIX, DECLINE_ACTION, START_ACTION
from bot.context import AppContext
from interview_engine import plans
from interview_engine.report import Quote, SummaryReport, ThemeResult
from storage import Interview, Message, MessageRole, Study
from storage.types import utcnow
from tests.discord_support import (
    CHANNEL,
    GUILD,
    RESEARCHER,
    populate,
    running_discord,
)
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_state import ADMINISTRATOR, FakeChannel, FakeMember, FakeRole
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_payloads import block_actions_payload, button_action
from tests.slack_support import (
    RESEARCHER as SLACK_RESEARCHER,
)
from tests.slack_support import (
    TEAM_CHANNEL,
    SlackHarness,
    running_bot,
)
from tests.slack_support import populate as populate_slack
from tests.support import long_answers

QUESTION = "How can we improve our escalation process for complex cases?"


async def short_study(context: AppContext, *, owner: str = SLACK_RESEARCHER) -> Study:
    """A one-question open study: one answer leads to the recap."""
    study = await context.studies.create(
        QUESTION, owner_platform="slack", owner_id=owner
    )
    study_id = study.id or 0
    await context.studies.change_questions(
        study_id, lambda qs: [qs[0].model_copy(update={"mandatory": True})]
    )
    await context.studies.set_interview_settings(
        study_id, max_probes_per_question=0, min_questions_before_close=0
    )
    return await context.studies.set_experience(
        study_id, require_known_participants=False
    )


async def count(context: AppContext, *conditions: Any) -> int:
    async with context.database.session() as session:
        query = select(func.count()).select_from(Message)
        for condition in conditions:
            query = query.where(condition)
        return int((await session.exec(query)).one())


@pytest.fixture
async def slack_harness(context: AppContext) -> AsyncIterator[SlackHarness]:
    async with FakeSlack() as slack:
        populate_slack(slack)
        async with running_bot(context, slack, "http") as harness:
            yield harness


async def press(harness: SlackHarness, user: str, message: Any, action_id: str) -> None:
    """Press the first button with `action_id` prefix on a stored DM message."""
    button = next(
        element
        for block in message.blocks or []
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"].startswith(action_id)
    )
    slack = harness.slack
    payload = block_actions_payload(
        actions=[
            button_action(
                button["action_id"], button["value"], text=button["text"]["text"]
            )
        ],
        user_id=user,
        channel_id=message.channel,
        team_id=slack.team_id,
        api_app_id=slack.app_id,
        message={"ts": message.ts, "text": message.text, "blocks": message.blocks},
        response_url=slack.workspace.issue_response_url(
            slack.base_url, user_id=user, channel_id=message.channel
        ),
        trigger_id=slack.workspace.issue_trigger(user),
    )
    await slack.post_interaction(harness.url, payload)
    await harness.settle()


async def test_answer_button_pressed_twice_counts_once(
    slack_harness: SlackHarness, context: AppContext
) -> None:
    study = await short_study(context)
    user = "UPART00000"
    await slack_harness.start_interview(user, study.join_code)
    await slack_harness.dm(user, long_answers(1)[0])
    await slack_harness.settle()
    stored = slack_harness.bot_messages(slack_harness.slack.dm_channel(user))[-1]
    assert "Did I get that right" in stored.text
    # The message as the participant's client showed it, buttons included
    # (the bot replaces them after the first press).
    recap = copy.deepcopy(stored)
    await press(slack_harness, user, recap, ANSWER_ACTION_PREFIX)
    await press(slack_harness, user, recap, ANSWER_ACTION_PREFIX)
    answers = await count(context, Message.role == MessageRole.PARTICIPANT)
    assert answers == 2  # the answer to the question, and one "yes"
    async with context.database.session() as session:
        interview = (await session.exec(select(Interview))).one()
    assert interview.state["contact_ok"] is None  # the contact question is unanswered


async def test_button_under_older_question_ignored(context: AppContext) -> None:
    study = await context.studies.create(QUESTION)
    participant = await context.participants.ensure(
        study, platform="slack", workspace_id="", user_id="U1"
    )
    started = await context.conversations.start(study, participant, channel_id="D1")
    first, second = started.replies
    await context.conversations.mark_delivered(first.message_id, ["111.1"])
    await context.conversations.mark_delivered(second.message_id, ["111.2"])
    stale = await context.conversations.accept(
        InboundMessage(
            "slack", "", "U1", "D1", "yes", "buttons:111.1", reply_to="111.1"
        )
    )
    fresh = await context.conversations.accept(
        InboundMessage(
            "slack", "", "U1", "D1", "yes", "buttons:111.2", reply_to="111.2"
        )
    )
    assert stale.status == "stale"
    assert fresh.status == "stored"


async def test_burst_of_messages_is_one_answer(context: AppContext) -> None:
    study = await context.studies.create(
        QUESTION, owner_platform="slack", owner_id=SLACK_RESEARCHER
    )
    await context.studies.set_experience(
        study.id or 0, require_known_participants=False
    )
    async with FakeSlack() as slack:
        populate_slack(slack)
        async with running_bot(context, slack, "http", reply_delay=0.5) as harness:
            user = "UPART00001"
            await harness.start_interview(user, study.join_code)
            before = len(harness.dm_texts(user))
            for part in (
                "So first",
                "the agent said",
                "they would call back",
                "and then",
                "nobody called for two weeks",
            ):
                await harness.dm(user, part)
            await harness.settle()
            await harness.settle()
            replies = harness.dm_texts(user)[before:]
    assert len(replies) == 1


async def test_after_stop_nothing_is_offered(
    slack_harness: SlackHarness, context: AppContext
) -> None:
    study = await short_study(context)
    user = "UPART00002"
    await slack_harness.start_interview(user, study.join_code)
    await slack_harness.dm(user, "stop")
    await slack_harness.settle()
    before = slack_harness.bot_messages(slack_harness.slack.dm_channel(user))
    await slack_harness.dm(user, "hello again?")
    await slack_harness.settle()
    after = slack_harness.bot_messages(slack_harness.slack.dm_channel(user))
    new = after[len(before) :]
    assert len(new) == 1
    assert "opted out earlier" in new[0].text
    assert START_ACTION not in json.dumps(new[0].blocks)


async def test_decline_in_channel_keeps_button(
    slack_harness: SlackHarness, context: AppContext
) -> None:
    study = await short_study(context)
    await slack_harness.command(SLACK_RESEARCHER, TEAM_CHANNEL, f"link {study.id}")
    await slack_harness.settle()
    post = slack_harness.bot_messages(TEAM_CHANNEL)[-1]
    await press(slack_harness, "UPART00001", post, DECLINE_ACTION)
    assert slack_harness.slack.updates == []
    notes = [
        p
        for p in slack_harness.slack.response_url_posts
        if "change your mind" in json.dumps(p.body)
    ]
    assert notes
    assert all(p.response_type in (None, "ephemeral") for p in notes)


async def test_question_form_too_long_refused(
    slack_harness: SlackHarness, context: AppContext
) -> None:
    study = await context.studies.create(
        QUESTION, owner_platform="slack", owner_id=SLACK_RESEARCHER
    )
    for number in range(9):
        await context.studies.change_questions(
            study.id or 0,
            lambda qs, n=number: plans.add_question(
                qs, f"Question {n}: " + "tell me about it " * 25, mandatory=False
            ),
        )
    await slack_harness.command(SLACK_RESEARCHER, TEAM_CHANNEL, f"plan {study.id}")
    await slack_harness.settle()
    plan_post = [
        p
        for p in slack_harness.slack.response_url_posts
        if "perspective_edit_questions" in json.dumps(p.body)
    ][-1]
    message = type(
        "Posted",
        (),
        {
            "blocks": plan_post.body["blocks"],
            "channel": TEAM_CHANNEL,
            "ts": "1.1",
            "text": plan_post.body["text"],
        },
    )()
    await press(slack_harness, SLACK_RESEARCHER, message, "perspective_edit_questions")
    assert slack_harness.slack.calls_to("views.open") == []
    assert any(
        "too long to edit in a form" in json.dumps(p.body)
        for p in slack_harness.slack.response_url_posts
    )


async def test_owner_manages_only_own_study(
    slack_harness: SlackHarness, context: AppContext
) -> None:
    mine = await context.studies.create(
        QUESTION, owner_platform="slack", owner_id="UPART00002"
    )
    theirs = await context.studies.create(
        QUESTION, owner_platform="slack", owner_id=SLACK_RESEARCHER
    )
    await slack_harness.command("UPART00002", TEAM_CHANNEL, f"close {theirs.id}")
    await slack_harness.command("UPART00002", TEAM_CHANNEL, f"close {mine.id}")
    await slack_harness.settle()
    assert (await context.studies.get(theirs.id or 0)).status == "active"
    assert (await context.studies.get(mine.id or 0)).status == "closed"


async def test_researcher_text_cannot_ping(
    slack_harness: SlackHarness, context: AppContext
) -> None:
    study = await short_study(context)
    await context.studies.set_experience(
        study.id or 0, researcher_name="<!channel> Maya"
    )
    await slack_harness.command(SLACK_RESEARCHER, TEAM_CHANNEL, f"link {study.id}")
    await slack_harness.settle()
    post = slack_harness.bot_messages(TEAM_CHANNEL)[-1]
    text = json.dumps(post.blocks)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text


@pytest.fixture
async def two_servers() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        populate(fake)
        mallory = 500_000_000_000_000_001
        fake.add_user(mallory, "mallory")
        fake.add_guild(
            600_000_000_000_000_001,
            "Other",
            channels=[FakeChannel(600_000_000_000_000_010, "general")],
            roles=[FakeRole(600_000_000_000_000_020, "Admin", ADMINISTRATOR)],
            members=[FakeMember(mallory, [600_000_000_000_000_020])],
            owner_id=mallory,
        )
        yield fake


async def test_admin_of_other_server_refused(
    context: AppContext, two_servers: FakeDiscord
) -> None:
    study = await context.studies.create(
        QUESTION, owner_platform="discord", owner_id=str(RESEARCHER)
    )
    async with running_discord(context, two_servers) as harness:
        await harness.bot.sync_commands(600_000_000_000_000_001)
        interaction = await harness.command(
            "export",
            {"study": str(study.id)},
            user=500_000_000_000_000_001,
            channel=600_000_000_000_000_010,
        )
        await two_servers.wait_until(
            lambda: bool(two_servers.followups_for(interaction.token))
        )
        reply = json.dumps(two_servers.followups_for(interaction.token))
        posted = harness.channel_posts(600_000_000_000_000_010)
    assert "several servers" in reply
    assert posted == []


async def test_discord_quotes_are_inert(
    context: AppContext, two_servers: FakeDiscord
) -> None:
    async with running_discord(context, two_servers) as harness:
        report = SummaryReport(
            study_id=1,
            study_title="t",
            research_question="q",
            generated_at=utcnow(),
            provider="offline",
            total=1,
            signals=[
                ThemeResult(
                    key="s",
                    label="waited",
                    kind="signal",
                    count=1,
                    total=1,
                    quotes=[
                        Quote(
                            text="[click for refund](https://evil.example) @everyone",
                            interview_id=1,
                        )
                    ],
                )
            ],
        )
        await harness.bot.adapter.post_to_channel(str(CHANNEL), SummaryReply(report))
        call = [
            c
            for c in two_servers.rest_calls
            if c.method == "POST" and c.path.endswith(f"/channels/{CHANNEL}/messages")
        ][-1]
    field = call.body["embeds"][0]["fields"][0]["value"]
    assert "\\[click for refund]" in field  # a literal bracket, not a link
    assert "@everyone" not in field
    assert call.body["allowed_mentions"]["parse"] == []


async def test_discord_settings_options_applied(
    context: AppContext, two_servers: FakeDiscord
) -> None:
    two_servers_guilds = two_servers
    study = await context.studies.create(
        QUESTION, owner_platform="discord", owner_id=str(RESEARCHER)
    )
    async with running_discord(context, two_servers_guilds) as harness:
        harness.bot.settings.guild_ids.append(GUILD)
        interaction = await harness.command(
            "settings",
            {"study": str(study.id), "researcher_name": "Dana Lee", "open_join": True},
        )
        await two_servers.wait_until(
            lambda: bool(two_servers.followups_for(interaction.token))
        )
    stored = await context.studies.get(study.id or 0)
    assert stored.experience["researcher_name"] == "Dana Lee"
    assert stored.experience["require_known_participants"] is False


async def test_sweep_sends_what_failed(
    slack_harness: SlackHarness, context: AppContext
) -> None:
    study = await short_study(context)
    user = "UPART00001"
    await slack_harness.start_interview(user, study.join_code)
    before = len(slack_harness.dm_texts(user))
    slack_harness.bot.runtime.backoff_seconds = 0.01
    # Six server errors in a row on this DM: more than the four inline
    # attempts absorb, so the reply waits for the sweeper.
    slack_harness.slack.fail_when(
        "chat.postMessage",
        "fatal_error",
        status=500,
        count=6,
        match={"channel": slack_harness.slack.dm_channel(user)},
    )
    await slack_harness.dm(user, long_answers(1)[0])
    await slack_harness.settle()
    assert len(slack_harness.dm_texts(user)) == before
    await slack_harness.bot.runtime.sweep(grace=timedelta(0))
    assert len(slack_harness.dm_texts(user)) == before + 1


async def test_sweep_keeps_to_its_platform(context: AppContext) -> None:
    study = await context.studies.create(QUESTION)
    for platform, user in (("slack", "U1"), ("discord", "42")):
        participant = await context.participants.ensure(
            study, platform=platform, workspace_id="", user_id=user
        )
        await context.conversations.start(
            study, participant, channel_id=f"{platform}-dm"
        )
        await context.conversations.accept(
            InboundMessage(platform, "", user, f"{platform}-dm", "an answer", "m1")
        )
    slack_waiting = await context.conversations.awaiting_reply("slack")
    discord_waiting = await context.conversations.awaiting_reply("discord")
    assert len(slack_waiting) == 1
    assert len(discord_waiting) == 1
    assert set(slack_waiting) != set(discord_waiting)
