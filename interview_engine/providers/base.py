"""The one interface every model provider implements, and its data types."""

from __future__ import annotations

import re
from typing import Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, Field, field_validator

from interview_engine.models import (
    ConversationMessage,
    Guide,
    InterviewState,
    ResearchPlan,
)


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


ProbeKind = Literal["example", "clarify", "feelings", "mentioned", "other"]


class TurnProposal(BaseModel):
    """What a model proposes for the next interviewer turn.

    The policy decides what happens: a proposal to probe past the cap, to
    wrap up before every mandatory question was asked, or to ask a question
    that does not exist is overridden.
    """

    covered_question_ids: list[str] = Field(default_factory=list)
    action: Literal["probe", "next_question", "wrap_up"]
    probe_kind: ProbeKind | None = None
    next_question_id: str | None = None
    acknowledgement: str = ""
    message: str = ""
    language: str | None = None

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        """Keep only something shaped like an ISO 639 code; drop anything else."""
        if value is None or not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z]{2})?", value):
            return None
        return value


class TurnRequest(BaseModel):
    """The bounded context a provider sees for one turn."""

    guide: Guide
    state: InterviewState
    latest_answer: str
    window: list[ConversationMessage]
    remaining_turns: int
    remaining_minutes: float


class RecapRequest(BaseModel):
    guide: Guide
    state: InterviewState
    answers: list[tuple[str, str]]  # (question text, participant answer)


class InterviewText(BaseModel):
    """One interview as analysis sees it: who, in which segment, what they said."""

    interview_id: int
    segment: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    answers: list[tuple[str, str]]  # (question text, participant answer)

    @property
    def participant_text(self) -> str:
        return "\n".join(answer for _question, answer in self.answers)


class ThemeDefinition(BaseModel):
    key: str
    label: str
    description: str = ""


class QuoteCandidate(BaseModel):
    interview_id: int
    text: str


class Opportunity(BaseModel):
    title: str
    detail: str = ""
    theme_keys: list[str] = Field(default_factory=list)


class Coding(BaseModel):
    """A provider's analysis: themes, which interviews they apply to, quotes.

    Counts are not part of it: the engine computes them from `codes`.
    """

    themes: list[ThemeDefinition]
    codes: dict[int, list[str]]  # interview id -> theme keys
    quotes: dict[str, list[QuoteCandidate]] = Field(default_factory=dict)
    key_points: dict[int, list[str]] = Field(default_factory=dict)
    opportunities: list[Opportunity] = Field(default_factory=list)
    primary: dict[int, str] = Field(default_factory=dict)  # interview id -> theme


class AnswerDraft(BaseModel):
    text: str
    quotes: list[QuoteCandidate] = Field(default_factory=list)


T = TypeVar("T")


class ProviderResult(BaseModel, Generic[T]):
    value: T
    usage: Usage = Field(default_factory=Usage)


class Provider(Protocol):
    """A source of plans, interviewer turns and analysis.

    Attributes:
        name: Short name for logs and reports, such as "offline" or "openai".
        languages: ISO 639-1 codes the provider can interview in, or None
            when it can follow any language the participant writes in.
    """

    name: str
    languages: frozenset[str] | None

    async def draft_plan(self, research_question: str) -> ProviderResult[ResearchPlan]:
        """Draft a research plan for a research question."""
        ...

    async def propose_turn(self, request: TurnRequest) -> ProviderResult[TurnProposal]:
        """Propose the next interviewer turn after a participant's answer."""
        ...

    async def recap(self, request: RecapRequest) -> ProviderResult[str]:
        """Say in two or three sentences what the interviewer understood."""
        ...

    async def analyse(
        self, research_question: str, interviews: list[InterviewText]
    ) -> ProviderResult[Coding]:
        """Find themes across interviews and code each interview with them."""
        ...

    async def answer(
        self, question: str, interviews: list[InterviewText]
    ) -> ProviderResult[AnswerDraft]:
        """Answer a free-form question from the interview data, with quotes."""
        ...
