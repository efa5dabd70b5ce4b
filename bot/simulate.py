"""Simulated participants: interviews answered from a text per participant.

Each record of a JSONL file becomes one participant whose every answer is
the sentences of the record's text most relevant to the interviewer's
message. Relevance is TF-IDF cosine similarity over crudely stemmed words,
fitted on all records at once, after two adjustments that stand in for a
person understanding the question:

- the question is expanded with words people use for the same support
  situations ("escalated" also finds "supervisor" and "manager");
- a question that asks for the story ("what happened", "walk me through")
  favours the earliest unused sentences, because a narrative is in order.

A sentence is used at most once; when no unused sentence is relevant the
participant says it has nothing to add.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from adapters.base import InboundMessage
from bot.errors import InvalidInputError
from bot.services.conversation import ConversationService, clean_text
from interview_engine.models import TurnKind
from interview_engine.text import sentences, words
from storage import Database, Participant, Study, queries

log = logging.getLogger(__name__)

MIN_RELEVANCE = 0.08
STORY_BONUS = 0.12

_EXPANSIONS: dict[str, str] = {
    "escalat": "supervisor manager complaint escalate escalated department",
    "stall": "wait waiting weeks months still delay never response",
    "stuck": "wait waiting weeks months still delay never response",
    "slow": "wait waiting weeks months still delay long",
    "again": "again repeatedly multiple times numerous several same",
    "repeat": "again repeatedly multiple times numerous several same",
    "explain": "explained told informed called letter",
    "feel": "frustrated upset stress angry worried unfair",
    "affect": "credit score money paid fees damage",
    "chang": "should need want fix remove correct",
    "resolv": "resolved fixed removed corrected refund closed",
    "contact": "called phone email letter spoke",
    "step": "called contacted sent received then after",
    "work": "helped resolved removed corrected refunded",
    "differen": "should need would want",
}
_STORY_PROMPT = re.compile(
    r"\b(what happened|walk me through|tell me about|specific time|example|"
    r"each step|from the (moment|first))\b",
    re.IGNORECASE,
)
SENTENCES_PER_ANSWER = 2
MAX_EXCHANGES = 80
NOTHING_TO_ADD = "Nothing to add on that."
_SUFFIX = re.compile(r"(ing|ed|es|s|ly)$")


def _stem(word: str) -> str:
    return _SUFFIX.sub("", word) if len(word) > 5 else word


def _analyzer(text: str) -> list[str]:
    return [
        _stem(w) for w in words(text) if w not in ENGLISH_STOP_WORDS and w != "xxxx"
    ]


@dataclass(frozen=True)
class FieldMap:
    """Names of the record fields with the text, id, segment and case data."""

    text: str = "text"
    id: str = "id"
    segment: str = "segment"
    name: str = "name"
    case_type: str = "case_type"
    outcome: str = "resolution_outcome"
    resolved_at: str = "resolved_at"


@dataclass(frozen=True)
class Record:
    line: int
    key: str
    text: str
    name: str
    segment: str
    case_type: str | None
    outcome: str | None
    resolved_at: datetime | None
    extra: dict[str, str] = field(default_factory=dict)


def _parse_time(value: Any, line: int, path: Path) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise InvalidInputError(
            f"Line {line} of {path}: resolved-at value {value!r} is not an ISO "
            "date such as 2026-03-01."
        ) from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def read_records(
    path: Path, fields: FieldMap, *, limit: int | None = None
) -> list[Record]:
    """Read participant records from a JSONL file.

    Raises:
        InvalidInputError: The file is missing or not JSONL, or a record has
            no text; the message names the line.
    """
    if limit is not None and limit < 1:
        raise InvalidInputError(f"--limit must be 1 or more, got {limit}.")
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder; give the JSONL file inside it.")
    if not path.exists():
        raise InvalidInputError(f"Answers file not found: {path}")
    records: list[Record] = []
    seen: set[str] = set()
    # utf-8-sig accepts the byte-order mark that Excel and Notepad write.
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as error:
                raise InvalidInputError(
                    f"Line {line_number} of {path} is not valid JSON: {error.msg}."
                ) from error
            if not isinstance(raw, dict):
                raise InvalidInputError(
                    f"Line {line_number} of {path} is not a JSON object."
                )
            text = raw.get(fields.text)
            if not isinstance(text, str) or not text.strip():
                raise InvalidInputError(
                    f"Line {line_number} of {path} has no text in the field "
                    f"“{fields.text}”. Name the text field with --text-field."
                )
            key = str(raw.get(fields.id) or f"line-{line_number}")
            if key in seen:
                raise InvalidInputError(
                    f"Line {line_number} of {path} repeats the id {key!r}."
                )
            seen.add(key)
            records.append(
                Record(
                    line=line_number,
                    key=key,
                    text=clean_text(text),
                    name=str(raw.get(fields.name) or ""),
                    segment=str(raw.get(fields.segment) or ""),
                    case_type=_optional(raw.get(fields.case_type)),
                    outcome=_optional(raw.get(fields.outcome)),
                    resolved_at=_parse_time(
                        raw.get(fields.resolved_at), line_number, path
                    ),
                )
            )
            if limit is not None and len(records) >= limit:
                break
    if not records:
        raise InvalidInputError(f"{path} has no records.")
    return records


def _optional(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _expand(question: str) -> str:
    lowered = question.lower()
    extra = [words for stem, words in _EXPANSIONS.items() if stem in lowered]
    return " ".join([question, *extra])


class SimulatedParticipant:
    """Answers with the record's most relevant unused sentences."""

    def __init__(self, text: str, vectorizer: TfidfVectorizer) -> None:
        self.sentences = [s for s in sentences(text) if len(words(s)) >= 3]
        self.vectorizer = vectorizer
        self.vectors = vectorizer.transform(self.sentences) if self.sentences else None
        self.used: set[int] = set()

    def reply(self, kind: TurnKind, text: str) -> str:
        if kind == TurnKind.CONFIRM:
            return "Yes, that's right."
        if kind == TurnKind.CLOSING:
            return "Yes, you can contact me."
        if self.vectors is None:
            return NOTHING_TO_ADD
        query = self.vectorizer.transform([_expand(text)])
        scores = (self.vectors @ query.T).toarray().ravel()
        if _STORY_PROMPT.search(text):
            unused = [i for i in range(len(self.sentences)) if i not in self.used]
            for rank, index in enumerate(unused[:3]):
                scores[index] += STORY_BONUS / (rank + 1)
        ranked = [
            int(i)
            for i in np.argsort(-scores)
            if scores[i] >= MIN_RELEVANCE and int(i) not in self.used
        ][:SENTENCES_PER_ANSWER]
        if not ranked:
            return NOTHING_TO_ADD
        self.used.update(ranked)
        return " ".join(self.sentences[i] for i in sorted(ranked))


def fit_vectorizer(records: list[Record], questions: list[str]) -> TfidfVectorizer:
    vectorizer = TfidfVectorizer(analyzer=_analyzer, sublinear_tf=True)
    corpus = [s for record in records for s in sentences(record.text)] + questions
    vectorizer.fit(corpus)
    return vectorizer


@dataclass
class SimulationReport:
    completed: int = 0
    skipped: int = 0
    unfinished: int = 0
    interview_ids: list[int] = field(default_factory=list)


async def _participant_for(
    database: Database, study: Study, record: Record
) -> Participant:
    assert study.id is not None
    workspace = f"study-{study.id}"
    async with database.session() as session:
        participant = await queries.find_participant(
            session, study.id, "simulated", workspace, record.key
        )
        if participant is None:
            participant = Participant(
                study_id=study.id,
                platform="simulated",
                workspace_id=workspace,
                platform_user_id=record.key,
                display_name=record.name,
                segment=record.segment,
                case_type=record.case_type,
                resolution_outcome=record.outcome,
                resolved_at=record.resolved_at,
                consent=True,
            )
            session.add(participant)
            await session.commit()
            await session.refresh(participant)
    return participant


async def simulate(
    database: Database,
    conversations: ConversationService,
    study: Study,
    records: list[Record],
    *,
    questions: list[str],
    on_progress: Callable[[], None] | None = None,
) -> SimulationReport:
    """Run one interview per record through the real conversation service."""
    vectorizer = fit_vectorizer(records, questions)
    report = SimulationReport()
    for record in records:
        participant = await _participant_for(database, study, record)
        started = await conversations.start(
            study, participant, channel_id=f"sim-{record.key}"
        )
        if started.status != "started" or started.interview_id is None:
            report.skipped += 1
            if on_progress:
                on_progress()
            continue
        simulated = SimulatedParticipant(record.text, vectorizer)
        replies = started.replies
        finished = False
        for exchange in range(MAX_EXCHANGES):
            last = replies[-1].message if replies else None
            if last is None or last.kind == TurnKind.FAREWELL:
                finished = last is not None
                break
            answer = simulated.reply(last.kind, last.text)
            accepted = await conversations.accept(
                InboundMessage(
                    platform="simulated",
                    workspace_id=participant.workspace_id,
                    user_id=participant.platform_user_id,
                    channel_id=f"sim-{record.key}",
                    text=answer,
                    message_id=f"{record.key}-{exchange}",
                )
            )
            if accepted.interview_id is None:
                break
            replies = await conversations.respond(accepted.interview_id)
        if finished:
            report.completed += 1
            report.interview_ids.append(started.interview_id)
        else:
            report.unfinished += 1
            log.warning("simulated interview %s did not finish", started.interview_id)
        if on_progress:
            on_progress()
    return report
