"""Helpers for driving the engine in tests, shared instead of copied."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from interview_engine import start_interview, take_message
from interview_engine.models import ConversationMessage, Guide, Turn, TurnKind
from interview_engine.providers.base import Provider


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
) -> Transcript:
    """Start an interview and feed answers until they run out or it ends."""
    clock = clock or Clock()
    transcript = Transcript()
    turn = await start_interview(guide, now=clock.now)
    transcript.turns.append(turn)
    transcript.history += [
        ConversationMessage(role="interviewer", text=m.text) for m in turn.messages
    ]
    for answer in answers:
        if turn.finished:
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
