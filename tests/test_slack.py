"""Slack end to end: the real slack-bolt and slack-sdk against the fake Slack."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, func, select

from adapters.slack.blocks import MAX_BLOCKS, START_ACTION
from bot.config import Settings
from bot.context import AppContext
from storage import Interview, InterviewStatus, Message, MessageRole, Summary
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_payloads import (
    app_home_opened_event,
    file_shared_event,
    message_changed_event,
    message_deleted_event,
    message_event,
)
from tests.slack_support import (
    PRIVATE_CHANNEL,
    RESEARCHER,
    TEAM_CHANNEL,
    Mode,
    SlackHarness,
    populate,
    running_bot,
)
from tests.support import context_with_model, long_answers, next_question_model

QUESTION = "How can we improve our escalation process for complex cases?"
MODES: list[Mode] = ["socket", "http"]
ACK_WINDOW = 3.0


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture(params=MODES)
async def harness(
    request: pytest.FixtureRequest, context: AppContext, slack: FakeSlack
) -> AsyncIterator[SlackHarness]:
    populate(slack)
    async with running_bot(context, slack, request.param) as running:
        yield running


async def open_study(context: AppContext, *, open_join: bool = True) -> int:
    study = await context.studies.create(
        QUESTION, owner_platform="slack", owner_id=RESEARCHER
    )
    assert study.id is not None
    await context.studies.set_experience(
        study.id, require_known_participants=not open_join
    )
    return study.id


async def join_code(context: AppContext, study_id: int) -> str:
    return (await context.studies.get(study_id)).join_code


async def interview_status(context: AppContext, user: str) -> str | None:
    async with context.database.session() as session:
        from storage import Participant

        result = await session.exec(
            select(Interview.status)
            .join(Participant, col(Participant.id) == col(Interview.participant_id))
            .where(Participant.platform_user_id == user)
        )
        return result.first()


async def count_rows(context: AppContext, model: Any, *conditions: Any) -> int:
    async with context.database.session() as session:
        query = select(func.count()).select_from(model)
        for condition in conditions:
            query = query.where(condition)
        return int((await session.exec(query)).one())


async def run_slack_interview(
    harness: SlackHarness, context: AppContext, user: str
) -> None:
    """Answer in the DM until the interview completes."""
    answers = iter(long_answers(40) + ["yes"] * 4)
    for _ in range(50):
        if await interview_status(context, user) == InterviewStatus.COMPLETED:
            return
        ack = await harness.dm(user, next(answers))
        assert ack.latency < ACK_WINDOW
        await harness.settle()
    raise AssertionError("the interview did not complete")


def assert_within_limits(slack: FakeSlack) -> None:
    assert slack.limit_errors() == []
    for ack in slack.acks:
        assert ack.latency < ACK_WINDOW, f"{ack.kind} {ack.id} took {ack.latency:.2f} s"


async def test_interview_and_summary(
    harness: SlackHarness, context: AppContext, slack: FakeSlack
) -> None:
    study_id = await open_study(context)
    participant = "UPART00000"
    ack = await harness.command(RESEARCHER, TEAM_CHANNEL, f"link {study_id}")
    assert ack.status in (None, 200)
    await harness.settle()
    link_post = harness.bot_messages(TEAM_CHANNEL)[-1]
    assert link_post.blocks is not None
    assert "Start interview" in json.dumps(link_post.blocks)

    await harness.click(
        participant, TEAM_CHANNEL, START_ACTION, await join_code(context, study_id)
    )
    await harness.settle()
    welcome = harness.dm_texts(participant)
    assert "AI interviewer" in welcome[0]
    await run_slack_interview(harness, context, participant)
    assert "Noted" in harness.dm_texts(participant)[-1]

    await harness.command(RESEARCHER, TEAM_CHANNEL, f"summary {study_id}")
    await harness.settle()
    summary = harness.bot_messages(TEAM_CHANNEL)[-1]
    assert summary.text.startswith("Summary of")
    assert any(b["type"] == "header" for b in summary.blocks or [])
    assert await count_rows(context, Summary) == 1
    assert_within_limits(slack)


async def test_duplicate_event_handled_once(
    fake_openai: FakeOpenAI, settings: Settings, slack: FakeSlack
) -> None:
    populate(slack)
    fake_openai.responder = next_question_model()
    async with (
        context_with_model(settings, fake_openai) as context,
        running_bot(context, slack, "http") as harness,
    ):
        study_id = await open_study(context)
        user = "UPART00001"
        await harness.start_interview(user, await join_code(context, study_id))
        before = len(harness.dm_texts(user))
        calls_before = len(fake_openai.requests)
        event = message_event(
            user=user, channel=slack.dm_channel(user), text=long_answers(1)[0]
        )
        first = await harness.event(event, event_id="EvSAME0001")
        retry = await harness.event(event, event_id="EvSAME0001", retry_num=1)
        late = await harness.event(
            event, event_id="EvSAME0001", timestamp=int(time.time()) + 300
        )
        await harness.settle()
        assert first.status == 200
        assert retry.status == 200
        assert late.status in (200, 401)  # a timestamp 5 minutes off may be refused
        answers = await count_rows(
            context, Message, Message.role == MessageRole.PARTICIPANT
        )
        assert answers == 1
        assert len(fake_openai.requests) - calls_before == 1
        assert len(harness.dm_texts(user)) == before + 1


async def test_socket_redelivery_handled_once(
    context: AppContext, slack: FakeSlack
) -> None:
    populate(slack)
    async with running_bot(context, slack, "socket") as harness:
        study_id = await open_study(context)
        user = "UPART00002"
        await harness.start_interview(user, await join_code(context, study_id))
        before = len(harness.dm_texts(user))
        event = message_event(
            user=user, channel=slack.dm_channel(user), text=long_answers(1)[0]
        )
        await harness.event(event, event_id="EvDUP00001")
        await harness.event(event, event_id="EvDUP00001")
        await harness.event(
            event, event_id="EvDUP00001", retry_attempt=2, retry_reason="timeout"
        )
        await harness.settle()
        answers = await count_rows(
            context, Message, Message.role == MessageRole.PARTICIPANT
        )
        assert answers == 1
        assert len(harness.dm_texts(user)) == before + 1


@pytest.mark.parametrize("mode", MODES)
async def test_slow_model_acknowledged_in_time(
    mode: Mode, fake_openai: FakeOpenAI, settings: Settings, slack: FakeSlack
) -> None:
    populate(slack)
    fake_openai.responder = next_question_model(delay=5.0)
    async with (
        context_with_model(settings, fake_openai) as context,
        running_bot(context, slack, mode) as harness,
    ):
        study_id = await open_study(context)
        user = "UPART00001"
        await harness.start_interview(user, await join_code(context, study_id))
        before = len(harness.dm_texts(user))
        started = time.monotonic()
        ack = await harness.dm(user, long_answers(1)[0])
        assert ack.latency < ACK_WINDOW
        assert len(harness.dm_texts(user)) == before  # no reply yet
        await harness.settle()
        assert time.monotonic() - started >= 5.0
        assert len(harness.dm_texts(user)) == before + 1
        assert_within_limits(slack)


async def test_socket_reconnects_after_disconnect(
    context: AppContext, slack: FakeSlack
) -> None:
    populate(slack)
    async with running_bot(context, slack, "socket") as harness:
        study_id = await open_study(context)
        user = "UPART00000"
        await harness.start_interview(user, await join_code(context, study_id))
        before = len(harness.dm_texts(user))
        await slack.send_disconnect("refresh_requested")
        await slack.wait_for_connections(2, timeout=15)
        await harness.dm(user, long_answers(1)[0])
        await harness.settle()
        assert len(harness.dm_texts(user)) == before + 1


async def test_bot_messages_ignored(harness: SlackHarness, context: AppContext) -> None:
    study_id = await open_study(context)
    user = "UPART00000"
    await harness.start_interview(user, await join_code(context, study_id))
    before = len(harness.dm_texts(user))
    channel = harness.slack.dm_channel(user)
    own = message_event(
        user=harness.slack.bot_user_id,
        channel=channel,
        text="echo",
        bot_id=harness.slack.bot_id,
    )
    other = message_event(
        user="UOTHERAPP1",
        channel=channel,
        text="beep",
        subtype="bot_message",
        bot_id="B0OTHER001",
    )
    await harness.event(own)
    await harness.event(other)
    await harness.settle()
    assert (
        await count_rows(context, Message, Message.role == MessageRole.PARTICIPANT) == 0
    )
    assert len(harness.dm_texts(user)) == before


async def test_edit_and_delete_policy(
    harness: SlackHarness, context: AppContext
) -> None:
    study_id = await open_study(context)
    user = "UPART00000"
    await harness.start_interview(user, await join_code(context, study_id))
    channel = harness.slack.dm_channel(user)
    await harness.dm(user, "first answer", ts="1700000000.000100")
    await harness.settle()
    original = {
        "type": "message",
        "user": user,
        "text": "first answer",
        "ts": "1700000000.000100",
    }
    edit = message_changed_event(
        channel=channel,
        message={**original, "text": "edited later"},
        previous_message=original,
    )
    deletion = message_deleted_event(
        channel=channel, deleted_ts="1700000000.000100", previous_message=original
    )
    assert (await harness.event(edit)).status in (None, 200)
    assert (await harness.event(deletion)).status in (None, 200)
    await harness.settle()
    async with context.database.session() as session:
        stored = (
            await session.exec(
                select(Message).where(Message.role == MessageRole.PARTICIPANT)
            )
        ).one()
    # The bot had already replied, so the stored answer keeps its words.
    assert stored.text == "first answer"
    assert stored.deleted_at is None


async def test_edit_before_reply_replaces_answer(
    fake_openai: FakeOpenAI, settings: Settings, slack: FakeSlack
) -> None:
    populate(slack)
    fake_openai.responder = next_question_model(delay=1.5)
    async with (
        context_with_model(settings, fake_openai) as context,
        running_bot(context, slack, "http") as harness,
    ):
        study_id = await open_study(context)
        user = "UPART00000"
        await harness.start_interview(user, await join_code(context, study_id))
        channel = slack.dm_channel(user)
        original = {
            "type": "message",
            "user": user,
            "text": "teh answr",
            "ts": "1700000000.000200",
        }
        await harness.dm(user, "teh answr", ts="1700000000.000200")
        # The model is still working on the reply when the edit arrives.
        await harness.event(
            message_changed_event(
                channel=channel,
                message={**original, "text": "the answer, spelled right"},
                previous_message=original,
            )
        )
        await harness.settle()
        async with context.database.session() as session:
            stored = (
                await session.exec(
                    select(Message).where(Message.role == MessageRole.PARTICIPANT)
                )
            ).one()
        assert stored.text == "the answer, spelled right"
        assert stored.edited_at is not None


async def test_file_share_text_recorded(
    harness: SlackHarness, context: AppContext
) -> None:
    study_id = await open_study(context)
    user = "UPART00000"
    await harness.start_interview(user, await join_code(context, study_id))
    channel = harness.slack.dm_channel(user)
    shared = message_event(
        user=user,
        channel=channel,
        text="Here is the error I kept getting for weeks",
        files=[{"id": "F0FILE0001", "name": "error.png"}],
    )
    await harness.event(shared)
    ack = await harness.event(
        file_shared_event(file_id="F0FILE0001", user=user, channel=channel)
    )
    assert ack.status in (None, 200)
    await harness.settle()
    async with context.database.session() as session:
        stored = (
            await session.exec(
                select(Message).where(Message.role == MessageRole.PARTICIPANT)
            )
        ).one()
    assert stored.text == "Here is the error I kept getting for weeks"


async def test_long_summary_within_limits(
    context: AppContext, slack: FakeSlack, tmp_path: Any
) -> None:
    from bot.services.studies import guide_of
    from bot.simulate import FieldMap, read_records, simulate

    populate(slack)
    title = "Escalations " + "and complex cases " * 11
    study = await context.studies.create(QUESTION, title=title[:200])
    assert len(study.title) == 200
    records_file = tmp_path / "answers.jsonl"
    sentences = [
        "I had to explain my issue again to every agent after each transfer, and "
        "nobody read the notes that the previous person had written down for them. "
        + "The wait was long and frustrating. "
        * 8,
        "The supervisor promised a callback that never came and I waited weeks on "
        "hold with no response from anyone in the escalation team at all. "
        + "It felt like nobody owned the case. "
        * 8,
    ]
    with records_file.open("w") as handle:
        for n in range(60):
            handle.write(
                json.dumps(
                    {
                        "id": f"p{n}",
                        "segment": ["escalated customer", "support agent"][n % 2],
                        "text": sentences[n % 2] + f" Case {n} was about billing.",
                    }
                )
                + "\n"
            )
    records = read_records(records_file, FieldMap())
    report = await simulate(
        context.database,
        context.conversations,
        study,
        records,
        questions=[q.text for q in guide_of(study).questions],
    )
    assert report.completed == 60
    async with running_bot(context, slack, "socket") as harness:
        await harness.command(RESEARCHER, TEAM_CHANNEL, f"summary {study.id}")
        await harness.settle()
        posted = harness.bot_messages(TEAM_CHANNEL)
    assert posted
    for message in posted:
        assert len(message.blocks or []) <= MAX_BLOCKS
        assert message.text
    everything = json.dumps([m.blocks for m in posted])
    assert title.split()[0] in everything
    assert title[:200].strip() in json.loads(json.dumps(everything))  # full title shown
    assert_within_limits(slack)


async def test_summary_in_channel_without_bot(
    harness: SlackHarness, context: AppContext
) -> None:
    study_id = await open_study(context)
    await harness.command(RESEARCHER, PRIVATE_CHANNEL, f"summary {study_id}")
    await harness.settle()
    guidance = [
        p for p in harness.slack.response_url_posts if "/invite" in json.dumps(p.body)
    ]
    assert guidance, "no guidance about adding the bot"
    assert all(p.response_type in (None, "ephemeral") for p in guidance)
    assert harness.bot_messages(PRIVATE_CHANNEL) == []
    assert await count_rows(context, Summary) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        {"bad_signature": True},
        {"timestamp": int(time.time()) - 600},
        {"tamper_body": True},
    ],
    ids=["bad-signature", "stale-timestamp", "changed-body"],
)
async def test_unsigned_requests_rejected(
    context: AppContext, slack: FakeSlack, tamper: dict[str, Any]
) -> None:
    populate(slack)
    async with running_bot(context, slack, "http") as harness:
        study_id = await open_study(context)
        user = "UPART00000"
        await harness.start_interview(user, await join_code(context, study_id))
        event = message_event(
            user=user, channel=slack.dm_channel(user), text="hello there"
        )
        delivery = await slack.post_event(harness.url, event, **tamper)
        await harness.settle()
        assert delivery.status == 401
        assert (
            await count_rows(context, Message, Message.role == MessageRole.PARTICIPANT)
            == 0
        )


async def test_stranger_gets_explanation(
    harness: SlackHarness, context: AppContext
) -> None:
    await open_study(context, open_join=False)
    await harness.dm("UPART00002", "hi, what is this?")
    await harness.settle()
    texts = harness.dm_texts("UPART00002")
    assert len(texts) == 1
    assert "not part of one" in texts[0]
    await harness.dm("UPART00002", "hello?")
    await harness.settle()
    assert len(harness.dm_texts("UPART00002")) == 1  # not repeated at once


async def test_stranger_offered_open_study(
    harness: SlackHarness, context: AppContext
) -> None:
    study_id = await open_study(context, open_join=True)
    user = "UPART00002"
    await harness.dm(user, "hi")
    await harness.settle()
    messages = harness.bot_messages(harness.slack.dm_channel(user))
    assert "open to anyone" in messages[0].text
    assert START_ACTION in json.dumps(messages[1].blocks)
    await harness.click(
        user,
        harness.slack.dm_channel(user),
        START_ACTION,
        await join_code(context, study_id),
    )
    await harness.settle()
    assert await interview_status(context, user) == InterviewStatus.ACTIVE


async def test_invitation_only_refuses_strangers(
    harness: SlackHarness, context: AppContext
) -> None:
    study_id = await open_study(context, open_join=False)
    await harness.click(
        "UPART00001", TEAM_CHANNEL, START_ACTION, await join_code(context, study_id)
    )
    await harness.settle()
    refusals = [
        p
        for p in harness.slack.response_url_posts
        if "invitation only" in json.dumps(p.body)
    ]
    assert refusals
    assert await interview_status(context, "UPART00001") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "runs research interviews"),
        ("dance", "Unknown command"),
        ('ask 1 "unbalanced', "Check the quotes"),
        ("summary 999", "No study is numbered"),
        ("questions 1 move x 2", "must be a number"),
    ],
)
async def test_command_errors_ephemeral(
    harness: SlackHarness, context: AppContext, text: str, expected: str
) -> None:
    await open_study(context)
    await harness.command(RESEARCHER, TEAM_CHANNEL, text)
    await harness.settle()
    bodies = [json.dumps(p.body) for p in harness.slack.response_url_posts]
    acks = [json.dumps(a.payload) for a in harness.slack.acks if a.payload]
    assert any(expected in text for text in bodies + acks), (bodies, acks)
    assert harness.bot_messages(TEAM_CHANNEL) == []


async def test_participant_cannot_run_commands(
    harness: SlackHarness, context: AppContext
) -> None:
    study_id = await open_study(context)
    await harness.command("UPART00001", TEAM_CHANNEL, f"summary {study_id}")
    await harness.settle()
    bodies = [json.dumps(p.body) for p in harness.slack.response_url_posts]
    assert any("Only researchers" in body for body in bodies)
    assert await count_rows(context, Summary) == 0


async def test_startup_check_names_missing_scope(context: AppContext) -> None:
    from bot.errors import ConfigError
    from tests.fakes.slack_limits import DEFAULT_BOT_SCOPES

    scopes = [s for s in DEFAULT_BOT_SCOPES if s != "im:history"]
    async with FakeSlack(scopes=scopes) as slack:
        with pytest.raises(ConfigError, match="im:history"):
            async with running_bot(context, slack, "socket"):
                pass


def test_manifest_requests_exactly_required_scopes() -> None:
    import yaml

    from adapters.slack.adapter import REQUIRED_SCOPES
    from tests.conftest import ROOT

    manifest = yaml.safe_load((ROOT / "slack-app-manifest.yaml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(REQUIRED_SCOPES)
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "message.im",
        "app_home_opened",
    }
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True


async def test_app_home_lists_studies(
    harness: SlackHarness, context: AppContext
) -> None:
    study_id = await open_study(context)
    event = app_home_opened_event(user=RESEARCHER, channel="D0HOME0001")
    assert (await harness.event(event)).status in (None, 200)
    await harness.settle()
    home = harness.slack.home_views[RESEARCHER].view
    text = json.dumps(home)
    assert f"*{study_id}." in text
    assert "perspective_edit_plan" in text
    assert len(home["blocks"]) <= 100


async def test_new_study_from_modal(harness: SlackHarness, context: AppContext) -> None:
    await harness.command(RESEARCHER, TEAM_CHANNEL, "new")
    await harness.settle()
    modal = harness.slack.modals[-1].view
    assert modal["callback_id"] == "perspective_new"
    values = {
        "question": {"value": {"type": "plain_text_input", "value": QUESTION}},
        "title": {"value": {"type": "plain_text_input", "value": "Escalations"}},
    }
    payload = harness.slack.view_submission(RESEARCHER, modal, values)
    if harness.mode == "socket":
        await harness._envelope("interactive", payload)
    else:
        await harness.slack.post_interaction(harness.url, payload)
    await harness.settle()
    studies = await context.studies.all()
    assert [s.title for s in studies] == ["Escalations"]
    assert studies[0].team_channel == f"slack:{TEAM_CHANNEL}"
    plan = [m for m in harness.slack.ephemeral_messages if "Research plan" in m.text]
    assert plan


async def test_export_uploads_file(harness: SlackHarness, context: AppContext) -> None:
    study_id = await open_study(context)
    await harness.command(RESEARCHER, TEAM_CHANNEL, f"export {study_id} csv")
    await harness.settle()
    files = harness.slack.uploaded_files
    assert len(files) == 1
    assert files[0].filename == f"study-{study_id}.csv"
    assert b"interview_id" in files[0].content
