"""The console adapter: interviews and reports in a terminal, through Rich.

It implements the same `Adapter` contract as Slack and Discord, so that
`perspective chat` runs the very engine and storage the platforms use.
"""

from __future__ import annotations

import getpass
import itertools

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.text import Text

from adapters.base import (
    AnswerReply,
    ChartReply,
    InterviewReply,
    Reply,
    SummaryReply,
    TextReply,
    UserInfo,
)
from adapters.markdown import answer_markdown
from interview_engine.models import OutgoingMessage
from interview_engine.report import SummaryReport, ThemeResult


def local_user_id() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def interview_text(message: OutgoingMessage) -> Text:
    """Render an interviewer message with its buttons as typed choices."""
    text = Text(message.text)
    if message.buttons:
        choices = " / ".join(button.label for button in message.buttons)
        text.append(f"\n[{choices}]", style="dim")
    return text


def _finding_lines(theme: ThemeResult, *, by_segment: bool) -> list[str]:
    if theme.kind == "signal":
        lines = [
            f"- **{theme.count} of {theme.total}** ({theme.percent}%) {theme.label}"
        ]
    else:
        lines = [
            f"- **{theme.label}**: {theme.count} of {theme.total} ({theme.percent}%)"
        ]
    if by_segment:
        parts = ", ".join(f"{s.segment} {s.count}/{s.total}" for s in theme.by_segment)
        lines.append(f"  - by segment: {parts}")
    for quote in theme.quotes[:2]:
        lines.append(f"  - “{quote.text}” (interview {quote.interview_id})")
    return lines


def summary_renderable(report: SummaryReport) -> Group:
    """Build the terminal view of a summary report."""
    by_segment = len(report.segments) > 1
    scope = f" (segment: {report.segment_filter})" if report.segment_filter else ""
    segments = ", ".join(f"{name} {count}" for name, count in report.segments.items())
    header = Text.assemble(
        (f"Summary: {report.study_title}{scope}\n", "bold"),
        f"{report.research_question}\n",
        (
            f"{report.total} completed interviews · analysis: {report.provider}"
            + (f" · segments: {segments}" if segments else ""),
            "dim",
        ),
    )
    parts: list[RenderableType] = [Panel(header)]
    sections: list[tuple[str, list[ThemeResult]]] = [
        ("What participants ran into", report.signals),
        ("Themes (groups of similar interviews)", report.themes),
    ]
    for title, themes in sections:
        if themes:
            lines = [f"### {title}", ""]
            for theme in themes:
                lines.extend(_finding_lines(theme, by_segment=by_segment))
            parts.append(Markdown("\n".join(lines)))
    if report.comparisons:
        lines = ["### Segment comparisons", ""]
        lines += [f"- {c.sentence()}" for c in report.comparisons]
        parts.append(Markdown("\n".join(lines)))
    if report.opportunities:
        lines = ["### Improvement opportunities", ""]
        lines += [
            f"{n}. **{o.title}**. {o.detail}"
            for n, o in enumerate(report.opportunities, start=1)
        ]
        parts.append(Markdown("\n".join(lines)))
    for note in report.notes:
        parts.append(Text(f"Note: {note}", style="yellow"))
    return Group(*parts)


class ConsoleAdapter:
    """Prints interviewer messages and reports to a Rich console."""

    platform = "console"

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._ids = itertools.count(1)

    def render(self, reply: Reply) -> None:
        if isinstance(reply, InterviewReply):
            self.console.print(
                Panel(
                    interview_text(reply.message),
                    title="Interviewer",
                    title_align="left",
                )
            )
        elif isinstance(reply, SummaryReply):
            self.console.print(summary_renderable(reply.report))
        elif isinstance(reply, AnswerReply):
            self.console.print(Markdown(answer_markdown(reply.report)))
        elif isinstance(reply, ChartReply):
            self.console.print(f"[chart: {reply.title}] {reply.alt_text}")
        elif isinstance(reply, TextReply):
            self.console.print(reply.text)

    async def send_direct_message(self, user_id: str, reply: Reply) -> list[str]:
        self.render(reply)
        return [f"console-{next(self._ids)}"]

    async def post_to_channel(self, channel_id: str, reply: Reply) -> list[str]:
        self.render(reply)
        return [f"console-{next(self._ids)}"]

    async def lookup_user(self, user_id: str) -> UserInfo:
        return UserInfo(user_id=user_id, display_name=user_id)
