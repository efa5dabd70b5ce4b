"""Plain Markdown for reports, plans and transcripts.

Used by exports and by any platform whose messages take Markdown. The text
is complete: nothing is cut here, and adapters with length limits split it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from interview_engine.models import Question, ResearchPlan
from interview_engine.report import AnswerReport, SummaryReport, ThemeResult

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    """Make untrusted text inert in Markdown and in a terminal.

    Control characters (terminal escape sequences among them) are dropped,
    HTML is escaped, and image syntax cannot load a remote image.
    """
    text = _CONTROL.sub("", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("![", "!\\[")


def _quote_lines(theme: ThemeResult) -> list[str]:
    return [
        f"  > “{safe(quote.text)}” (interview {quote.interview_id}"
        + (f", {quote.segment}" if quote.segment else "")
        + ")"
        for quote in theme.quotes
    ]


def report_markdown(report: SummaryReport) -> str:
    """Render a summary report as Markdown."""
    scope = f" — segment “{report.segment_filter}”" if report.segment_filter else ""
    lines = [
        f"# Summary: {report.study_title}{scope}",
        "",
        f"**Research question:** {report.research_question}",
        "",
        f"{report.total} completed interviews · generated "
        f"{report.generated_at:%Y-%m-%d %H:%M} UTC · analysis: {report.provider}",
    ]
    if report.segments:
        segments = ", ".join(
            f"{name} {count}" for name, count in report.segments.items()
        )
        lines += ["", f"**Segments:** {segments}"]
    if report.signals:
        lines += ["", "## What participants ran into", ""]
        for signal in report.signals:
            lines.append(f"- {signal.headline()}")
            lines.extend(_quote_lines(signal))
    if report.themes:
        lines += ["", "## Themes", ""]
        for theme in report.themes:
            counted = f"{theme.count} of {theme.total} ({theme.percent}%)"
            lines.append(f"- **{theme.label}**: {counted}")
            if theme.description:
                lines.append(f"  {theme.description}")
            lines.extend(_quote_lines(theme))
    if report.comparisons:
        lines += ["", "## Segment comparisons", ""]
        lines.extend(f"- {comparison.sentence()}" for comparison in report.comparisons)
    if report.opportunities:
        lines += ["", "## Improvement opportunities", ""]
        for number, opportunity in enumerate(report.opportunities, start=1):
            lines.append(
                f"{number}. **{opportunity.title}**. {opportunity.detail}".rstrip()
            )
    if report.notes:
        lines += ["", "## Notes", ""]
        lines.extend(f"- {note}" for note in report.notes)
    return "\n".join(lines) + "\n"


def plan_markdown(
    title: str,
    research_question: str,
    plan: ResearchPlan,
    questions: Iterable[Question],
) -> str:
    """Render a research plan and its question guide as Markdown."""
    lines = [
        f"# {title}",
        "",
        f"**Research question:** {research_question}",
        "",
        f"**Research type:** {plan.research_type.value}",
        "",
        plan.description,
        "",
        "## Goals",
        "",
    ]
    lines += [f"{n}. {goal}" for n, goal in enumerate(plan.goals, start=1)]
    lines += ["", "## Target participants", "", plan.target_participants, ""]
    lines += ["## Interview guide (in asking order)", ""]
    for number, question in enumerate(questions, start=1):
        mark = " **(mandatory)**" if question.mandatory else ""
        lines.append(f"{number}. {question.text}{mark}")
    return "\n".join(lines) + "\n"


def answer_markdown(report: AnswerReport) -> str:
    lines = [f"**Q:** {safe(report.question)}", "", report.text, ""]
    for quote in report.quotes:
        segment = f", {quote.segment}" if quote.segment else ""
        lines.append(
            f"> “{safe(quote.text)}” (interview {quote.interview_id}{segment})"
        )
        lines.append("")  # one block quote per passage, not one run-on block
    return "\n".join(lines) + "\n"


def transcript_markdown(
    interview_id: int, segment: str, status: str, lines: Iterable[tuple[str, str]]
) -> str:
    """Render one interview; `lines` are (role, text) pairs in order."""
    out = [f"## Interview {interview_id} ({segment or 'no segment'}, {status})", ""]
    for role, text in lines:
        speaker = "Interviewer" if role == "interviewer" else "Participant"
        body = safe(text.strip()) or "(empty message)"
        out.append(f"**{speaker}:** {body}")
        out.append("")
    return "\n".join(out)
