"""The summary report: themes with counts, quotes, comparisons, opportunities.

Adapters render this one model as Block Kit, Discord embeds, Markdown or
terminal output; none of them computes anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


def percent(count: int, total: int) -> int:
    return round(100 * count / total) if total else 0


class Quote(BaseModel):
    """A verbatim passage from one participant's answers."""

    text: str
    interview_id: int
    segment: str = ""


class SegmentCount(BaseModel):
    segment: str
    count: int
    total: int

    @property
    def percent(self) -> int:
        return percent(self.count, self.total)

    def phrase(self) -> str:
        return f"{self.count} of {self.total} ({self.percent}%)"


class ThemeResult(BaseModel):
    """A theme or signal with the number of interviews coded with it."""

    key: str
    label: str
    description: str = ""
    kind: Literal["theme", "signal"]
    count: int
    total: int
    by_segment: list[SegmentCount] = Field(default_factory=list)
    quotes: list[Quote] = Field(default_factory=list)

    @property
    def percent(self) -> int:
        return percent(self.count, self.total)

    def headline(self, population: str = "participants") -> str:
        """Say the count in words: "18 of 23 participants (78%) had to ..."."""
        counted = f"{self.count} of {self.total} {population} ({self.percent}%)"
        if self.kind == "signal":
            return f"{counted} {self.label}"
        return f"{self.label}: {counted}"


class Comparison(BaseModel):
    """How often segments differ on one theme or signal."""

    key: str
    label: str
    segments: list[SegmentCount]
    gap_points: int

    def sentence(self) -> str:
        parts = ", ".join(f"{s.segment} {s.phrase()}" for s in self.segments)
        return f"{self.label}: {parts}"


class OpportunityResult(BaseModel):
    title: str
    detail: str = ""
    theme_keys: list[str] = Field(default_factory=list)


class InterviewDigest(BaseModel):
    interview_id: int
    segment: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    key_points: list[str] = Field(default_factory=list)


class SummaryReport(BaseModel):
    study_id: int
    study_title: str
    research_question: str
    generated_at: datetime
    provider: str
    segment_filter: str | None = None
    total: int
    segments: dict[str, int] = Field(default_factory=dict)
    themes: list[ThemeResult] = Field(default_factory=list)
    signals: list[ThemeResult] = Field(default_factory=list)
    comparisons: list[Comparison] = Field(default_factory=list)
    opportunities: list[OpportunityResult] = Field(default_factory=list)
    interviews: list[InterviewDigest] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class AnswerReport(BaseModel):
    """A free-form question answered from the interviews, with its sources."""

    question: str
    text: str
    quotes: list[Quote] = Field(default_factory=list)
    provider: str
    total: int
