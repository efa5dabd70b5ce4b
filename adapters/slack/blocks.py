"""Outward conversion: our replies as Block Kit messages within Slack's limits.

Limits, from Slack's Block Kit reference: 50 blocks per message (100 in a
modal or the Home tab), 150 characters in a header, 3,000 in a section's
text, 10 fields per section and 2,000 per field, 75 characters of button
text. Content longer than a block continues in the next block, and more
blocks than a message holds continue in the next message; nothing is cut
without the full text appearing somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.base import (
    AnswerReply,
    ChartReply,
    FileReply,
    InterviewReply,
    InvitationReply,
    PlanReply,
    Reply,
    StatusReply,
    SummaryReply,
    TextReply,
)
from interview_engine.report import SummaryReport, ThemeResult

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_BUTTON_TEXT = 75
# Slack recommends keeping the top-level text under 4,000 characters.
MAX_FALLBACK = 3000

Block = dict[str, Any]

START_ACTION = "perspective_start"
DECLINE_ACTION = "perspective_decline"
ANSWER_ACTION_PREFIX = "perspective_answer_"
PLAN_ACTIONS = {
    "perspective_edit_plan": "Edit plan",
    "perspective_edit_questions": "Edit questions",
    "perspective_edit_settings": "Participant experience",
    "perspective_post_link": "Post join link",
}


@dataclass(frozen=True)
class SlackMessage:
    """One chat.postMessage worth of content: fallback text and blocks."""

    text: str
    blocks: list[Block]


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_text(text: str, limit: int = MAX_SECTION) -> list[str]:
    """Split text into pieces of at most `limit` characters, at line, then
    sentence, then word boundaries; only a single word longer than the limit
    is broken inside."""
    pieces: list[str] = []
    remaining = text.strip()
    while len(remaining) > limit:
        window = remaining[:limit]
        cut = max(window.rfind("\n"), 0)
        if cut < limit // 2:
            cut = max(window.rfind(". ") + 1, window.rfind(" "))
        if cut < limit // 4:
            cut = limit
        pieces.append(remaining[:cut].rstrip())
        remaining = remaining[cut:].lstrip()
    if remaining:
        pieces.append(remaining)
    return pieces


def section(text: str) -> list[Block]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece}}
        for piece in split_text(text)
    ]


def header(text: str) -> list[Block]:
    """A header, plus the full text in a section when it is too long for one."""
    blocks: list[Block] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": shorten(text, MAX_HEADER)},
        }
    ]
    if len(" ".join(text.split())) > MAX_HEADER:
        blocks += section(f"*{escape(text)}*")
    return blocks


def context(text: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": shorten(text, MAX_SECTION)}],
    }


def button(
    label: str, action_id: str, value: str, *, style: str | None = None
) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": shorten(label, MAX_BUTTON_TEXT)},
        "action_id": action_id,
        "value": value[:2000],
    }
    if style:
        element["style"] = style
    return element


def fields_sections(pairs: list[tuple[str, str]]) -> list[Block]:
    """Label/value pairs as sections of at most 10 fields each."""
    blocks: list[Block] = []
    for start in range(0, len(pairs), MAX_FIELDS):
        chunk = pairs[start : start + MAX_FIELDS]
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": shorten(f"*{label}*\n{value}", MAX_FIELD),
                    }
                    for label, value in chunk
                ],
            }
        )
    return blocks


def paginate(blocks: list[Block], fallback: str) -> list[SlackMessage]:
    """Split blocks into messages of at most 50, numbering continuations."""
    chunks = [
        blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)
    ] or [[]]
    fallback = shorten(fallback, MAX_FALLBACK)
    if len(chunks) == 1:
        return [SlackMessage(fallback, chunks[0])]
    total = len(chunks)
    return [
        SlackMessage(
            fallback
            if number == 1
            else f"(continued, part {number} of {total}) {fallback}",
            chunk,
        )
        for number, chunk in enumerate(chunks, start=1)
    ]


def _interview(reply: InterviewReply) -> list[SlackMessage]:
    message = reply.message
    blocks = section(escape(message.text))
    if message.buttons:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    button(b.label, f"{ANSWER_ACTION_PREFIX}{index}", b.value)
                    for index, b in enumerate(message.buttons[:5])
                ],
            }
        )
    return paginate(blocks, message.text)


def _invitation(reply: InvitationReply) -> list[SlackMessage]:
    blocks = section(escape(reply.text)) + [
        {
            "type": "actions",
            "elements": [
                button(
                    "Start interview", START_ACTION, reply.join_code, style="primary"
                ),
                button("Not now", DECLINE_ACTION, reply.join_code),
            ],
        }
    ]
    return paginate(blocks, reply.text)


def _plan(reply: PlanReply) -> list[SlackMessage]:
    plan = reply.plan
    goals = "\n".join(f"{n}. {escape(g)}" for n, g in enumerate(plan.goals, start=1))
    questions = "\n".join(
        f"{n}. {escape(q.text)}" + (" *(mandatory)*" if q.mandatory else "")
        for n, q in enumerate(reply.questions, start=1)
    )
    blocks = header(reply.title)
    blocks += section(f"*Research question:* {escape(reply.research_question)}")
    blocks += section(f"*Type:* {plan.research_type.value}\n{escape(plan.description)}")
    blocks += section(f"*Goals*\n{goals}")
    blocks += section(f"*Target participants*\n{escape(plan.target_participants)}")
    blocks += section(f"*Interview guide* (asking order)\n{questions}")
    if reply.advice:
        blocks.append(context(f":bulb: {escape(reply.advice)}"))
    blocks.append(
        context(
            f"Study {reply.study_id} · join code `{reply.join_code}` · {reply.status}"
        )
    )
    blocks.append(
        {
            "type": "actions",
            "elements": [
                button(label, action_id, str(reply.study_id))
                for action_id, label in PLAN_ACTIONS.items()
            ],
        }
    )
    return paginate(blocks, f"Research plan: {reply.title}")


def _status(reply: StatusReply) -> list[SlackMessage]:
    blocks = header(f"Status: {reply.title}")
    blocks += fields_sections(
        [(name, str(count)) for name, count in reply.counts.items()]
    )
    if reply.details:
        blocks += section("\n".join(f"• {escape(line)}" for line in reply.details))
    counts = ", ".join(f"{name} {count}" for name, count in reply.counts.items())
    return paginate(blocks, f"Status of {reply.title}: {counts}")


def _finding(theme: ThemeResult, by_segment: bool) -> list[Block]:
    lines = [f"*{escape(theme.headline())}*"]
    if by_segment and theme.by_segment:
        lines.append(
            "_By segment:_ "
            + ", ".join(
                f"{escape(s.segment)} {s.count}/{s.total}" for s in theme.by_segment
            )
        )
    for quote in theme.quotes:
        segment = f", {escape(quote.segment)}" if quote.segment else ""
        lines.append(
            f"> {escape(quote.text)}\n_interview {quote.interview_id}{segment}_"
        )
    return section("\n".join(lines))


def summary_blocks(report: SummaryReport) -> list[Block]:
    segment = escape(report.segment_filter or "")
    scope = f" · segment “{segment}”" if segment else ""
    blocks = header(f"Summary: {report.study_title}")
    segments = ", ".join(f"{escape(k)} {v}" for k, v in report.segments.items())
    blocks.append(
        context(
            f"{report.total} completed interviews{scope} · analysis: {report.provider}"
            + (f" · segments: {segments}" if segments else "")
        )
    )
    blocks += section(f"*Research question:* {escape(report.research_question)}")
    by_segment = len(report.segments) > 1
    if report.signals:
        blocks += section("*What participants ran into*")
        for signal in report.signals:
            blocks += _finding(signal, by_segment)
    if report.themes:
        blocks.append({"type": "divider"})
        blocks += section("*Themes*")
        for theme in report.themes:
            blocks += _finding(theme, by_segment)
    if report.comparisons:
        blocks.append({"type": "divider"})
        lines = "\n".join(f"• {escape(c.sentence())}" for c in report.comparisons)
        blocks += section(f"*Segment comparisons*\n{lines}")
    if report.opportunities:
        blocks.append({"type": "divider"})
        lines = "\n".join(
            f"{n}. *{escape(o.title)}*. {escape(o.detail)}"
            for n, o in enumerate(report.opportunities, start=1)
        )
        blocks += section(f"*Improvement opportunities*\n{lines}")
    for note in report.notes:
        blocks.append(context(f"Note: {escape(note)}"))
    return blocks


def _summary(reply: SummaryReply) -> list[SlackMessage]:
    report = reply.report
    top = report.signals[0].headline() if report.signals else "no findings yet"
    fallback = (
        f"Summary of {report.study_title}: {report.total} completed interviews; {top}"
    )
    return paginate(summary_blocks(report), fallback)


def _answer(reply: AnswerReply) -> list[SlackMessage]:
    report = reply.report
    lines = [f"*Q:* {escape(report.question)}", escape(report.text)]
    for quote in report.quotes:
        segment = f", {escape(quote.segment)}" if quote.segment else ""
        lines.append(
            f"> {escape(quote.text)}\n_interview {quote.interview_id}{segment}_"
        )
    return paginate(section("\n".join(lines)), f"{report.question}: {report.text}")


def render(reply: Reply) -> list[SlackMessage]:
    """Convert one reply into one or more Slack messages."""
    if isinstance(reply, InterviewReply):
        return _interview(reply)
    if isinstance(reply, InvitationReply):
        return _invitation(reply)
    if isinstance(reply, PlanReply):
        return _plan(reply)
    if isinstance(reply, StatusReply):
        return _status(reply)
    if isinstance(reply, SummaryReply):
        return _summary(reply)
    if isinstance(reply, AnswerReply):
        return _answer(reply)
    if isinstance(reply, ChartReply):
        return paginate(section(escape(reply.alt_text)), reply.title)
    if isinstance(reply, FileReply):
        return paginate(section(escape(reply.comment or reply.title)), reply.title)
    assert isinstance(reply, TextReply)
    return paginate(section(escape(reply.text)), reply.text)
