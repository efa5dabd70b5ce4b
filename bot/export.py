"""Export a study's interviews and latest summary as JSON, CSV or Markdown.

Exports hold what participants wrote, their segment and case attributes, and
whether they agreed to be contacted again, but not their names or platform
user ids (the greeting's name becomes "[participant]"), so that a file can
be shared with the wider team. CSV cells that a spreadsheet would run as a
formula are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from adapters.markdown import plan_markdown, report_markdown, transcript_markdown
from bot.services.results import ResultsService, participant_attributes
from bot.services.studies import experience_of, plan_of, questions_of
from interview_engine.report import SummaryReport
from storage import Participant, Study

ExportFormat = Literal["json", "csv", "md"]
# A cell starting with one of these runs as a formula in spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _without_name(text: str, participant: Participant) -> str:
    """Replace the participant's name (used in the greeting) with a placeholder."""
    name = participant.display_name.strip()
    return text.replace(name, "[participant]") if len(name) >= 2 else text


FORMATS: tuple[ExportFormat, ...] = ("json", "csv", "md")


async def export_study(
    results: ResultsService, study: Study, export_format: ExportFormat
) -> str:
    """Return the export as text in the chosen format."""
    transcripts = await results.transcripts(study)
    latest = await results.latest(study)
    report = latest.report if latest else None
    if export_format == "json":
        return _json(study, transcripts, report)
    if export_format == "csv":
        return _csv(study, transcripts)
    return _markdown(study, transcripts, report)


def _json(study: Study, transcripts: list[Any], report: SummaryReport | None) -> str:
    document = {
        "study": {
            "id": study.id,
            "title": study.title,
            "research_question": study.research_question,
            "status": study.status,
            "plan": plan_of(study).model_dump(mode="json"),
            "questions": [q.model_dump() for q in questions_of(study)],
            "experience": experience_of(study).model_dump(mode="json"),
        },
        "interviews": [
            {
                "id": interview.id,
                "participant_id": participant.id,
                "status": interview.status,
                "contact_ok": participant.contact_ok,
                "segment": participant.segment,
                "attributes": participant_attributes(participant),
                "language": interview.language,
                "started_at": interview.started_at.isoformat(),
                "completed_at": (
                    interview.completed_at.isoformat()
                    if interview.completed_at
                    else None
                ),
                "messages": [
                    {
                        "role": m.role,
                        "text": _without_name(m.text, participant),
                        "kind": m.meta.get("kind"),
                        "question_id": m.meta.get("question_id"),
                        "at": m.created_at.isoformat(),
                        "edited": m.edited_at is not None,
                        "deleted": m.deleted_at is not None,
                    }
                    for m in messages
                ],
            }
            for interview, participant, messages in transcripts
        ],
        "summary": report.model_dump(mode="json") if report else None,
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _csv(study: Study, transcripts: list[Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "study_id",
            "interview_id",
            "interview_status",
            "participant_id",
            "contact_ok",
            "segment",
            "case_type",
            "resolution_outcome",
            "message_id",
            "role",
            "kind",
            "question_id",
            "text",
            "created_at",
        ]
    )
    for interview, participant, messages in transcripts:
        for message in messages:
            if message.deleted_at is not None:
                continue
            writer.writerow(
                _cell(value)
                for value in (
                    study.id,
                    interview.id,
                    interview.status,
                    participant.id,
                    participant.contact_ok,
                    participant.segment,
                    participant.case_type or "",
                    participant.resolution_outcome or "",
                    message.id,
                    message.role,
                    message.meta.get("kind") or "",
                    message.meta.get("question_id") or "",
                    _without_name(message.text, participant),
                    message.created_at.isoformat(),
                )
            )
    return buffer.getvalue()


def _markdown(
    study: Study, transcripts: list[Any], report: SummaryReport | None
) -> str:
    parts = [
        plan_markdown(
            study.title, study.research_question, plan_of(study), questions_of(study)
        )
    ]
    if report is not None:
        parts.append(report_markdown(report))
    else:
        parts.append("_No summary yet: run `perspective summary` first._\n")
    parts.append("# Transcripts\n")
    for interview, participant, messages in transcripts:
        parts.append(
            transcript_markdown(
                interview.id or 0,
                participant.segment,
                interview.status,
                [
                    (m.role, _without_name(m.text, participant))
                    for m in messages
                    if m.deleted_at is None
                ],
            )
        )
    return "\n".join(parts)
