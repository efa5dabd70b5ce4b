"""Outward conversion: our replies as Discord messages within Discord's limits.

Limits, from Discord's message and embed documentation: 2,000 characters
of content; 10 embeds per message; an embed's title 256, description
4,096, 25 fields, field name 256, field value 1,024, footer 2,048; and
6,000 characters across all embeds of one message. Long text is split at
line, then sentence, then word boundaries; long findings continue in
further fields, embeds and messages. Nothing is cut without the full text
appearing somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import discord

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

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_EMBED_TOTAL = 6000

START_PREFIX = "perspective:start:"
ANSWER_PREFIX = "perspective:answer:"
MAX_CUSTOM_ID = 100
COLOUR = discord.Colour(0x2F4858)


@dataclass
class DiscordMessage:
    """One channel.send worth of content."""

    content: str = ""
    embeds: list[discord.Embed] = field(default_factory=list)
    buttons: list[tuple[str, str, discord.ButtonStyle]] = field(default_factory=list)

    def view(self) -> discord.ui.View | None:
        """Build the buttons as a view with no timeout (custom ids are stable)."""
        if not self.buttons:
            return None
        view = discord.ui.View(timeout=None)
        for label, custom_id, style in self.buttons[:5]:
            view.add_item(
                discord.ui.Button(label=label[:80], custom_id=custom_id, style=style)
            )
        return view


def split_text(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """Split text at line, sentence or word boundaries into pieces <= limit."""
    pieces: list[str] = []
    remaining = text.strip()
    while len(remaining) > limit:
        window = remaining[:limit]
        cut = window.rfind("\n")
        if cut < limit // 2:
            cut = max(
                window.rfind(". ") + 1, window.rfind("? ") + 1, window.rfind("! ") + 1
            )
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 4:
            cut = limit
        pieces.append(remaining[:cut].rstrip())
        remaining = remaining[cut:].lstrip()
    if remaining:
        pieces.append(remaining)
    return pieces or [""]


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def embed_size(embed: discord.Embed) -> int:
    """Count the characters Discord counts toward the 6,000 total."""
    size = len(embed.title or "") + len(embed.description or "")
    size += len(embed.footer.text or "") if embed.footer else 0
    size += len(embed.author.name or "") if embed.author else 0
    return size + sum(len(f.name or "") + len(f.value or "") for f in embed.fields)


@dataclass
class Field:
    name: str
    value: str


def fields_for(name: str, body: str) -> list[Field]:
    """One finding as fields: a name cut to 256 with the full text in the value,
    and a value split over further fields when longer than 1,024."""
    full_name = " ".join(name.split())
    short_name = shorten(full_name, MAX_FIELD_NAME)
    if short_name != full_name:
        body = f"**{full_name}**\n{body}"
    pieces = split_text(body or "\u200b", MAX_FIELD_VALUE)
    return [
        Field(
            short_name if index == 0 else f"{shorten(full_name, 200)} (continued)",
            piece,
        )
        for index, piece in enumerate(pieces)
    ]


def pack(
    title: str, description: str, fields: list[Field], footer: str = ""
) -> list[DiscordMessage]:
    """Pack fields into embeds and embeds into messages within every limit."""
    title = shorten(title, MAX_TITLE)
    descriptions = split_text(description, MAX_DESCRIPTION) if description else [""]
    embeds: list[discord.Embed] = []
    for index, text in enumerate(descriptions):
        embeds.append(
            discord.Embed(
                title=title if index == 0 else f"{shorten(title, 240)} (continued)",
                description=text or None,
                colour=COLOUR,
            )
        )
    current = embeds[-1]
    for item in fields:
        full = len(current.fields) >= MAX_FIELDS
        too_big = (
            embed_size(current) + len(item.name) + len(item.value) > MAX_EMBED_TOTAL
        )
        if full or too_big:
            current = discord.Embed(
                title=f"{shorten(title, 240)} (continued)", colour=COLOUR
            )
            embeds.append(current)
        current.add_field(name=item.name, value=item.value, inline=False)
    if footer:
        last = embeds[-1]
        if embed_size(last) + len(footer) > MAX_EMBED_TOTAL:
            last = discord.Embed(colour=COLOUR)
            embeds.append(last)
        last.set_footer(text=shorten(footer, 2048))

    messages: list[DiscordMessage] = []
    batch: list[discord.Embed] = []
    total = 0
    for embed in embeds:
        size = embed_size(embed)
        if batch and (len(batch) == MAX_EMBEDS or total + size > MAX_EMBED_TOTAL):
            messages.append(DiscordMessage(embeds=batch))
            batch, total = [], 0
        batch.append(embed)
        total += size
    if batch:
        messages.append(DiscordMessage(embeds=batch))
    return messages


def inert(text: str) -> str:
    """Escape untrusted text: no markdown links or formatting, no mentions."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def _finding_body(theme: ThemeResult, by_segment: bool) -> str:
    lines: list[str] = []
    if by_segment and theme.by_segment:
        lines.append(
            "By segment: "
            + ", ".join(f"{s.segment} {s.count}/{s.total}" for s in theme.by_segment)
        )
    for quote in theme.quotes:
        segment = f", {quote.segment}" if quote.segment else ""
        lines.append(
            f"> {inert(quote.text)}\n— interview {quote.interview_id}{segment}"
        )
    return "\n".join(lines)


def summary_messages(report: SummaryReport) -> list[DiscordMessage]:
    by_segment = len(report.segments) > 1
    segments = ", ".join(f"{k} {v}" for k, v in report.segments.items())
    scope = f" · segment “{report.segment_filter}”" if report.segment_filter else ""
    description = (
        f"**Research question:** {report.research_question}\n"
        f"{report.total} completed interviews{scope}"
        + (f" · segments: {segments}" if segments else "")
    )
    fields: list[Field] = []
    for theme in report.signals:
        fields += fields_for(theme.headline(), _finding_body(theme, by_segment))
    for theme in report.themes:
        fields += fields_for(
            f"Theme: {theme.headline()}", _finding_body(theme, by_segment)
        )
    if report.comparisons:
        body = "\n".join(f"• {c.sentence()}" for c in report.comparisons)
        fields += fields_for("Segment comparisons", body)
    for number, opportunity in enumerate(report.opportunities, start=1):
        fields += fields_for(
            f"Opportunity {number}: {opportunity.title}", opportunity.detail
        )
    for note in report.notes:
        fields += fields_for("Note", note)
    return pack(
        f"Summary: {report.study_title}",
        description,
        fields,
        footer=f"Analysis: {report.provider}",
    )


def _plan(reply: PlanReply) -> list[DiscordMessage]:
    plan = reply.plan
    goals = "\n".join(f"{n}. {g}" for n, g in enumerate(plan.goals, start=1))
    questions = "\n".join(
        f"{n}. {q.text}" + (" **(mandatory)**" if q.mandatory else "")
        for n, q in enumerate(reply.questions, start=1)
    )
    description = (
        f"**Research question:** {reply.research_question}\n"
        f"**Type:** {plan.research_type.value}\n{plan.description}"
    )
    fields = fields_for("Goals", goals)
    fields += fields_for("Target participants", plan.target_participants)
    fields += fields_for("Interview guide (asking order)", questions)
    if reply.advice:
        fields += fields_for("Advice", reply.advice)
    return pack(
        reply.title,
        description,
        fields,
        footer=f"Study {reply.study_id} · join code {reply.join_code} · {reply.status}",
    )


def _text(text: str) -> list[DiscordMessage]:
    return [DiscordMessage(content=piece) for piece in split_text(text)]


def render(reply: Reply) -> list[DiscordMessage]:
    """Convert one reply into one or more Discord messages."""
    if isinstance(reply, InterviewReply):
        messages = _text(reply.message.text)
        messages[-1].buttons = [
            (
                b.label,
                f"{ANSWER_PREFIX}{b.value}"[:MAX_CUSTOM_ID],
                discord.ButtonStyle.secondary,
            )
            for b in reply.message.buttons
        ]
        return messages
    if isinstance(reply, InvitationReply):
        messages = _text(reply.text)
        messages[-1].buttons = [
            (
                "Start interview",
                f"{START_PREFIX}{reply.join_code}",
                discord.ButtonStyle.primary,
            )
        ]
        return messages
    if isinstance(reply, SummaryReply):
        return summary_messages(reply.report)
    if isinstance(reply, PlanReply):
        return _plan(reply)
    if isinstance(reply, StatusReply):
        fields = [Field(name, str(count)) for name, count in reply.counts.items()]
        if reply.details:
            fields += fields_for("Details", "\n".join(f"• {d}" for d in reply.details))
        return pack(f"Status: {reply.title}", "", fields)
    if isinstance(reply, AnswerReply):
        report = reply.report
        lines = [f"**Q:** {report.question}", report.text]
        for quote in report.quotes:
            segment = f", {quote.segment}" if quote.segment else ""
            lines.append(
                f"> {inert(quote.text)}\n— interview {quote.interview_id}{segment}"
            )
        return _text("\n".join(lines))
    if isinstance(reply, ChartReply):
        return _text(f"{reply.title}: {reply.alt_text}")
    if isinstance(reply, FileReply):
        return _text(reply.comment or reply.title)
    assert isinstance(reply, TextReply)
    return _text(reply.text)
