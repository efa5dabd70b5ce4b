"""Discord end to end: the real discord.py against the fake Discord."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlmodel import col, func, select

from adapters.base import SummaryReply, TextReply
from adapters.discord.render import (
    MAX_CONTENT,
    START_PREFIX,
    embed_size,
    summary_messages,
)
from bot.config import Settings
from bot.context import AppContext
from bot.simulate import Record, simulate
from interview_engine.report import Quote, SummaryReport, ThemeResult
from storage import (
    Interview,
    InterviewStatus,
    Message,
    MessageRole,
    Participant,
    Summary,
)
from tests.discord_support import (
    CHANNEL,
    PARTICIPANTS,
    RESEARCHER,
    DiscordHarness,
    populate,
    running_discord,
)
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import context_with_model, long_answers, next_question_model

QUESTION = "How can we improve how community customers get help with complex cases?"
ACK_WINDOW = 3.0


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        populate(server)
        yield server


@pytest.fixture
async def harness(
    context: AppContext, fake: FakeDiscord
) -> AsyncIterator[DiscordHarness]:
    async with running_discord(context, fake) as running:
        yield running


async def open_study(context: AppContext) -> tuple[int, str]:
    study = await context.studies.create(
        QUESTION, owner_platform="discord", owner_id=str(RESEARCHER)
    )
    study = await context.studies.set_experience(
        study.id or 0, require_known_participants=False
    )
    return study.id or 0, study.join_code


async def join(harness: DiscordHarness, study_id: int, code: str, user: int) -> None:
    """Post the study's Start button in the channel and press it as `user`."""
    await harness.command(
        "post-invite", {"study": str(study_id), "channel": (7, str(CHANNEL))}
    )
    await harness.click(f"{START_PREFIX}{code}", user)


async def interview_status(context: AppContext, user: int) -> str | None:
    async with context.database.session() as session:
        result = await session.exec(
            select(Interview.status)
            .join(Participant, col(Participant.id) == col(Interview.participant_id))
            .where(Participant.platform_user_id == str(user))
        )
        return result.first()


async def participant_messages(context: AppContext) -> int:
    async with context.database.session() as session:
        query = (
            select(func.count())
            .select_from(Message)
            .where(Message.role == MessageRole.PARTICIPANT)
        )
        return int((await session.exec(query)).one())


def assert_within_limits(fake: FakeDiscord) -> None:
    assert fake.limit_violations == []
    assert fake.validation_errors == []
    for response in fake.interaction_responses:
        assert response.error_code is None, response
        assert response.latency is not None and response.latency < ACK_WINDOW


async def test_interview_from_button_after_restart(
    settings: Settings, context: AppContext, fake: FakeDiscord
) -> None:
    study_id, code = await open_study(context)
    async with running_discord(context, fake) as first:
        await first.command(
            "post-invite", {"study": str(study_id), "channel": (7, str(CHANNEL))}
        )
        posted = first.channel_posts()
        assert posted, "the invite button was not posted"
        assert f"{START_PREFIX}{code}" in json.dumps(posted[-1].get("components")), (
            posted
        )

    # A new process: the button must still work.
    async with running_discord(context, fake) as second:
        user = PARTICIPANTS[0]
        await second.click(f"{START_PREFIX}{code}", user)
        assert "AI interviewer" in second.bot_dms(user)[0]["content"]
        answers = iter(long_answers(40) + ["yes"] * 4)
        for _ in range(50):
            if await interview_status(context, user) == InterviewStatus.COMPLETED:
                break
            await second.dm(user, next(answers))
        assert await interview_status(context, user) == InterviewStatus.COMPLETED

        await second.command("summary", {"study": str(study_id)})
        summary = second.channel_posts()[-1]
        assert summary["embeds"][0]["title"].startswith("Summary:")
        assert_within_limits(fake)


async def test_dm_text_attachment_and_server_message(
    harness: DiscordHarness, context: AppContext, fake: FakeDiscord
) -> None:
    study_id, code = await open_study(context)
    user = PARTICIPANTS[1]
    await join(harness, study_id, code, user)
    before = len(harness.bot_dms(user))

    await harness.dm(user, long_answers(1)[0])
    assert await participant_messages(context) == 1
    assert len(harness.bot_dms(user)) == before + 1

    await harness.dm(user, "", attachments=[("screenshot.png", b"\x89PNG...")])
    assert await participant_messages(context) == 1
    assert "only read text" in harness.bot_dms(user)[-1]["content"]

    delivered = await fake.dispatch(
        "MESSAGE_CREATE",
        fake.message_payload(user_id=user, content="", channel_id=CHANNEL),
    )
    await harness.settle()
    # Without the guild messages intent Discord does not deliver it at all.
    assert delivered is None
    assert await participant_messages(context) == 1


async def test_slow_command_deferred_then_followup(
    fake_openai: FakeOpenAI, settings: Settings, fake: FakeDiscord
) -> None:
    fake_openai.responder = next_question_model()
    async with context_with_model(settings, fake_openai) as context:
        study_id, _code = await open_study(context)
        # One completed interview, so that the question has passages to read.
        record = Record(
            line=1,
            key="r1",
            text=" ".join(long_answers(3)),
            name="",
            segment="customer",
            case_type=None,
            outcome=None,
            resolved_at=None,
        )
        await simulate(
            context.database,
            context.conversations,
            await context.studies.get(study_id),
            [record],
            questions=[],
        )
        fake_openai.responder = lambda body: Reply(
            content=json.dumps({"answer": "They wait days.", "excerpt_ids": [0]}),
            delay=5.0,
        )
        async with running_discord(context, fake) as running:
            interaction = await running.command(
                "ask",
                {
                    "study": str(study_id),
                    "question": "what about the specialist email?",
                },
            )
            responses = fake.responses_to(interaction)
            assert len(responses) == 1
            assert (
                responses[0].latency is not None and responses[0].latency < ACK_WINDOW
            )
            assert responses[0].type == 5  # deferred: "thinking"
            await fake.wait_until(lambda: bool(fake.followups_for(interaction.token)))
            followups = fake.followups_for(interaction.token)
            assert len(followups) == 1
            assert "They wait days." in followups[0]["content"]


async def test_error_after_defer_one_message(
    harness: DiscordHarness, fake: FakeDiscord
) -> None:
    interaction = await harness.command("summary", {"study": "999"})
    assert len(fake.responses_to(interaction)) == 1
    followups = fake.followups_for(interaction.token)
    assert len(followups) == 1
    assert "No study is numbered" in followups[0]["content"]


async def test_long_reply_and_big_summary_within_limits(
    harness: DiscordHarness, fake: FakeDiscord
) -> None:
    user = PARTICIPANTS[2]
    long_text = ("We kept waiting for the specialist to call back. " * 55).strip()
    assert len(long_text) > 2600
    ids = await harness.bot.adapter.send_direct_message(str(user), TextReply(long_text))
    assert len(ids) == 2
    sent = harness.bot_dms(user)
    assert all(len(m["content"]) <= MAX_CONTENT for m in sent)
    assert " ".join(m["content"] for m in sent) == long_text

    themes = [
        ThemeResult(
            key=f"theme:{n}",
            label=f"Theme number {n} " + "with a long label " * 10,
            kind="theme",
            count=n,
            total=30,
            quotes=[Quote(text="A quote that goes on and on. " * 12, interview_id=n)],
        )
        for n in range(1, 31)
    ]
    report = SummaryReport(
        study_id=1,
        study_title="T" * 300,
        research_question="Why? " * 900,
        generated_at=datetime.now(UTC),
        provider="offline",
        total=30,
        themes=themes,
    )
    await harness.bot.adapter.post_to_channel(str(CHANNEL), SummaryReply(report))
    posts = harness.channel_posts()
    assert len(posts) > 1
    for post in posts:
        assert len(post["embeds"]) <= 10
    assert fake.limit_violations == []
    text = json.dumps(posts)
    for theme in themes:
        assert theme.label.split(" with")[0] in text


def test_summary_embeds_counted_within_total() -> None:
    themes = [
        ThemeResult(
            key=f"t{n}",
            label="x" * 250,
            kind="signal",
            count=1,
            total=2,
            quotes=[Quote(text="y" * 900, interview_id=1)],
        )
        for n in range(40)
    ]
    report = SummaryReport(
        study_id=1,
        study_title="t",
        research_question="q",
        generated_at=datetime.now(UTC),
        provider="offline",
        total=2,
        signals=themes,
    )
    for message in summary_messages(report):
        assert len(message.embeds) <= 10
        assert sum(embed_size(e) for e in message.embeds) <= 6000
        for embed in message.embeds:
            assert len(embed.fields) <= 25


async def test_ready_twice_starts_once(
    harness: DiscordHarness, fake: FakeDiscord
) -> None:
    recoveries = []
    original = harness.bot.runtime.sweep

    async def counting(**options: object) -> None:
        recoveries.append(1)
        await original(**options)  # type: ignore[arg-type]

    harness.bot.runtime.sweep = counting  # type: ignore[method-assign]
    await fake.disconnect(4009, resumable=False)
    await fake.wait_until(lambda: fake.identify_count >= 2)
    await harness.settle()
    assert fake.identify_count == 2
    assert recoveries == []  # start-up work ran once, before this second READY


async def test_resume_replay_handled_once(
    harness: DiscordHarness, context: AppContext, fake: FakeDiscord
) -> None:
    study_id, code = await open_study(context)
    user = PARTICIPANTS[3]
    await join(harness, study_id, code, user)
    before = len(harness.bot_dms(user))
    message = await harness.dm(user, long_answers(1)[0])
    fake.replay_after_resume(int(message["id"]))
    await fake.disconnect(4000, resumable=True)
    await fake.wait_until(lambda: fake.resume_count >= 1)
    await harness.settle()
    assert await participant_messages(context) == 1
    assert len(harness.bot_dms(user)) == before + 1


async def test_summary_in_dm_friendly_error(
    harness: DiscordHarness, context: AppContext, fake: FakeDiscord
) -> None:
    await open_study(context)
    interaction = await harness.command("summary", {}, channel=None)
    responses = fake.responses_to(interaction)
    assert len(responses) == 1
    assert "server channel" in json.dumps(responses[0].data)
    async with context.database.session() as session:
        count = (await session.exec(select(func.count()).select_from(Summary))).one()
    assert count == 0


async def test_participant_cannot_run_commands(
    harness: DiscordHarness, context: AppContext, fake: FakeDiscord
) -> None:
    study_id, _code = await open_study(context)
    interaction = await harness.command(
        "status", {"study": str(study_id)}, user=PARTICIPANTS[0]
    )
    followups = fake.followups_for(interaction.token)
    assert len(followups) == 1
    assert "Only researchers" in followups[0]["content"]


async def test_intents_are_minimal(harness: DiscordHarness, fake: FakeDiscord) -> None:
    intents = fake.identify_payloads[0]["intents"]
    assert intents == (1 << 0) | (1 << 12)  # GUILDS and DIRECT_MESSAGES
