"""The conversation service: store first, reply once, survive restarts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from adapters.base import InboundMessage
from bot.config import Settings
from bot.context import AppContext, open_context
from interview_engine.models import TurnKind
from interview_engine.providers.offline import OfflineProvider
from storage import Interview, InterviewStatus, Message, MessageRole, Study, queries

QUESTION = "How can we improve our escalation process for complex cases?"
DETAILED = (
    "Last week I called on Monday, was transferred twice and had to explain my "
    "billing problem again to each agent before anyone helped."
)


async def started_study(context: AppContext, user: str = "u1") -> tuple[Study, int]:
    study = await context.studies.create(QUESTION)
    participant = await context.participants.ensure(
        study, platform="slack", workspace_id="T1", user_id=user
    )
    started = await context.conversations.start(study, participant, channel_id="D1")
    assert started.status == "started"
    assert started.interview_id is not None
    return study, started.interview_id


def inbound(text: str, message_id: str, *, user: str = "u1", event: str | None = None):
    return InboundMessage(
        platform="slack",
        workspace_id="T1",
        user_id=user,
        channel_id="D1",
        text=text,
        message_id=message_id,
        event_key=event,
    )


async def stored_messages(context: AppContext, interview_id: int) -> list[Message]:
    async with context.database.session() as session:
        return list(await queries.messages_of(session, interview_id))


async def test_start_stores_welcome_and_question(context: AppContext) -> None:
    _study, interview_id = await started_study(context)
    messages = await stored_messages(context, interview_id)
    assert [m.meta["kind"] for m in messages] == ["welcome", "question"]
    assert "AI interviewer" in messages[0].text


async def test_duplicate_delivery_stored_once(context: AppContext) -> None:
    _study, interview_id = await started_study(context)
    first = await context.conversations.accept(inbound(DETAILED, "1.1", event="Ev1"))
    by_event = await context.conversations.accept(inbound(DETAILED, "1.1", event="Ev1"))
    by_message = await context.conversations.accept(
        inbound(DETAILED, "1.1", event="Ev9")
    )
    assert first.status == "stored"
    assert by_event.status == "duplicate"
    assert by_message.status == "duplicate"
    replies = await context.conversations.respond(interview_id)
    assert len(replies) == 1
    participant_messages = [
        m
        for m in await stored_messages(context, interview_id)
        if m.role == MessageRole.PARTICIPANT
    ]
    assert len(participant_messages) == 1


async def test_concurrent_respond_replies_once(context: AppContext) -> None:
    _study, interview_id = await started_study(context)
    await context.conversations.accept(inbound(DETAILED, "1.1"))
    results = await asyncio.gather(
        context.conversations.respond(interview_id),
        context.conversations.respond(interview_id),
    )
    assert sorted(len(r) for r in results) == [0, 1]


async def test_two_quick_messages_answered_together(context: AppContext) -> None:
    _study, interview_id = await started_study(context)
    await context.conversations.accept(inbound("I called on Monday.", "1.1"))
    await context.conversations.accept(inbound(DETAILED, "1.2"))
    replies = await context.conversations.respond(interview_id)
    assert len(replies) == 1
    participant_messages = [
        m
        for m in await stored_messages(context, interview_id)
        if m.role == MessageRole.PARTICIPANT
    ]
    assert all(m.meta["handled"] for m in participant_messages)


async def test_unknown_sender_has_no_interview(context: AppContext) -> None:
    await started_study(context)
    result = await context.conversations.accept(inbound("hi", "9.9", user="stranger"))
    assert result.status == "no_interview"


async def test_reply_after_restart(settings: Settings) -> None:
    first = await open_context(settings, provider=OfflineProvider())
    _study, interview_id = await started_study(first)
    await first.conversations.accept(inbound(DETAILED, "1.1"))
    await first.close()  # the process dies before it answers

    second = await open_context(settings, provider=OfflineProvider())
    try:
        assert list(await second.conversations.awaiting_reply()) == [interview_id]
        replies = await second.conversations.respond(interview_id)
        assert len(replies) == 1
        assert list(await second.conversations.awaiting_reply()) == []
    finally:
        await second.close()


async def test_pause_resume_across_restart(settings: Settings) -> None:
    first = await open_context(settings, provider=OfflineProvider())
    _study, interview_id = await started_study(first)
    await first.conversations.accept(inbound("pause", "1.1"))
    paused = await first.conversations.respond(interview_id)
    assert paused[0].message.kind == TurnKind.PAUSED
    await first.close()

    second = await open_context(settings, provider=OfflineProvider())
    try:
        await second.conversations.accept(inbound("I'm back", "1.2"))
        resumed = await second.conversations.respond(interview_id)
        assert "Where we left off" in resumed[0].message.text
        async with second.database.session() as session:
            interview = await session.get(Interview, interview_id)
            assert interview is not None
            assert interview.status == InterviewStatus.ACTIVE
    finally:
        await second.close()


async def test_edit_before_reply_replaces_answer(context: AppContext) -> None:
    _study, interview_id = await started_study(context)
    await context.conversations.accept(inbound("typo answr", "1.1"))
    changed = await context.conversations.apply_edit("slack", "u1", "1.1", DETAILED)
    assert changed
    await context.conversations.respond(interview_id)
    answers = [
        m
        for m in await stored_messages(context, interview_id)
        if m.role == MessageRole.PARTICIPANT
    ]
    assert answers[0].text == DETAILED
    assert answers[0].edited_at is not None


async def test_edit_after_reply_ignored(context: AppContext) -> None:
    _study, interview_id = await started_study(context)
    await context.conversations.accept(inbound(DETAILED, "1.1"))
    await context.conversations.respond(interview_id)
    changed = await context.conversations.apply_edit("slack", "u1", "1.1", "changed")
    assert not changed
    answers = [
        m
        for m in await stored_messages(context, interview_id)
        if m.role == MessageRole.PARTICIPANT
    ]
    assert answers[0].text == DETAILED


async def test_delete_before_reply_removes_answer(context: AppContext) -> None:
    _study, interview_id = await started_study(context)
    await context.conversations.accept(inbound("oops wrong chat", "1.1"))
    assert await context.conversations.apply_edit("slack", "u1", "1.1", None)
    assert await context.conversations.respond(interview_id) == []
    assert list(await context.conversations.awaiting_reply()) == []


async def test_undelivered_messages_listed(context: AppContext) -> None:
    _study, interview_id = await started_study(context)
    pending = await context.conversations.undelivered(grace=timedelta(0))
    assert [r.interview_id for r in pending] == [interview_id, interview_id]
    for reply in pending:
        await context.conversations.mark_delivered(reply.message_id, ["ts-1"])
    assert await context.conversations.undelivered(grace=timedelta(0)) == []


async def test_completed_participant_not_interviewed_twice(context: AppContext) -> None:
    study, interview_id = await started_study(context)
    answers = [DETAILED] * 40 + ["yes"] * 4
    for number, answer in enumerate(answers):
        result = await context.conversations.accept(inbound(answer, f"2.{number}"))
        if result.status != "stored":
            break
        await context.conversations.respond(interview_id)
    async with context.database.session() as session:
        interview = await session.get(Interview, interview_id)
        assert interview is not None
        assert interview.status == InterviewStatus.COMPLETED
    participant = await context.participants.ensure(
        study, platform="slack", workspace_id="T1", user_id="u1"
    )
    again = await context.conversations.start(study, participant, channel_id="D1")
    assert again.status == "already_completed"


async def test_simultaneous_starts_one_interview(settings: Settings) -> None:
    first = await open_context(settings, provider=OfflineProvider())
    second = await open_context(settings, provider=OfflineProvider())
    try:
        study = await first.studies.create(QUESTION)
        participant = await first.participants.ensure(
            study, platform="console", workspace_id="w", user_id="u9"
        )
        results = await asyncio.gather(
            first.conversations.start(study, participant, channel_id="c"),
            second.conversations.start(study, participant, channel_id="c"),
        )
        assert sorted(r.status for r in results) == ["resumed", "started"]
        assert len({r.interview_id for r in results}) == 1
    finally:
        await first.close()
        await second.close()
