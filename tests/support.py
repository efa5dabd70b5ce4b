"""Helpers for driving the engine in tests, shared instead of copied."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.context import AppContext, open_context
from interview_engine import start_interview, take_message
from interview_engine.models import ConversationMessage, Guide, Phase, Turn, TurnKind
from interview_engine.providers.base import Provider
from interview_engine.providers.openai import OpenAIProvider, OpenAISettings
from tests.fakes.openai_server import FakeOpenAI, Reply


class Clock:
    """A controllable clock: tests move time forward instead of waiting."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class Transcript:
    turns: list[Turn] = field(default_factory=list)
    history: list[ConversationMessage] = field(default_factory=list)

    @property
    def last(self) -> Turn:
        return self.turns[-1]

    def kinds(self) -> list[TurnKind]:
        return [m.kind for turn in self.turns for m in turn.messages]

    def asked_question_ids(self) -> list[str]:
        return [
            m.question_id or ""
            for turn in self.turns
            for m in turn.messages
            if m.kind == TurnKind.QUESTION
        ]


async def run_interview(
    guide: Guide,
    provider: Provider,
    answers: Iterable[str],
    *,
    clock: Clock | None = None,
    seconds_per_answer: float = 20.0,
    until: Phase | None = None,
) -> Transcript:
    """Start an interview and feed answers until they run out, it ends, or it
    reaches the phase `until`."""
    clock = clock or Clock()
    transcript = Transcript()
    turn = await start_interview(guide, now=clock.now)
    transcript.turns.append(turn)
    transcript.history += [
        ConversationMessage(role="interviewer", text=m.text) for m in turn.messages
    ]
    for answer in answers:
        if turn.finished or (until is not None and turn.state.phase == until):
            break
        turn = await take_message(
            guide,
            turn.state,
            answer,
            transcript.history,
            provider,
            now=clock.advance(seconds_per_answer),
        )
        transcript.turns.append(turn)
        if not turn.ignored_input:
            transcript.history.append(
                ConversationMessage(role="participant", text=answer)
            )
        transcript.history += [
            ConversationMessage(role="interviewer", text=m.text) for m in turn.messages
        ]
    return transcript


def long_answers(count: int = 60) -> list[str]:
    """Answers with detail and a concrete example, so offline rules move on."""
    return [
        f"Last week on Monday I called support about case {n}, was transferred "
        "twice and waited three days for the specialist to answer my email."
        for n in range(count)
    ]


NEXT_QUESTION: dict[str, object] = {
    "covered_question_ids": [],
    "action": "next_question",
    "probe_kind": None,
    "next_question_id": None,
    "acknowledgement": "Thanks.",
    "message": "",
    "language": "en",
}


def is_turn_request(body: dict[str, Any]) -> bool:
    return "qualitative research interviewer" in body["messages"][0]["content"]


def next_question_model(*, delay: float = 0.0) -> Callable[[dict[str, Any]], Reply]:
    """A scripted model that always moves on; only interview turns are slow."""

    def respond(body: dict[str, Any]) -> Reply:
        return Reply(
            content=json.dumps(NEXT_QUESTION),
            delay=delay if is_turn_request(body) else 0.0,
        )

    return respond


@asynccontextmanager
async def context_with_model(
    settings: Settings, fake: FakeOpenAI, *, model_timeout: float = 30.0
) -> AsyncIterator[AppContext]:
    """An AppContext whose provider is the openai one, aimed at the fake."""
    provider = OpenAIProvider(
        OpenAISettings(
            model="fake-model",
            api_key="test-key",
            base_url=fake.base_url,
            timeout_seconds=model_timeout,
        )
    )
    context = await open_context(settings, provider=provider)
    try:
        yield context
    finally:
        await context.close()
