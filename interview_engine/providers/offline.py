"""The offline provider: a rule-based interviewer and statistical analysis.

It needs no network and no model, gives the same output for the same input,
and is the fallback whenever a model call fails. It interviews in English
only, and participants who write in another language get a notice once.
"""

from __future__ import annotations

import asyncio
import re

from interview_engine.models import ResearchPlan
from interview_engine.providers.base import (
    AnswerDraft,
    Coding,
    InterviewText,
    ProviderResult,
    RecapRequest,
    TurnProposal,
    TurnRequest,
)
from interview_engine.providers.offline_analysis import analyse_offline, answer_offline
from interview_engine.providers.offline_plan import draft_plan_offline
from interview_engine.text import (
    content_words,
    emotions,
    has_example,
    has_letters,
    is_nothing_more,
    is_vague,
    salient_phrase,
    sentences,
    shorten,
)

_ACKNOWLEDGEMENTS = (
    "Thank you, that helps.",
    "Got it.",
    "Thanks for explaining.",
    "That's useful, thank you.",
    "Understood.",
)
_NEGATIVE_FEELINGS = frozenset(
    "angry annoyed anxious confused desperate disappointed exhausted frustrated "
    "frustrating furious helpless hopeless ignored infuriating irritated mad "
    "overwhelmed sad scared stressed stressful upset worried unhappy hurt "
    "powerless livid humiliated insulted betrayed".split()
)


_TRIM_MARK = re.compile(r"\[…\d+ characters left out…\]")


def _pick(options: tuple[str, ...], turn: int) -> str:
    return options[turn % len(options)]


def offline_probe(request: TurnRequest) -> TurnProposal | None:
    """Choose a follow-up to the latest answer, or None to move on."""
    state = request.state
    question_id = state.current_question_id
    if question_id is None:
        return None
    progress = state.progress_of(question_id)
    if progress.probes >= request.guide.settings.max_probes_per_question:
        return None
    # A long answer arrives trimmed with a "[…N characters left out…]" mark,
    # which is not the participant's words and must not be quoted back.
    answer = _TRIM_MARK.sub(" ", request.latest_answer)
    used = set(progress.probe_kinds)
    turn = state.interviewer_turns
    if is_nothing_more(answer):
        return None
    if not has_letters(answer):
        return TurnProposal(
            action="probe",
            probe_kind="clarify",
            message="Could you put that into a few words for me?",
        )
    if "clarify" not in used and is_vague(answer):
        return TurnProposal(
            action="probe",
            probe_kind="clarify",
            message=_pick(
                (
                    "Could you tell me a bit more about that?",
                    "What do you mean by that, in your own words?",
                ),
                turn,
            ),
        )
    felt = emotions(answer)
    if "feelings" not in used and felt:
        return TurnProposal(
            action="probe",
            probe_kind="feelings",
            message=f"You said you felt {felt[0]}. What made it feel that way?",
        )
    if "example" not in used and not has_example(answer):
        return TurnProposal(
            action="probe",
            probe_kind="example",
            message=_pick(
                (
                    "Could you walk me through a specific time that happened?",
                    "Can you give me a concrete example?",
                ),
                turn,
            ),
        )
    phrase = salient_phrase(answer)
    if "mentioned" not in used and phrase and progress.probes == 0:
        return TurnProposal(
            action="probe",
            probe_kind="mentioned",
            message=f"You mentioned “{phrase}”. What happened there?",
        )
    return None


def offline_acknowledgement(request: TurnRequest) -> str:
    answer = request.latest_answer
    if is_nothing_more(answer) or not has_letters(answer):
        return "Thanks."
    if any(word in _NEGATIVE_FEELINGS for word in emotions(answer)):
        return "That sounds hard. Thank you for sharing it."
    return _pick(_ACKNOWLEDGEMENTS, request.state.interviewer_turns)


def offline_next_question(request: TurnRequest) -> str | None:
    for question in request.guide.questions:
        progress = request.state.progress.get(question.id)
        if progress is None or not progress.asked:
            return question.id
    return None


def _has_run_dry(request: TurnRequest) -> bool:
    """Tell whether the last two answers both said there is nothing to add."""
    earlier = [m.text for m in request.window if m.role == "participant"]
    return (
        bool(earlier)
        and is_nothing_more(earlier[-1])
        and is_nothing_more(request.latest_answer)
    )


def offline_proposal(request: TurnRequest) -> TurnProposal:
    """Propose a turn by rule: probe the answer if it needs it, else move on.

    A participant who twice in a row has nothing to add is offered the close;
    the policy still asks any mandatory question left first.
    """
    probe = offline_probe(request)
    if probe is not None:
        return probe
    next_id = offline_next_question(request)
    acknowledgement = offline_acknowledgement(request)
    if next_id is None or _has_run_dry(request):
        return TurnProposal(action="wrap_up", acknowledgement=acknowledgement)
    return TurnProposal(
        action="next_question",
        next_question_id=next_id,
        acknowledgement=acknowledgement,
    )


def offline_recap(request: RecapRequest) -> str:
    """Quote back the two most informative points the participant made."""
    points: list[str] = []
    ranked = sorted(
        (answer for _question, answer in request.answers),
        key=lambda answer: -len(set(content_words(answer))),
    )
    for answer in ranked:
        candidates = [s for s in sentences(answer) if len(content_words(s)) >= 3]
        if candidates:
            best = max(candidates, key=lambda s: len(set(content_words(s))))
            points.append(shorten(best, 160))
        if len(points) == 2:
            break
    if not points:
        return (
            "I did not collect much detail this time, and that is fine. "
            "Is there anything you would like to add or correct?"
        )
    said = f"Here is what I took away. You told me: “{points[0]}”"
    if len(points) > 1:
        said += f" You also said: “{points[1]}”"
    return said + " Did I get that right, or is there anything you would correct?"


class OfflineProvider:
    """Rules and classic text statistics; no network, English only."""

    name = "offline"
    languages: frozenset[str] | None = frozenset({"en"})

    async def draft_plan(self, research_question: str) -> ProviderResult[ResearchPlan]:
        return ProviderResult(value=draft_plan_offline(research_question))

    async def propose_turn(self, request: TurnRequest) -> ProviderResult[TurnProposal]:
        return ProviderResult(value=offline_proposal(request))

    async def recap(self, request: RecapRequest) -> ProviderResult[str]:
        return ProviderResult(value=offline_recap(request))

    async def analyse(
        self, research_question: str, interviews: list[InterviewText]
    ) -> ProviderResult[Coding]:
        # Clustering takes a second or more on hundreds of interviews: keep it
        # off the event loop so that platform acknowledgements are not delayed.
        coding = await asyncio.to_thread(analyse_offline, interviews)
        return ProviderResult(value=coding)

    async def answer(
        self, question: str, interviews: list[InterviewText]
    ) -> ProviderResult[AnswerDraft]:
        draft = await asyncio.to_thread(answer_offline, question, interviews)
        return ProviderResult(value=draft)
