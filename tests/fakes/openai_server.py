"""Fake OpenAI-compatible chat completions server for tests.

``FakeOpenAI`` serves ``POST /v1/chat/completions`` and ``GET /v1/models`` over real
HTTP on 127.0.0.1, so tests drive the official ``openai`` client unchanged::

    async with FakeOpenAI() as fake:
        fake.enqueue(HttpError(429, retry_after=0.2), json_reply({"a": 1}))
        async with AsyncOpenAI(base_url=fake.base_url, api_key="test-key") as client:
            ...

Each chat request takes the next scripted response from a FIFO queue. When the queue
is empty, ``responder`` builds one from the request body, and without a responder the
server sends a ``Reply`` with content ``"{}"``. The scripted response types live in
``tests.fakes.openai_scripted`` and are re-exported here. Every request is recorded in
``requests``. Chat request bodies are validated against ``CreateChatCompletionRequest``
from the published OpenAI OpenAPI spec (see ``tests.fakes.openai_spec``). An invalid
body gets a 400 and a message in ``validation_errors``. When the spec file is missing,
validation is skipped and ``validation_skipped_reason`` contains the reason.

Requests are checked in this order: API key (when one is configured), JSON syntax,
spec validation, ``stream``, ``response_format`` support. Only a request that passes
all of them takes a scripted response from the queue.
"""

import asyncio
import http
import json
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from tests.fakes import openai_spec
from tests.fakes.openai_scripted import (
    FinishReason,
    Hang,
    HttpError,
    Malformed,
    Reply,
    Responder,
    RetryAfterHeader,
    ScriptedResponse,
    error_body,
    estimate_prompt_tokens,
    estimate_tokens,
    json_reply,
)

__all__ = [
    "DEFAULT_MODEL",
    "FakeOpenAI",
    "FinishReason",
    "Hang",
    "HttpError",
    "Malformed",
    "RecordedRequest",
    "Reply",
    "Responder",
    "RetryAfterHeader",
    "ScriptedResponse",
    "error_body",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "json_reply",
]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "fake-model"

# How often a waiting handler checks whether the client closed the connection.
_DISCONNECT_POLL_SECONDS = 0.02
# aiohttp rejects bodies over 1 MiB by default with a plain-text 413. The fake is
# not meant to enforce a size limit, so the cap is raised far above any test body.
# NOTE: OpenAI's own request size limit is not in the spec and is not modelled.
_MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclass
class RecordedRequest:
    """An HTTP request that the fake received.

    ``body`` is the parsed JSON object, or None for a GET or a body that is not a
    JSON object. ``received_at`` is ``time.monotonic()`` when the body was read.
    ``client_disconnected`` becomes True when the client closed the connection
    before the fake sent its response (during a ``Hang`` or a ``Reply`` delay).
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: dict[str, Any] | None
    raw_body: bytes
    received_at: float
    client_disconnected: bool = False


def _error_response(
    status: int,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = error_body(message, error_type=error_type, param=param, code=code)
    return web.json_response(body, status=status, headers=headers)


def _default_error_type(status: int) -> str:
    if status == http.HTTPStatus.TOO_MANY_REQUESTS:
        return "requests"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def _retry_after_headers(error: HttpError) -> dict[str, str]:
    if error.retry_after is None:
        return {}
    seconds = error.retry_after
    headers: dict[str, str] = {}
    if error.retry_after_header in ("both", "milliseconds"):
        headers["retry-after-ms"] = str(round(seconds * 1000))
    if error.retry_after_header == "both":
        headers["Retry-After"] = str(math.ceil(seconds))
    elif error.retry_after_header == "seconds":
        headers["Retry-After"] = str(seconds)
    return headers


def _parse_json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


class FakeOpenAI:
    """Scripted OpenAI-compatible HTTP server on 127.0.0.1 with a random free port.

    Use it as an async context manager, or call ``start()`` and ``close()``.

    Args:
        models: model ids listed by ``GET /v1/models``.
        responder: builds a response from the request body when the queue is empty.
        supports_json_schema: when False, a ``response_format`` of type
            ``json_schema`` gets a 400 ``invalid_request_error``.
        supports_json_object: the same for type ``json_object``.
        api_key: when set, requests must send ``Authorization: Bearer <api_key>``
            and others get a 401 with code ``invalid_api_key``.
    """

    def __init__(
        self,
        *,
        models: Sequence[str] = (DEFAULT_MODEL,),
        responder: Responder | None = None,
        supports_json_schema: bool = True,
        supports_json_object: bool = True,
        api_key: str | None = None,
    ) -> None:
        if not models:
            raise ValueError("models must contain at least one model id")
        self.models = list(models)
        self.responder = responder
        self.supports_json_schema = supports_json_schema
        self.supports_json_object = supports_json_object
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.validation_errors: list[str] = []
        self.validation_skipped_reason: str | None = None
        self._queue: deque[ScriptedResponse] = deque()
        self._spec: openai_spec.OpenAISpec | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing = asyncio.Event()
        self._request_recorded = asyncio.Condition()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """The URL to pass as ``base_url`` to the openai client, ending in ``/v1``."""
        if self._port is None:
            raise RuntimeError("FakeOpenAI is not started: call start() first")
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def pending_responses(self) -> int:
        """The number of scripted responses still in the queue."""
        return len(self._queue)

    def enqueue(self, *responses: ScriptedResponse) -> None:
        """Append scripted responses to the queue, first in first out."""
        self._queue.extend(responses)

    async def wait_for_requests(self, count: int) -> None:
        """Wait until at least ``count`` requests have been recorded.

        The wait has no limit of its own: bound it with ``asyncio.timeout()``.
        """
        async with self._request_recorded:
            await self._request_recorded.wait_for(lambda: len(self.requests) >= count)

    async def start(self) -> None:
        """Load the spec (once per process) and listen on 127.0.0.1, port 0."""
        if self._runner is not None:
            raise RuntimeError("FakeOpenAI is already started")
        self.validation_skipped_reason = openai_spec.spec_unavailable_reason()
        if self.validation_skipped_reason is None:
            self._spec = await asyncio.to_thread(openai_spec.load_openai_spec)
        else:
            logger.info(
                "Request validation skipped: %s", self.validation_skipped_reason
            )

        app = web.Application(client_max_size=_MAX_REQUEST_BYTES)
        app.on_response_prepare.append(_add_request_id)
        app.router.add_post("/v1/chat/completions", self._handle_chat_completions)
        app.router.add_get("/v1/models", self._handle_models)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown_path)
        # A short shutdown timeout is enough because waiting handlers return as
        # soon as close() sets _closing.
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]
        logger.info("FakeOpenAI listening on %s", self.base_url)

    async def close(self) -> None:
        """Stop the server and drop the connections of requests still waiting."""
        if self._runner is None:
            return
        self._closing.set()
        await self._runner.cleanup()
        self._runner = None
        logger.info("FakeOpenAI on port %s closed", self._port)

    async def _record(self, request: web.Request) -> RecordedRequest:
        raw = await request.read()
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=_parse_json_object(raw),
            raw_body=raw,
            received_at=time.monotonic(),
        )
        async with self._request_recorded:
            self.requests.append(recorded)
            self._request_recorded.notify_all()
        logger.debug("FakeOpenAI received %s %s", request.method, request.path)
        return recorded

    def _check_api_key(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        if request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        logger.warning("FakeOpenAI rejected %s: wrong API key", request.path)
        return _error_response(
            http.HTTPStatus.UNAUTHORIZED,
            "Incorrect API key provided.",
            code="invalid_api_key",
        )

    async def _handle_models(self, request: web.Request) -> web.Response:
        await self._record(request)
        rejected = self._check_api_key(request)
        if rejected is not None:
            return rejected
        created = int(time.time())
        data = [
            {"id": model, "object": "model", "created": created, "owned_by": "fake"}
            for model in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _handle_unknown_path(self, request: web.Request) -> web.Response:
        await self._record(request)
        logger.warning(
            "FakeOpenAI has no route for %s %s", request.method, request.path
        )
        return _error_response(
            http.HTTPStatus.NOT_FOUND, f"Invalid URL ({request.method} {request.path})"
        )

    async def _handle_chat_completions(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        rejected = self._check_api_key(request) or self._check_body(recorded)
        if rejected is not None:
            return rejected
        assert recorded.body is not None  # _check_body rejects a missing body
        scripted = self._next_response(recorded.body)
        return await self._serve(request, recorded, scripted)

    def _check_body(self, recorded: RecordedRequest) -> web.Response | None:
        """Return the 400 response for a body that the fake does not accept."""
        body = recorded.body
        if body is None:
            logger.warning("FakeOpenAI rejected a chat request: body is not JSON")
            return _error_response(
                http.HTTPStatus.BAD_REQUEST,
                "The request body is not a valid JSON object. Send a JSON object "
                "with Content-Type: application/json.",
            )
        return (
            self._validate_against_spec(body)
            or _reject_streaming(body)
            or self._reject_unsupported_format(body)
        )

    def _validate_against_spec(self, body: dict[str, Any]) -> web.Response | None:
        if self._spec is None:
            return None
        validator = self._spec.validator("CreateChatCompletionRequest")
        errors = sorted(
            validator.iter_errors(body), key=lambda e: [str(p) for p in e.path]
        )
        if not errors:
            return None
        messages = [openai_spec.describe_validation_error(e) for e in errors]
        summary = "Invalid request body: " + "; ".join(messages)
        self.validation_errors.append(summary)
        logger.warning("FakeOpenAI rejected a chat request. %s", summary)
        return _error_response(
            http.HTTPStatus.BAD_REQUEST,
            summary,
            param=openai_spec.error_location(errors[0]),
        )

    def _reject_unsupported_format(self, body: dict[str, Any]) -> web.Response | None:
        response_format = body.get("response_format")
        if not isinstance(response_format, dict):
            return None
        format_type = response_format.get("type")
        supported = {
            "json_schema": self.supports_json_schema,
            "json_object": self.supports_json_object,
        }
        if supported.get(str(format_type), True):
            return None
        logger.info("FakeOpenAI rejected response_format type %s", format_type)
        # OpenAI and Azure OpenAI reject a format that the model lacks with this
        # status, type, param and wording, and with code null.
        return _error_response(
            http.HTTPStatus.BAD_REQUEST,
            f"Invalid parameter: 'response_format' of type '{format_type}' is not "
            "supported with this model.",
            param="response_format",
        )

    def _next_response(self, body: dict[str, Any]) -> ScriptedResponse:
        if self._queue:
            return self._queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        return Reply("{}")

    async def _serve(
        self,
        request: web.Request,
        recorded: RecordedRequest,
        scripted: ScriptedResponse,
    ) -> web.Response:
        match scripted:
            case Reply(delay=delay) if delay > 0:
                if not await self._wait_while_connected(request, recorded, delay):
                    return web.Response()
                return self._completion_response(recorded, scripted)
            case Reply():
                return self._completion_response(recorded, scripted)
            case HttpError():
                return _scripted_error_response(scripted)
            case Malformed(body=text, status=status):
                return web.Response(
                    status=status, text=text, content_type="application/json"
                )
            case Hang(seconds=seconds):
                if not await self._wait_while_connected(request, recorded, seconds):
                    return web.Response()
                return self._completion_response(recorded, Reply("{}"))
        raise TypeError(f"unsupported scripted response: {scripted!r}")

    async def _wait_while_connected(
        self, request: web.Request, recorded: RecordedRequest, seconds: float
    ) -> bool:
        """Sleep ``seconds`` and return False early if the client or the fake leaves.

        aiohttp does not cancel a handler when its client disconnects, so the
        handler checks the transport itself. The transport is closed whenever this
        returns False, so the handler's empty response is never written.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            transport = request.transport
            if self._closing.is_set():
                # Drop the connection, as a server that goes away would. Returning
                # normally would send the client an empty 200.
                if transport is not None:
                    transport.close()
                return False
            if transport is None or transport.is_closing():
                recorded.client_disconnected = True
                logger.debug(
                    "Client closed the connection to %s before the response was sent",
                    request.path,
                )
                return False
            remaining = deadline - loop.time()
            if remaining <= 0:
                return True
            await asyncio.sleep(min(remaining, _DISCONNECT_POLL_SECONDS))

    def _completion_response(
        self, recorded: RecordedRequest, reply: Reply
    ) -> web.Response:
        body = recorded.body or {}
        return web.json_response(self.build_completion(body, reply))

    def build_completion(self, body: Mapping[str, Any], reply: Reply) -> dict[str, Any]:
        """Build the ``chat.completion`` object that sends ``reply`` for ``body``.

        The request's ``n`` copies of the message are returned, one per choice.
        """
        prompt_tokens = reply.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = estimate_prompt_tokens(body)
        completion_tokens = reply.completion_tokens
        if completion_tokens is None:
            completion_tokens = estimate_tokens(reply.content or "")
            completion_tokens += estimate_tokens(reply.refusal or "")
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.content,
            "refusal": reply.refusal,
            "annotations": [],
        }
        requested_count = body.get("n")
        choice_count = requested_count if isinstance(requested_count, int) else 1
        choice_count = max(choice_count, 1)
        choices = [
            {
                "index": index,
                "message": message,
                "finish_reason": reply.finish_reason,
                "logprobs": None,
            }
            for index in range(choice_count)
        ]
        return {
            "id": f"chatcmpl-fake{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.models[0],
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens * choice_count,
                "total_tokens": prompt_tokens + completion_tokens * choice_count,
            },
        }


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    # OpenAI sends x-request-id on every response, and the openai client exposes it
    # as the request_id of responses and errors.
    response.headers["x-request-id"] = f"req_fake{uuid.uuid4().hex}"


def _reject_streaming(body: dict[str, Any]) -> web.Response | None:
    if body.get("stream") is not True:
        return None
    logger.warning("FakeOpenAI rejected a chat request with stream=true")
    return _error_response(
        http.HTTPStatus.BAD_REQUEST,
        "Streaming is not supported by this fake server: send stream=false or "
        "leave stream out.",
        param="stream",
    )


def _scripted_error_response(error: HttpError) -> web.Response:
    message = error.message
    if message is None:
        message = f"Scripted error from the fake server: HTTP {error.status}"
    return _error_response(
        error.status,
        message,
        error_type=error.error_type or _default_error_type(error.status),
        param=error.param,
        code=error.code,
        headers=_retry_after_headers(error),
    )
