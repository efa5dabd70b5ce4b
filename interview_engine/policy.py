"""The deterministic rules that decide every interviewer turn.

A model proposes; these rules decide. Whatever a proposal says:

- every mandatory question is asked before the interview closes;
- a question is probed at most `max_probes_per_question` times;
- the interview does not close before `min_questions_before_close` questions
  were asked (or the guide has fewer), unless the budget has run out;
- enough turns are kept back to ask each mandatory question not yet asked
  and to close, and when the time or turn budget runs out, the policy only
  asks what is mandatory and then closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from interview_engine.models import Guide, InterviewState, Question
from interview_engine.providers.base import ProbeKind, TurnProposal

# Turns the close needs: a recap to confirm (when enabled) and the thanks
# with the contact question.
CLOSING_TURNS_WITH_RECAP = 2
CLOSING_TURNS = 1

MAX_ACKNOWLEDGEMENT_CHARS = 300
MAX_PROBE_CHARS = 600


@dataclass
class Decision:
    """The next interviewer turn, with the reasons it differs from the proposal."""

    action: Literal["probe", "ask", "close"]
    question_id: str | None = None
    probe_kind: ProbeKind | None = None
    message: str = ""
    acknowledgement: str = ""
    overrides: list[str] = field(default_factory=list)


def closing_turns(guide: Guide) -> int:
    if guide.settings.confirm_understanding:
        return CLOSING_TURNS_WITH_RECAP
    return CLOSING_TURNS


def unasked(guide: Guide, state: InterviewState) -> list[Question]:
    return [
        q
        for q in guide.questions
        if not (state.progress.get(q.id) and state.progress[q.id].asked)
    ]


def unasked_mandatory(guide: Guide, state: InterviewState) -> list[Question]:
    return [q for q in unasked(guide, state) if q.mandatory]


def remaining_turns(guide: Guide, state: InterviewState) -> int:
    return guide.settings.max_turns - state.interviewer_turns


def remaining_minutes(guide: Guide, state: InterviewState) -> float:
    return guide.settings.max_minutes - state.active_seconds / 60


def budget_is_tight(guide: Guide, state: InterviewState) -> bool:
    """Tell whether only mandatory questions and the close still fit."""
    reserve = len(unasked_mandatory(guide, state)) + closing_turns(guide)
    out_of_turns = remaining_turns(guide, state) <= reserve
    out_of_time = remaining_minutes(guide, state) <= 0
    return out_of_turns or out_of_time


def _asked_count(state: InterviewState) -> int:
    return sum(1 for progress in state.progress.values() if progress.asked)


def _clean(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else ""


def decide(guide: Guide, state: InterviewState, proposal: TurnProposal) -> Decision:
    """Turn a proposal into a decision that keeps every rule of the policy."""
    overrides: list[str] = []
    acknowledgement = _clean(proposal.acknowledgement, MAX_ACKNOWLEDGEMENT_CHARS)
    if proposal.acknowledgement and not acknowledgement:
        overrides.append("acknowledgement too long: dropped")

    # Optional questions the model reports as already answered are not asked
    # again. Mandatory ones are always asked, whatever the model reports.
    for question_id in proposal.covered_question_ids:
        question = guide.question(question_id)
        if question is not None and not question.mandatory:
            progress = state.progress_of(question_id)
            if not progress.asked:
                progress.covered = True

    def next_question(preferred: str | None) -> Decision:
        if budget_is_tight(guide, state):
            candidates = unasked_mandatory(guide, state)
        else:
            candidates = [
                q
                for q in unasked(guide, state)
                if q.mandatory or not state.progress_of(q.id).covered
            ]
        if not candidates:
            return Decision(
                action="close", acknowledgement=acknowledgement, overrides=overrides
            )
        chosen = candidates[0]
        if preferred is not None and preferred != chosen.id:
            if any(q.id == preferred for q in candidates):
                chosen = next(q for q in candidates if q.id == preferred)
            else:
                overrides.append(f"question {preferred!r} is not available")
        return Decision(
            action="ask",
            question_id=chosen.id,
            acknowledgement=acknowledgement,
            overrides=overrides,
        )

    if budget_is_tight(guide, state) and proposal.action != "next_question":
        overrides.append("budget: no more probes, mandatory questions only")
        return next_question(None)

    if proposal.action == "probe":
        current = state.current_question_id
        message = _clean(proposal.message, MAX_PROBE_CHARS)
        if current is None:
            overrides.append("probe without a current question")
        elif (
            state.progress_of(current).probes >= guide.settings.max_probes_per_question
        ):
            overrides.append(f"probe cap reached on {current}")
        elif not message:
            overrides.append("probe message empty or too long")
        else:
            return Decision(
                action="probe",
                question_id=current,
                probe_kind=proposal.probe_kind or "other",
                message=message,
                acknowledgement=acknowledgement,
                overrides=overrides,
            )
        return next_question(None)

    if proposal.action == "wrap_up":
        if unasked_mandatory(guide, state):
            overrides.append("wrap-up refused: mandatory questions not asked")
            return next_question(None)
        minimum = min(guide.settings.min_questions_before_close, len(guide.questions))
        if _asked_count(state) < minimum and unasked(guide, state):
            overrides.append(f"wrap-up refused: fewer than {minimum} questions asked")
            return next_question(None)
        return Decision(
            action="close", acknowledgement=acknowledgement, overrides=overrides
        )

    return next_question(proposal.next_question_id)
