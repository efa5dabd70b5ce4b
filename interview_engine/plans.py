"""Draft research plans and edit the question guide.

The guide asks mandatory questions first, in the order the researcher gave
them, then the plan's core questions while the budget allows. Three
mandatory questions are recommended; more are allowed as long as they fit
the turn budget together with the close.
"""

from __future__ import annotations

import logging
import uuid

from interview_engine.errors import PlanError, ProviderError
from interview_engine.models import (
    Guide,
    InterviewSettings,
    Question,
    ResearchPlan,
)
from interview_engine.policy import CLOSING_TURNS_WITH_RECAP
from interview_engine.providers.base import Provider, ProviderResult
from interview_engine.providers.offline import OfflineProvider

log = logging.getLogger(__name__)

RECOMMENDED_MANDATORY = 3
MAX_QUESTION_CHARS = 500


async def draft_plan(
    research_question: str, provider: Provider
) -> ProviderResult[ResearchPlan]:
    """Draft a plan with the provider, falling back to the offline rules."""
    question = " ".join(research_question.split())
    if len(question) < 10:
        raise PlanError(
            f"The research question is too short ({len(question)} characters). "
            "Write it as a full question, for example “How can we shorten "
            "the time complex cases spend in escalation?”"
        )
    try:
        return await provider.draft_plan(question)
    except ProviderError as error:
        log.warning(
            "provider %s failed to draft a plan, using offline: %s",
            provider.name,
            error,
        )
        return await OfflineProvider().draft_plan(question)


def new_question_id() -> str:
    return "q" + uuid.uuid4().hex[:8]


def questions_from_plan(plan: ResearchPlan) -> list[Question]:
    return [Question(id=new_question_id(), text=text) for text in plan.core_questions]


def ordered(questions: list[Question]) -> list[Question]:
    """Return the guide in asking order: mandatory questions first."""
    return [q for q in questions if q.mandatory] + [
        q for q in questions if not q.mandatory
    ]


def check_fits_budget(questions: list[Question], settings: InterviewSettings) -> None:
    """Raise PlanError when the mandatory questions cannot fit the turn budget."""
    mandatory = sum(1 for q in questions if q.mandatory)
    room = settings.max_turns - CLOSING_TURNS_WITH_RECAP
    if mandatory > room:
        raise PlanError(
            f"{mandatory} mandatory questions do not fit a budget of "
            f"{settings.max_turns} interviewer turns (at most {room} leave room "
            "for the close). Remove some or raise max_turns."
        )


def _clean_text(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise PlanError("A question needs some text.")
    if len(text) > MAX_QUESTION_CHARS:
        raise PlanError(
            f"The question is {len(text)} characters long; keep it under "
            f"{MAX_QUESTION_CHARS} so that it reads well in a chat."
        )
    return text


def add_question(
    questions: list[Question],
    text: str,
    *,
    mandatory: bool = True,
    position: int | None = None,
    settings: InterviewSettings | None = None,
) -> list[Question]:
    """Add a question; `position` is 1-based among the mandatory questions."""
    question = Question(
        id=new_question_id(), text=_clean_text(text), mandatory=mandatory
    )
    mandatory_list = [q for q in questions if q.mandatory]
    optional_list = [q for q in questions if not q.mandatory]
    target = mandatory_list if mandatory else optional_list
    index = len(target) if position is None else max(0, min(position - 1, len(target)))
    target.insert(index, question)
    updated = mandatory_list + optional_list
    check_fits_budget(updated, settings or InterviewSettings())
    return updated


def _index(questions: list[Question], number: int) -> int:
    if not 1 <= number <= len(questions):
        raise PlanError(
            f"There is no question {number}: the guide has questions 1 to "
            f"{len(questions)}. List them to see the numbers."
        )
    return number - 1


def remove_question(questions: list[Question], number: int) -> list[Question]:
    """Remove question `number` (1-based, in asking order)."""
    guide = ordered(questions)
    del guide[_index(guide, number)]
    return guide


def move_question(questions: list[Question], number: int, to: int) -> list[Question]:
    """Move question `number` to position `to` within its group (mandatory or not)."""
    guide = ordered(questions)
    moving = guide.pop(_index(guide, number))
    group = [q for q in guide if q.mandatory == moving.mandatory]
    others = [q for q in guide if q.mandatory != moving.mandatory]
    group.insert(max(0, min(to - 1, len(group))), moving)
    return ordered(group + others)


def set_mandatory(
    questions: list[Question],
    number: int,
    mandatory: bool,
    settings: InterviewSettings | None = None,
) -> list[Question]:
    guide = ordered(questions)
    index = _index(guide, number)
    guide[index] = guide[index].model_copy(update={"mandatory": mandatory})
    updated = ordered(guide)
    check_fits_budget(updated, settings or InterviewSettings())
    return updated


def edit_question(questions: list[Question], number: int, text: str) -> list[Question]:
    guide = ordered(questions)
    index = _index(guide, number)
    guide[index] = guide[index].model_copy(update={"text": _clean_text(text)})
    return guide


def replace_questions(
    questions: list[Question],
    mandatory: list[str],
    optional: list[str],
    settings: InterviewSettings | None = None,
) -> list[Question]:
    """Replace the guide with new texts, keeping the id of unchanged questions.

    Interviews in progress track questions by id, so a question whose text
    is unchanged keeps its id and is not asked twice.
    """
    by_text = {q.text: q.id for q in questions}
    updated = [
        Question(
            id=by_text.get(" ".join(t.split()), new_question_id()),
            text=_clean_text(t),
            mandatory=is_mandatory,
        )
        for texts, is_mandatory in ((mandatory, True), (optional, False))
        for t in texts
    ]
    if not updated:
        raise PlanError("A study needs at least one question.")
    check_fits_budget(updated, settings or InterviewSettings())
    return updated


def mandatory_advice(questions: list[Question]) -> str | None:
    """Return advice when the number of mandatory questions is unusual."""
    count = sum(1 for q in questions if q.mandatory)
    if count == 0:
        return (
            "This study has no mandatory questions yet. About "
            f"{RECOMMENDED_MANDATORY} are recommended, so that every interview "
            "covers what matters most."
        )
    if count > RECOMMENDED_MANDATORY + 2:
        return (
            f"This study has {count} mandatory questions; about "
            f"{RECOMMENDED_MANDATORY} are recommended. Each one is always asked, "
            "which leaves less room for follow-ups."
        )
    return None


def build_guide(
    *,
    title: str,
    research_question: str,
    plan: ResearchPlan,
    questions: list[Question],
    experience: dict[str, object],
    settings: dict[str, object],
) -> Guide:
    """Assemble the engine's guide from a study's stored parts."""
    return Guide.model_validate(
        {
            "study_title": title,
            "research_question": research_question,
            "goals": plan.goals,
            "questions": [q.model_dump() for q in ordered(questions)],
            "experience": experience,
            "settings": settings,
        }
    )
