"""The policy holds whatever the model proposes.

Each misbehaving model is scripted on the fake OpenAI server and reached
through the real openai client, so these tests exercise the whole path:
prompt, structured output, parsing, policy.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from interview_engine.models import Guide, Status, TurnKind
from interview_engine.policy import decide
from interview_engine.providers.base import TurnProposal
from interview_engine.providers.offline import OfflineProvider
from interview_engine.providers.openai import OpenAIProvider
from tests.conftest import make_guide
from tests.fakes.openai_server import FakeOpenAI, Reply, json_reply
from tests.support import Clock, long_answers, run_interview

ScriptedTurn = dict[str, Any]


def _is_recap(body: dict[str, Any]) -> bool:
    return "close a research interview" in body["messages"][0]["content"]


def scripted_model(fake: FakeOpenAI, turn: ScriptedTurn) -> None:
    """Answer every turn request with `turn` and every recap with a fixed one."""

    def respond(body: dict[str, Any]) -> Reply:
        if _is_recap(body):
            return json_reply({"recap": "You described long waits. Is that right?"})
        proposal = {
            "covered_question_ids": [],
            "action": "next_question",
            "probe_kind": None,
            "next_question_id": None,
            "acknowledgement": "",
            "message": "",
            "language": "en",
            **turn,
        }
        return json_reply(proposal)

    fake.responder = respond


def assert_every_mandatory_asked(guide: Guide, asked: list[str]) -> None:
    for question in guide.mandatory:
        assert question.id in asked, f"mandatory {question.id} was never asked"


async def test_model_that_never_covers_mandatory(
    fake_openai: FakeOpenAI, openai_provider: OpenAIProvider, guide: Guide
) -> None:
    # It keeps proposing the same optional question and never reports any
    # mandatory question as covered.
    scripted_model(fake_openai, {"action": "next_question", "next_question_id": "o1"})
    transcript = await run_interview(guide, openai_provider, long_answers())
    assert transcript.last.state.status == Status.COMPLETED
    asked = transcript.asked_question_ids()
    assert_every_mandatory_asked(guide, asked)
    assert Counter(asked)["o1"] == 1


async def test_model_that_ends_at_turn_two(
    fake_openai: FakeOpenAI, openai_provider: OpenAIProvider
) -> None:
    # Optional questions first and no minimum, so that only the mandatory
    # rule stands between this model and an early close.
    guide = make_guide(min_questions_before_close=0)
    guide.questions = guide.questions[3:] + guide.questions[:3]
    scripted_model(fake_openai, {"action": "wrap_up"})
    transcript = await run_interview(guide, openai_provider, long_answers())
    asked = transcript.asked_question_ids()
    assert_every_mandatory_asked(guide, asked)
    first_confirm = transcript.kinds().index(TurnKind.CONFIRM)
    questions_before_close = transcript.kinds()[:first_confirm].count(TurnKind.QUESTION)
    assert questions_before_close >= 4
    assert any("wrap-up refused" in o for o in transcript.last.state.overrides)


async def test_model_that_ends_before_minimum(
    fake_openai: FakeOpenAI, openai_provider: OpenAIProvider
) -> None:
    guide = make_guide(min_questions_before_close=4)
    guide.questions = [
        q.model_copy(update={"mandatory": False}) for q in guide.questions
    ]
    scripted_model(fake_openai, {"action": "wrap_up"})
    transcript = await run_interview(guide, openai_provider, long_answers())
    assert len(transcript.asked_question_ids()) == 4


async def test_model_that_probes_forever(
    fake_openai: FakeOpenAI, openai_provider: OpenAIProvider, guide: Guide
) -> None:
    scripted_model(
        fake_openai,
        {"action": "probe", "probe_kind": "example", "message": "Tell me more?"},
    )
    transcript = await run_interview(guide, openai_provider, long_answers())
    state = transcript.last.state
    assert state.status == Status.COMPLETED
    cap = guide.settings.max_probes_per_question
    for question_id, progress in state.progress.items():
        assert progress.probes <= cap, f"{question_id} probed {progress.probes} times"
    assert_every_mandatory_asked(guide, transcript.asked_question_ids())
    assert state.interviewer_turns <= guide.settings.max_turns


@pytest.mark.parametrize(
    "garbage",
    [
        "I'd be happy to help with your interview!",
        '{"action": "dance", "message": 3}',
        "",
        "```json\n{broken\n```",
    ],
)
async def test_model_that_returns_garbage(
    fake_openai: FakeOpenAI, openai_provider: OpenAIProvider, guide: Guide, garbage: str
) -> None:
    fake_openai.responder = lambda body: Reply(content=garbage)
    transcript = await run_interview(guide, openai_provider, long_answers())
    state = transcript.last.state
    assert state.status == Status.COMPLETED
    assert state.fallback_turns > 0
    assert_every_mandatory_asked(guide, transcript.asked_question_ids())
    for turn in transcript.turns:
        for message in turn.messages:
            assert message.text.strip(), "a participant got an empty message"


async def test_turn_budget_closes_politely(
    fake_openai: FakeOpenAI, openai_provider: OpenAIProvider
) -> None:
    guide = make_guide(max_turns=8, max_probes_per_question=5)
    scripted_model(fake_openai, {"action": "probe", "message": "And then?"})
    transcript = await run_interview(guide, openai_provider, long_answers())
    state = transcript.last.state
    assert state.status == Status.COMPLETED
    assert state.interviewer_turns <= 8
    assert_every_mandatory_asked(guide, transcript.asked_question_ids())
    assert TurnKind.CLOSING in transcript.kinds()


async def test_time_budget_skips_optional_questions(clock: Clock) -> None:
    guide = make_guide(max_minutes=3)
    # Each answer takes two minutes, so the budget runs out after the second.
    transcript = await run_interview(
        guide, OfflineProvider(), long_answers(), clock=clock, seconds_per_answer=120
    )
    asked = transcript.asked_question_ids()
    assert_every_mandatory_asked(guide, asked)
    assert "o1" not in asked
    assert "o2" not in asked
    assert transcript.last.state.status == Status.COMPLETED


async def test_idle_gap_counts_as_capped_time(clock: Clock) -> None:
    guide = make_guide(max_minutes=15)
    transcript = await run_interview(
        guide, OfflineProvider(), long_answers(3), clock=clock, seconds_per_answer=86400
    )
    # Three day-long silences count as three capped gaps, not three days.
    cap = guide.settings.idle_gap_cap_seconds
    assert transcript.last.state.active_seconds == pytest.approx(3 * cap)


def test_decide_rejects_unknown_question(guide: Guide) -> None:
    from interview_engine.models import InterviewState

    state = InterviewState(current_question_id="m1")
    state.progress_of("m1").asked = True
    decision = decide(
        guide, state, TurnProposal(action="next_question", next_question_id="nope")
    )
    assert decision.action == "ask"
    assert decision.question_id == "m2"
    assert any("not available" in o for o in decision.overrides)


def test_decide_keeps_mandatory_reported_covered(guide: Guide) -> None:
    from interview_engine.models import InterviewState

    state = InterviewState(current_question_id="m1")
    state.progress_of("m1").asked = True
    decision = decide(
        guide,
        state,
        TurnProposal(action="next_question", covered_question_ids=["m2", "o1"]),
    )
    assert decision.question_id == "m2"
    assert state.progress_of("o1").covered
    assert not state.progress_of("m2").covered


async def test_model_sees_bounded_prompt(
    fake_openai: FakeOpenAI, openai_provider: OpenAIProvider
) -> None:
    guide = make_guide(max_turns=40, max_probes_per_question=5)
    scripted_model(fake_openai, {"action": "probe", "message": "Go on?"})
    await run_interview(guide, openai_provider, long_answers(35))
    turn_requests = [
        r.body for r in fake_openai.requests if r.body and not _is_recap(r.body)
    ]
    sizes = [len(json.dumps(body["messages"])) for body in turn_requests]
    assert len(sizes) >= 20
    # The window and running summary are bounded: late prompts are not much
    # larger than early ones, although the history keeps growing.
    assert max(sizes[15:]) < sizes[5] * 1.6
