"""The `openai` provider: any OpenAI-compatible chat completions endpoint.

Works with OpenAI, Azure OpenAI's compatible endpoint, Ollama, vLLM, LM
Studio and llama.cpp's server through the official `openai` package. Each
call asks for structured output in the best form the server accepts, and
remembers what the server rejected:

1. ``response_format={"type": "json_schema", ...}`` with a strict schema;
2. ``response_format={"type": "json_object"}``;
3. no response format, then tolerant parsing of the text.

A reply that does not parse or validate gets one repair request showing the
error. Refusals, replies cut off at the token limit, timeouts and server
errors become ProviderError subclasses, which the engine answers with the
offline rules instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import openai
from openai import AsyncOpenAI
from pydantic import BaseModel, Field, ValidationError

from interview_engine.errors import (
    ProviderError,
    ProviderOutputError,
    ProviderRefusalError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from interview_engine.models import ResearchPlan
from interview_engine.prompts import (
    answer_messages,
    codebook_messages,
    coding_messages,
    leaks_instructions,
    plan_messages,
    recap_messages,
    turn_messages,
)
from interview_engine.providers.base import (
    AnswerDraft,
    Coding,
    InterviewText,
    Opportunity,
    ProviderResult,
    QuoteCandidate,
    RecapRequest,
    ThemeDefinition,
    TurnProposal,
    TurnRequest,
    Usage,
)
from interview_engine.providers.offline_analysis import candidate_passages
from interview_engine.providers.structured import parse_json_object, strict_json_schema

log = logging.getLogger(__name__)

OutputMode = Literal["json_schema", "json_object", "text"]
_LINK = re.compile(r"https?://|www\.|\b[a-z0-9-]+\.(com|net|org|io|ru|cn|xyz)\b", re.I)
MODES: tuple[OutputMode, ...] = ("json_schema", "json_object", "text")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class OpenAISettings:
    """Connection settings; the API key is read by the caller from the
    environment and never logged."""

    model: str
    api_key: str
    base_url: str | None = None
    timeout_seconds: float = 30.0
    max_retries: int = 2
    output_mode: OutputMode | Literal["auto"] = "auto"
    temperature: float | None = 0.3
    max_output_tokens: int = 800
    analysis_concurrency: int = 4


class _Recap(BaseModel):
    recap: str


class _KeyPoint(BaseModel):
    quote: str
    note: str


class _InterviewCoding(BaseModel):
    key_points: list[_KeyPoint]
    tags: list[str]


class _Theme(BaseModel):
    key: str
    label: str
    description: str


class _TagMapping(BaseModel):
    tag: str
    theme_key: str


class _Opportunity(BaseModel):
    title: str
    detail: str
    theme_keys: list[str]


class _Codebook(BaseModel):
    themes: list[_Theme]
    mapping: list[_TagMapping]
    opportunities: list[_Opportunity] = Field(default_factory=list)


class _Answer(BaseModel):
    answer: str
    excerpt_ids: list[int]


def _usage(response: Any) -> Usage:
    usage = getattr(response, "usage", None)
    if usage is None:
        return Usage()
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
    )


class OpenAIProvider:
    """A provider backed by an OpenAI-compatible chat completions endpoint."""

    name = "openai"
    languages: frozenset[str] | None = None

    def __init__(self, settings: OpenAISettings, client: AsyncOpenAI | None = None):
        self.settings = settings
        self.client = client or AsyncOpenAI(
            api_key=settings.api_key,
            base_url=settings.base_url,
            timeout=settings.timeout_seconds,
            max_retries=settings.max_retries,
        )
        if settings.output_mode == "auto":
            self._modes: list[OutputMode] = list(MODES)
        else:
            self._modes = [settings.output_mode]

    async def close(self) -> None:
        await self.client.close()

    async def _create(
        self,
        messages: list[dict[str, str]],
        schema_model: type[BaseModel],
        mode: OutputMode,
        max_tokens: int,
    ) -> Any:
        extra: dict[str, Any] = {}
        if mode == "json_schema":
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema_model.__name__.strip("_").lower() or "result",
                    "schema": strict_json_schema(schema_model),
                    "strict": True,
                },
            }
        elif mode == "json_object":
            extra["response_format"] = {"type": "json_object"}
        if self.settings.temperature is not None:
            extra["temperature"] = self.settings.temperature
        try:
            return await self.client.chat.completions.create(
                model=self.settings.model,
                messages=messages,  # type: ignore[arg-type]
                max_completion_tokens=max_tokens,
                **extra,
            )
        except openai.APITimeoutError as error:
            raise ProviderTimeoutError(
                f"the model did not answer within {self.settings.timeout_seconds} s"
            ) from error
        except openai.RateLimitError as error:
            raise ProviderUnavailableError(
                f"still rate limited after {self.settings.max_retries} retries"
            ) from error
        except openai.AuthenticationError as error:
            raise ProviderError(
                "the endpoint rejected the API key: check the variable named "
                "by llm.api_key_env"
            ) from error
        except openai.APIConnectionError as error:
            raise ProviderUnavailableError(
                f"cannot reach the model endpoint {self.settings.base_url or 'OpenAI'}"
            ) from error
        except openai.InternalServerError as error:
            raise ProviderUnavailableError(
                f"the endpoint answered with a server error ({error.status_code})"
            ) from error
        except (openai.APIResponseValidationError, json.JSONDecodeError) as error:
            # openai 3.60 lets a body that is not JSON escape as a bare
            # JSONDecodeError instead of one of its own errors.
            raise ProviderOutputError(
                "the endpoint answered with invalid JSON"
            ) from error

    async def _create_with_fallback(
        self,
        messages: list[dict[str, str]],
        schema_model: type[BaseModel],
        max_tokens: int,
    ) -> Any:
        """Create a completion, stepping down the output modes on rejection."""
        while True:
            mode = self._modes[0]
            try:
                return await self._create(messages, schema_model, mode, max_tokens)
            except openai.BadRequestError as error:
                if len(self._modes) == 1:
                    raise ProviderError(
                        f"the endpoint rejected the request: {error.message}"
                    ) from error
                log.info(
                    "endpoint rejected response_format %s, trying the next form: %s",
                    mode,
                    error.message,
                )
                self._modes.pop(0)

    async def _structured(
        self, messages: list[dict[str, str]], schema_model: type[M]
    ) -> tuple[M, Usage]:
        """Call the model and return a validated instance of `schema_model`."""
        max_tokens = self.settings.max_output_tokens
        response = await self._create_with_fallback(messages, schema_model, max_tokens)
        mode = self._modes[0]
        usage = _usage(response)
        if not response.choices:
            raise ProviderOutputError("the reply has no choices")
        choice = response.choices[0]
        refusal = getattr(choice.message, "refusal", None)
        if refusal:
            raise ProviderRefusalError(f"the model refused: {refusal[:200]}")
        if choice.finish_reason == "length":
            log.info(
                "reply cut off at %d tokens, retrying once with twice as many",
                max_tokens,
            )
            retry = await self._create(messages, schema_model, mode, max_tokens * 2)
            usage = usage + _usage(retry)
            if not retry.choices or retry.choices[0].finish_reason == "length":
                raise ProviderOutputError(
                    f"the reply was cut off at the token limit ({max_tokens * 2})"
                )
            choice = retry.choices[0]
        content = choice.message.content or ""
        try:
            return schema_model.model_validate(parse_json_object(content)), usage
        except (ValueError, ValidationError) as error:
            problem = str(error)[:500]
        log.info("reply did not match the schema, asking once for a repair")
        repair = [
            *messages,
            {"role": "assistant", "content": content[:4000]},
            {
                "role": "user",
                "content": (
                    "That reply could not be used: "
                    f"{problem}\nReply again with only the corrected JSON object."
                ),
            },
        ]
        response = await self._create(repair, schema_model, mode, max_tokens)
        usage = usage + _usage(response)
        content = response.choices[0].message.content or "" if response.choices else ""
        try:
            return schema_model.model_validate(parse_json_object(content)), usage
        except (ValueError, ValidationError) as error:
            raise ProviderOutputError(
                f"the reply did not match the expected shape after a repair: {error}"
            ) from error

    async def draft_plan(self, research_question: str) -> ProviderResult[ResearchPlan]:
        plan, usage = await self._structured(
            plan_messages(research_question), ResearchPlan
        )
        if len(plan.goals) < 1 or not (3 <= len(plan.core_questions) <= 12):
            raise ProviderOutputError(
                f"the plan has {len(plan.goals)} goals and "
                f"{len(plan.core_questions)} questions"
            )
        return ProviderResult(value=plan, usage=usage)

    async def propose_turn(self, request: TurnRequest) -> ProviderResult[TurnProposal]:
        proposal, usage = await self._structured(turn_messages(request), TurnProposal)
        for text in (proposal.message, proposal.acknowledgement):
            if leaks_instructions(text):
                raise ProviderOutputError("the reply repeats the instructions")
            # An interviewer has no reason to send links; a model that does
            # may be repeating a participant's (or an attacker's) text.
            if _LINK.search(text):
                raise ProviderOutputError("the reply contains a link")
        return ProviderResult(value=proposal, usage=usage)

    async def recap(self, request: RecapRequest) -> ProviderResult[str]:
        recap, usage = await self._structured(recap_messages(request), _Recap)
        if leaks_instructions(recap.recap):
            raise ProviderOutputError("the recap repeats the instructions")
        return ProviderResult(value=recap.recap, usage=usage)

    async def analyse(
        self, research_question: str, interviews: list[InterviewText]
    ) -> ProviderResult[Coding]:
        limit = asyncio.Semaphore(self.settings.analysis_concurrency)

        async def code(interview: InterviewText) -> tuple[_InterviewCoding, Usage]:
            async with limit:
                return await self._structured(
                    coding_messages(research_question, interview), _InterviewCoding
                )

        results = await asyncio.gather(*(code(iv) for iv in interviews))
        usage = Usage()
        for _coding, used in results:
            usage = usage + used
        tags = sorted(
            {tag.strip().lower() for coding, _u in results for tag in coding.tags}
        )
        codebook, used = await self._structured(
            codebook_messages(research_question, tags[:400]), _Codebook
        )
        usage = usage + used
        theme_keys = {theme.key for theme in codebook.themes}
        tag_to_theme = {
            m.tag.strip().lower(): m.theme_key
            for m in codebook.mapping
            if m.theme_key in theme_keys
        }
        codes: dict[int, list[str]] = {}
        quotes: dict[str, list[QuoteCandidate]] = {key: [] for key in theme_keys}
        key_points: dict[int, list[str]] = {}
        for interview, (coding, _u) in zip(interviews, results, strict=True):
            keys = sorted(
                {
                    tag_to_theme[t.strip().lower()]
                    for t in coding.tags
                    if t.strip().lower() in tag_to_theme
                }
            )
            codes[interview.interview_id] = keys
            key_points[interview.interview_id] = [kp.quote for kp in coding.key_points]
            for key in keys:
                if coding.key_points and len(quotes[key]) < 3:
                    quotes[key].append(
                        QuoteCandidate(
                            interview_id=interview.interview_id,
                            text=coding.key_points[0].quote,
                        )
                    )
        coding_result = Coding(
            themes=[
                ThemeDefinition(key=t.key, label=t.label, description=t.description)
                for t in codebook.themes
            ],
            codes=codes,
            quotes=quotes,
            key_points=key_points,
            opportunities=[
                Opportunity(title=o.title, detail=o.detail, theme_keys=o.theme_keys)
                for o in codebook.opportunities
            ],
            primary={iv: keys[0] for iv, keys in codes.items() if keys},
        )
        return ProviderResult(value=coding_result, usage=usage)

    async def answer(
        self, question: str, interviews: list[InterviewText]
    ) -> ProviderResult[AnswerDraft]:
        excerpts = candidate_passages(question, interviews, limit=30)
        if not excerpts:
            return ProviderResult(
                value=AnswerDraft(
                    text="No participant said anything close to this question."
                )
            )
        result, usage = await self._structured(
            answer_messages(question, excerpts), _Answer
        )
        quotes = [
            QuoteCandidate(interview_id=excerpts[i][0], text=excerpts[i][1])
            for i in result.excerpt_ids
            if 0 <= i < len(excerpts)
        ]
        return ProviderResult(
            value=AnswerDraft(text=result.answer, quotes=quotes), usage=usage
        )
