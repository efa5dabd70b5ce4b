"""Scripted responses for FakeOpenAI, and the usage and error bodies it builds.

A test queues ``Reply``, ``HttpError``, ``Malformed`` or ``Hang`` objects, or sets a
``Responder`` that returns one for each request body.
"""

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any, Literal

FinishReason = Literal[
    "stop", "length", "tool_calls", "content_filter", "function_call"
]
RetryAfterHeader = Literal["both", "seconds", "milliseconds"]
_TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class Reply:
    """A successful ``chat.completion`` response.

    ``delay`` is in seconds. ``prompt_tokens`` and ``completion_tokens`` replace the
    usage estimates of ``estimate_tokens`` when given.
    """

    content: str | None = None
    _: KW_ONLY
    refusal: str | None = None
    finish_reason: FinishReason = "stop"
    delay: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def json_reply(obj: object, **kwargs: Any) -> Reply:
    """Build a ``Reply`` whose content is ``obj`` serialised as JSON."""
    return Reply(json.dumps(obj), **kwargs)


@dataclass(frozen=True)
class HttpError:
    """An error response with an OpenAI-shaped body.

    The body is ``{"error": {"message", "type", "param", "code"}}``. ``message`` and
    ``error_type`` default by status: 429 gets the type ``requests`` (OpenAI's
    request-rate limit), 5xx gets ``server_error``, and any other status gets
    ``invalid_request_error``.

    ``retry_after`` is in seconds and may be fractional. ``retry_after_header``
    selects the headers that carry it:

    - ``"milliseconds"``: ``retry-after-ms`` only.
    - ``"seconds"``: ``Retry-After`` with the value as given. A fraction is
      nonstandard, but the openai client (3.60) accepts it.
    - ``"both"``: ``retry-after-ms``, plus ``Retry-After`` rounded up to whole
      seconds as RFC 9110 requires. The openai client reads ``retry-after-ms``
      first.
    """

    status: int
    _: KW_ONLY
    message: str | None = None
    retry_after: float | None = None
    retry_after_header: RetryAfterHeader = "both"
    error_type: str | None = None
    code: str | None = None
    param: str | None = None


@dataclass(frozen=True)
class Malformed:
    """A response body that is not valid JSON, served as ``application/json``."""

    body: str = "{not json"
    status: int = 200


@dataclass(frozen=True)
class Hang:
    """Wait ``seconds`` before sending the default reply, for client timeout tests.

    The server stops waiting as soon as the client closes the connection or the fake
    closes, and then sends nothing.
    """

    seconds: float


ScriptedResponse = Reply | HttpError | Malformed | Hang
Responder = Callable[[dict[str, Any]], ScriptedResponse]


def estimate_tokens(text: str) -> int:
    """Count words and punctuation marks in ``text``.

    This is an estimate for usage figures, not OpenAI's tokenizer: it counts each
    run of word characters and each other non-space character as one token.
    """
    return len(_TOKEN_PATTERN.findall(text))


def estimate_prompt_tokens(body: Mapping[str, Any]) -> int:
    """Estimate the prompt tokens of a chat request from its message contents.

    String contents and the ``text`` of content parts are counted. Roles, names,
    tool calls and images are not.
    """
    total = 0
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    for message in messages:
        if isinstance(message, dict):
            total += sum(estimate_tokens(text) for text in _content_texts(message))
    return total


def _content_texts(message: Mapping[str, Any]) -> Iterable[str]:
    content = message.get("content")
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part["text"]


def error_body(
    message: str,
    *,
    error_type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """Build an OpenAI error body, the ``ErrorResponse`` schema of the spec."""
    return {
        "error": {"message": message, "type": error_type, "param": param, "code": code}
    }
