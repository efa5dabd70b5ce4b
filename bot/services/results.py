"""Summaries, free-form questions and exports of a study's interviews."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from interview_engine import answer_question, summarise
from interview_engine.intents import detect_intent
from interview_engine.models import TurnKind
from interview_engine.providers.base import InterviewText, Provider
from interview_engine.report import AnswerReport, SummaryReport
from interview_engine.text import looks_like_injection
from storage import (
    Code,
    Database,
    Interview,
    Message,
    MessageRole,
    Participant,
    Study,
    Summary,
    queries,
)
from storage.types import utcnow

log = logging.getLogger(__name__)

# Replies to these interviewer turns are content; replies to the recap and
# the contact question are not.
_CONTENT_KINDS = frozenset(
    {
        TurnKind.QUESTION,
        TurnKind.PROBE,
        TurnKind.REDIRECT,
        TurnKind.REASK,
        TurnKind.NOTICE,
    }
)


def participant_attributes(participant: Participant) -> dict[str, str]:
    attributes = {
        str(k): str(v) for k, v in participant.attributes.items() if v is not None
    }
    if participant.case_type:
        attributes["case_type"] = participant.case_type
    if participant.resolution_outcome:
        attributes["resolution_outcome"] = participant.resolution_outcome
    if participant.resolved_at:
        attributes["resolved_at"] = participant.resolved_at.date().isoformat()
    return attributes


def answers_of(messages: Sequence[Message]) -> list[tuple[str, str]]:
    """Pair each content answer with the interviewer message it replies to."""
    answers: list[tuple[str, str]] = []
    question = ""
    kind = TurnKind.QUESTION.value
    for message in messages:
        if message.deleted_at is not None:
            continue
        if message.role == MessageRole.INTERVIEWER:
            question = message.text
            kind = message.meta.get("kind", TurnKind.QUESTION.value)
            continue
        text = message.text.strip()
        if not text or kind not in _CONTENT_KINDS:
            continue
        if detect_intent(text) is not None or looks_like_injection(text):
            continue
        answers.append((question, text))
    return answers


def _group_by_interview(messages: Sequence[Message]) -> dict[int, list[Message]]:
    grouped: dict[int, list[Message]] = {}
    for message in messages:
        grouped.setdefault(message.interview_id, []).append(message)
    return grouped


@dataclass
class StoredSummary:
    summary_id: int
    report: SummaryReport


class ResultsService:
    def __init__(self, database: Database, provider: Provider) -> None:
        self.database = database
        self.provider = provider

    async def interview_texts(self, study: Study) -> list[InterviewText]:
        """Load every completed interview of a study as analysis input."""
        assert study.id is not None
        async with self.database.session() as session:
            rows = await queries.completed_interviews(session, study.id)
            ids = [interview.id for interview, _p in rows if interview.id is not None]
            messages = await queries.messages_of_interviews(session, ids)
        by_interview = _group_by_interview(messages)
        texts: list[InterviewText] = []
        for interview, participant in rows:
            assert interview.id is not None
            texts.append(
                InterviewText(
                    interview_id=interview.id,
                    segment=participant.segment,
                    attributes=participant_attributes(participant),
                    answers=answers_of(by_interview.get(interview.id, [])),
                )
            )
        return texts

    async def summarise(
        self, study: Study, *, segment: str | None = None
    ) -> StoredSummary:
        """Summarise the completed interviews and store the report and codes."""
        assert study.id is not None
        interviews = await self.interview_texts(study)
        result = await summarise(
            study.research_question,
            interviews,
            self.provider,
            study_id=study.id,
            study_title=study.title,
            now=utcnow(),
            segment=segment,
        )
        async with self.database.session() as session:
            summary = Summary(
                study_id=study.id,
                segment=segment,
                provider=result.report.provider,
                interview_count=result.report.total,
                report=result.report.model_dump(mode="json"),
            )
            session.add(summary)
            await session.flush()
            assert summary.id is not None
            for code in result.codes:
                session.add(
                    Code(
                        summary_id=summary.id,
                        interview_id=code.interview_id,
                        kind=code.kind,
                        key=code.key,
                    )
                )
            await session.commit()
        log.info("summary %s stored for study %s", summary.id, study.id)
        return StoredSummary(summary.id, result.report)

    async def latest(
        self, study: Study, *, segment: str | None = None
    ) -> StoredSummary | None:
        assert study.id is not None
        async with self.database.session() as session:
            summary = await queries.latest_summary(session, study.id, segment)
        if summary is None or summary.id is None:
            return None
        return StoredSummary(summary.id, SummaryReport.model_validate(summary.report))

    async def ask(self, study: Study, question: str) -> AnswerReport:
        interviews = await self.interview_texts(study)
        return await answer_question(question, interviews, self.provider)

    async def transcripts(
        self, study: Study
    ) -> list[tuple[Interview, Participant, list[Message]]]:
        """Return every interview of the study with its messages, oldest first."""
        assert study.id is not None
        async with self.database.session() as session:
            rows = await queries.study_interviews(session, study.id)
            ids = [i.id for i, _p in rows if i.id is not None]
            messages = await queries.messages_of_interviews(session, ids)
        by_interview = _group_by_interview(messages)
        return [(i, p, by_interview.get(i.id or 0, [])) for i, p in rows]

    async def codes(self, summary_id: int) -> Sequence[Code]:
        async with self.database.session() as session:
            return await queries.codes_of(session, summary_id)
