"""Plans, guides, interview state and turns: the engine's data model.

Everything here is a pydantic model so that it can be stored as JSON by
`storage` and sent to a model as structured output without a second schema.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ResearchType(StrEnum):
    EXPLORATORY = "exploratory"
    DISCOVERY = "discovery"
    EVALUATIVE = "evaluative"
    GENERATIVE = "generative"


class AccessLevel(StrEnum):
    """The people who may see a study's results."""

    RESEARCHERS = "researchers"  # sent privately to the researcher who asks
    TEAM = "team"  # the study's team channel (any channel when none is set)
    WORKSPACE = "workspace"  # any channel in the workspace


class ResearchPlan(BaseModel):
    """The research plan drafted from a question and edited by the researcher."""

    research_type: ResearchType
    description: str
    goals: list[str]
    target_participants: str
    core_questions: list[str]


class Question(BaseModel):
    """One question of the interview guide."""

    id: str
    text: str
    mandatory: bool = False

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("a question needs some text")
        return value


class ParticipantExperience(BaseModel):
    """The texts participants see: titles, welcome, researcher, closing, privacy."""

    conversation_title: str = "Research interview"
    welcome_message: str = ""
    researcher_name: str = "the research team"
    researcher_title: str = ""
    researcher_bio: str = ""
    usage_statement: str = (
        "Your answers are used only for this study. The team sees them "
        "together with other participants' answers, and any quote is shared "
        "without your name."
    )
    call_to_action: str = ""
    contact: str = ""
    send_thank_you: bool = True
    thank_you_message: str = "Thank you again for your time. It really helps."
    require_known_participants: bool = True
    access_level: AccessLevel = AccessLevel.TEAM


class InterviewSettings(BaseModel):
    """Budgets and switches of the interview policy."""

    model_config = ConfigDict(extra="forbid")

    max_minutes: float = Field(default=15.0, gt=0, le=240, allow_inf_nan=False)
    max_turns: int = Field(default=30, ge=4, le=200)
    max_probes_per_question: int = Field(default=2, ge=0, le=10)
    min_questions_before_close: int = Field(default=3, ge=0, le=50)
    confirm_understanding: bool = True
    # A participant who walks away for an hour has not spent an hour of the
    # interview: each silence counts for at most this many seconds.
    idle_gap_cap_seconds: float = Field(
        default=300.0, gt=0, le=3600, allow_inf_nan=False
    )
    max_answer_chars_for_model: int = Field(default=4000, ge=200, le=100_000)
    window_messages: int = Field(default=6, ge=2, le=100)


class Guide(BaseModel):
    """Everything the engine needs to run one study's interviews."""

    study_title: str
    research_question: str
    goals: list[str] = Field(default_factory=list)
    questions: list[Question]
    experience: ParticipantExperience = Field(default_factory=ParticipantExperience)
    settings: InterviewSettings = Field(default_factory=InterviewSettings)

    def question(self, question_id: str | None) -> Question | None:
        for question in self.questions:
            if question.id == question_id:
                return question
        return None

    @property
    def mandatory(self) -> list[Question]:
        return [q for q in self.questions if q.mandatory]


class Phase(StrEnum):
    QUESTIONS = "questions"
    CONFIRMING = "confirming"
    CONTACT = "contact"
    DONE = "done"


class Status(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    OPTED_OUT = "opted_out"


class QuestionProgress(BaseModel):
    asked: bool = False
    answered: bool = False
    skipped: bool = False
    covered: bool = False
    probes: int = 0
    probe_kinds: list[str] = Field(default_factory=list)
    redirects: int = 0


class InterviewState(BaseModel):
    """The engine's view of one interview, stored between messages."""

    phase: Phase = Phase.QUESTIONS
    status: Status = Status.ACTIVE
    current_question_id: str | None = None
    progress: dict[str, QuestionProgress] = Field(default_factory=dict)
    interviewer_turns: int = 0
    active_seconds: float = 0.0
    last_activity_at: datetime | None = None
    language: str | None = None
    language_notice_sent: bool = False
    running_summary: list[str] = Field(default_factory=list)
    recap: str | None = None
    recap_correction: str | None = None
    awaiting_correction: bool = False
    contact_ok: bool | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fallback_turns: int = 0
    overrides: list[str] = Field(default_factory=list)

    def progress_of(self, question_id: str) -> QuestionProgress:
        return self.progress.setdefault(question_id, QuestionProgress())


class TurnKind(StrEnum):
    WELCOME = "welcome"
    QUESTION = "question"
    PROBE = "probe"
    REDIRECT = "redirect"
    REASK = "reask"
    NOTICE = "notice"
    CONFIRM = "confirm"
    CLOSING = "closing"
    FAREWELL = "farewell"
    PAUSED = "paused"
    OPTED_OUT = "opted_out"


class Button(BaseModel):
    label: str
    value: str


class OutgoingMessage(BaseModel):
    """One interviewer message, platform-neutral; adapters render it."""

    text: str
    kind: TurnKind
    question_id: str | None = None
    buttons: list[Button] = Field(default_factory=list)


class Turn(BaseModel):
    """The engine's reply to one participant message, with the new state."""

    messages: list[OutgoingMessage]
    state: InterviewState
    # True when the participant message carried no usable text: the service
    # does not treat it as an answer.
    ignored_input: bool = False

    @property
    def finished(self) -> bool:
        return self.state.status in (Status.COMPLETED, Status.OPTED_OUT)


class ConversationMessage(BaseModel):
    """One earlier message of the conversation, as the engine sees it."""

    role: str  # "interviewer" or "participant"
    text: str
