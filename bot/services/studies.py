"""Create studies and edit their plan, questions and participant experience."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from bot.errors import InvalidInputError, NotFoundError
from interview_engine import plans
from interview_engine.errors import PlanError
from interview_engine.models import (
    Guide,
    InterviewSettings,
    ParticipantExperience,
    Question,
    ResearchPlan,
    ResearchType,
)
from interview_engine.providers.base import Provider
from interview_engine.text import shorten
from storage import Database, Study, StudyStatus, queries
from storage.types import utcnow

log = logging.getLogger(__name__)

_JOIN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
MAX_TITLE_CHARS = 200
MAX_QUESTION_CHARS = 1000


def new_join_code() -> str:
    return "".join(secrets.choice(_JOIN_ALPHABET) for _ in range(6))


def plan_of(study: Study) -> ResearchPlan:
    return ResearchPlan.model_validate(study.plan)


def questions_of(study: Study) -> list[Question]:
    return plans.ordered([Question.model_validate(q) for q in study.questions])


def experience_of(study: Study) -> ParticipantExperience:
    return ParticipantExperience.model_validate(study.experience)


def settings_of(study: Study) -> InterviewSettings:
    return InterviewSettings.model_validate(study.interview_settings)


def guide_of(study: Study) -> Guide:
    return plans.build_guide(
        title=study.title,
        research_question=study.research_question,
        plan=plan_of(study),
        questions=questions_of(study),
        experience=study.experience,
        settings=study.interview_settings,
    )


def _invalid(error: ValidationError) -> InvalidInputError:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or 'value'}: {item['msg']}"
        for item in error.errors()
    )
    return InvalidInputError(f"Invalid value: {problems}")


class StudyService:
    """Studies and their guides; every change is one short transaction."""

    def __init__(
        self, database: Database, provider: Provider, defaults: InterviewSettings
    ) -> None:
        self.database = database
        self.provider = provider
        self.defaults = defaults

    async def create(
        self,
        research_question: str,
        *,
        title: str | None = None,
        owner_platform: str = "console",
        owner_id: str = "local",
    ) -> Study:
        """Draft a plan for the question and store a new study with it."""
        if len(research_question) > MAX_QUESTION_CHARS:
            raise InvalidInputError(
                f"The research question is {len(research_question)} characters long; "
                f"keep it under {MAX_QUESTION_CHARS} and put detail in the plan."
            )
        try:
            drafted = await plans.draft_plan(research_question, self.provider)
        except PlanError as error:
            raise InvalidInputError(str(error)) from error
        plan = drafted.value
        title = " ".join((title or "").split()) or shorten(research_question, 80)
        if len(title) > MAX_TITLE_CHARS:
            raise InvalidInputError(
                f"The title is {len(title)} characters long; keep it under "
                f"{MAX_TITLE_CHARS}."
            )
        experience = ParticipantExperience(conversation_title=title)
        study = Study(
            title=title,
            research_question=" ".join(research_question.split()),
            plan=plan.model_dump(mode="json"),
            questions=[q.model_dump() for q in plans.questions_from_plan(plan)],
            experience=experience.model_dump(mode="json"),
            interview_settings=self.defaults.model_dump(mode="json"),
            owner_platform=owner_platform,
            owner_id=owner_id,
            status=StudyStatus.ACTIVE,
            join_code=new_join_code(),
        )
        async with self.database.session() as session:
            session.add(study)
            await session.commit()
            await session.refresh(study)
        log.info("study %s created by %s:%s", study.id, owner_platform, owner_id)
        return study

    async def get(self, reference: str | int) -> Study:
        """Find a study by number or join code.

        Raises:
            NotFoundError: No study has that number or code.
        """
        text = str(reference).strip().lstrip("#")
        async with self.database.session() as session:
            study = None
            if text.isascii() and text.isdigit() and len(text) <= 18:
                study = await queries.study_by_id(session, int(text))
            if study is None and text:
                study = await queries.study_by_join_code(session, text.lower())
        if study is None:
            raise NotFoundError(
                f"No study is numbered or coded “{text}”. "
                "List the studies to see their numbers."
            )
        return study

    async def all(self) -> Sequence[Study]:
        async with self.database.session() as session:
            return await queries.list_studies(session)

    async def counts(self, study: Study) -> dict[str, int]:
        assert study.id is not None
        async with self.database.session() as session:
            return await queries.interview_counts(session, study.id)

    async def _change(
        self, reference: str | int, apply: Callable[[Study], None]
    ) -> Study:
        study = await self.get(reference)
        async with self.database.session() as session:
            stored = await session.get(Study, study.id)
            assert stored is not None
            try:
                apply(stored)
            except PlanError as error:
                raise InvalidInputError(str(error)) from error
            except ValidationError as error:
                raise _invalid(error) from error
            stored.updated_at = utcnow()
            session.add(stored)
            await session.commit()
            await session.refresh(stored)
        return stored

    async def edit_plan(
        self,
        reference: str | int,
        *,
        title: str | None = None,
        research_type: str | None = None,
        description: str | None = None,
        target_participants: str | None = None,
        add_goals: Sequence[str] = (),
        remove_goal: int | None = None,
        goals: Sequence[str] | None = None,
    ) -> Study:
        """Change the plan's fields; goals are replaced, added, or removed by number."""

        def apply(study: Study) -> None:
            plan = plan_of(study)
            if title is not None:
                cleaned = " ".join(title.split())
                if not cleaned or len(cleaned) > MAX_TITLE_CHARS:
                    raise InvalidInputError(
                        f"A title needs 1 to {MAX_TITLE_CHARS} characters."
                    )
                study.title = cleaned
            if research_type is not None:
                old_type = plan.research_type.value
                try:
                    plan.research_type = ResearchType(research_type.lower())
                except ValueError as error:
                    choices = ", ".join(t.value for t in ResearchType)
                    raise InvalidInputError(
                        f"Unknown research type “{research_type}”: "
                        f"use one of {choices}."
                    ) from error
                # A drafted description names the type in its first words.
                for article in ("An", "A"):
                    prefix = f"{article} {old_type} study"
                    if description is None and plan.description.startswith(prefix):
                        new_type = plan.research_type.value
                        new_article = "An" if new_type[0] in "aeiou" else "A"
                        plan.description = (
                            f"{new_article} {new_type} study"
                            + plan.description[len(prefix) :]
                        )
            if description is not None:
                plan.description = " ".join(description.split())
            if target_participants is not None:
                plan.target_participants = " ".join(target_participants.split())
            if goals is not None:
                plan.goals = [" ".join(g.split()) for g in goals if g.strip()]
            for goal in add_goals:
                if goal.strip():
                    plan.goals.append(" ".join(goal.split()))
            if remove_goal is not None:
                if not 1 <= remove_goal <= len(plan.goals):
                    raise InvalidInputError(
                        f"There is no goal {remove_goal}: the plan has goals 1 to "
                        f"{len(plan.goals)}."
                    )
                del plan.goals[remove_goal - 1]
            study.plan = plan.model_dump(mode="json")

        return await self._change(reference, apply)

    async def change_questions(
        self, reference: str | int, edit: Callable[[list[Question]], list[Question]]
    ) -> Study:
        """Apply an edit from `interview_engine.plans` to the study's guide."""

        def apply(study: Study) -> None:
            updated = edit(questions_of(study))
            if not updated:
                raise InvalidInputError(
                    "A study needs at least one question; add another before "
                    "removing this one."
                )
            study.questions = [q.model_dump() for q in updated]

        return await self._change(reference, apply)

    async def add_question(
        self,
        reference: str | int,
        text: str,
        *,
        mandatory: bool = True,
        position: int | None = None,
    ) -> Study:
        study = await self.get(reference)
        settings = settings_of(study)
        return await self.change_questions(
            reference,
            lambda qs: plans.add_question(
                qs, text, mandatory=mandatory, position=position, settings=settings
            ),
        )

    async def set_experience(self, reference: str | int, **fields: Any) -> Study:
        """Change participant-experience fields; unknown names are rejected."""
        unknown = set(fields) - set(ParticipantExperience.model_fields)
        if unknown:
            raise InvalidInputError(
                "Unknown experience settings: " + ", ".join(sorted(unknown))
            )

        def apply(study: Study) -> None:
            merged = {**study.experience, **fields}
            study.experience = ParticipantExperience.model_validate(merged).model_dump(
                mode="json"
            )

        return await self._change(reference, apply)

    async def set_interview_settings(
        self, reference: str | int, **fields: Any
    ) -> Study:
        unknown = set(fields) - set(InterviewSettings.model_fields)
        if unknown:
            raise InvalidInputError(
                "Unknown interview settings: " + ", ".join(sorted(unknown))
            )

        def apply(study: Study) -> None:
            merged = InterviewSettings.model_validate(
                {**study.interview_settings, **fields}
            )
            plans.check_fits_budget(questions_of(study), merged)
            study.interview_settings = merged.model_dump(mode="json")

        return await self._change(reference, apply)

    async def set_team_channel(
        self, reference: str | int, channel: str | None
    ) -> Study:
        """Set where the team reads results, as "platform:channel_id"."""

        def apply(study: Study) -> None:
            study.team_channel = channel

        return await self._change(reference, apply)

    async def set_status(self, reference: str | int, status: StudyStatus) -> Study:
        def apply(study: Study) -> None:
            study.status = status

        return await self._change(reference, apply)
