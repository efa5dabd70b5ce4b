"""Tests of FakeOpenAI through the real openai.AsyncOpenAI client over loopback HTTP.

Tests that need the OpenAI OpenAPI spec skip with the reason from
``spec_unavailable_reason()`` when the file is missing.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI
from pydantic import BaseModel

from tests.fakes import openai_spec
from tests.fakes.openai_server import (
    FakeOpenAI,
    Hang,
    HttpError,
    Malformed,
    Reply,
    RetryAfterHeader,
    ScriptedResponse,
    estimate_tokens,
    json_reply,
)

MODEL = "fake-model"
USER_MESSAGES: list[Any] = [
    {"role": "system", "content": "You interview support agents."},
    {"role": "user", "content": "Hello, world!"},
]
# Without a Retry-After header, the openai client (3.60) waits at most 0.5 s before
# its first retry: INITIAL_RETRY_DELAY, reduced by up to 25 % jitter. A longer
# Retry-After therefore proves that the client read the header.
RETRY_AFTER_SECONDS = 0.6


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(models=[MODEL, "other-model"]) as server:
        yield server


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(
        base_url=fake.base_url, api_key="test-key", max_retries=2
    ) as openai_client:
        yield openai_client


def spec_or_skip() -> openai_spec.OpenAISpec:
    reason = openai_spec.spec_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    return openai_spec.load_openai_spec()


async def create(client: AsyncOpenAI, **kwargs: Any) -> Any:
    return await client.chat.completions.create(
        model=MODEL, messages=USER_MESSAGES, **kwargs
    )


async def post_raw(
    fake: FakeOpenAI, data: bytes | str, path: str = "/chat/completions"
) -> tuple[int, dict[str, str], Any]:
    """POST ``data`` with plain aiohttp, bypassing the openai client's checks."""
    headers = {"Content-Type": "application/json", "Authorization": "Bearer k"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.base_url + path, data=data, headers=headers) as response,
    ):
        payload = await response.json(content_type=None)
        return response.status, dict(response.headers), payload


async def test_json_reply_arrives_intact(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    sent = {"themes": ["re-explaining", "handoffs"], "count": 18, "note": "ü ✓"}
    fake.enqueue(json_reply(sent))

    completion = await create(client, temperature=0.2)

    assert json.loads(completion.choices[0].message.content) == sent
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == MODEL
    assert len(fake.requests) == 1
    recorded = fake.requests[0]
    assert recorded.path == "/v1/chat/completions"
    assert recorded.body is not None
    assert recorded.body["messages"] == USER_MESSAGES
    assert recorded.body["temperature"] == 0.2
    assert recorded.headers["authorization"] == "Bearer test-key"
    assert fake.validation_errors == []


async def test_usage_estimated_from_messages(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    fake.enqueue(Reply("Fine, thanks."))

    completion = await create(client)

    expected_prompt = sum(estimate_tokens(m["content"]) for m in USER_MESSAGES)
    assert estimate_tokens("Hello, world!") == 4
    assert completion.usage.prompt_tokens == expected_prompt
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == expected_prompt + 4


async def test_usage_override(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(Reply("x", prompt_tokens=7000, completion_tokens=3))

    completion = await create(client)

    assert completion.usage.prompt_tokens == 7000
    assert completion.usage.completion_tokens == 3
    assert completion.usage.total_tokens == 7003


@pytest.mark.parametrize(
    ("reply", "request_options"),
    [
        (Reply("plain text"), {}),
        (Reply(None, refusal="I can't help with that."), {}),
        (Reply("cut o", finish_reason="length"), {"max_completion_tokens": 2}),
        (json_reply({"a": 1}), {"n": 2}),
    ],
    ids=["text", "refusal", "length", "two-choices"],
)
async def test_response_matches_spec(
    fake: FakeOpenAI,
    client: AsyncOpenAI,
    reply: Reply,
    request_options: dict[str, Any],
) -> None:
    spec = spec_or_skip()
    fake.enqueue(reply)

    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=USER_MESSAGES, **request_options
    )

    payload = raw.http_response.json()
    assert spec.errors("CreateChatCompletionResponse", payload) == []
    assert payload["object"] == "chat.completion"
    assert len(payload["choices"]) == request_options.get("n", 1)
    assert raw.headers["x-request-id"].startswith("req_")


async def test_models_list_matches_spec(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    spec = spec_or_skip()

    page = await client.models.list()
    raw = await client.models.with_raw_response.list()

    assert [model.id for model in page.data] == [MODEL, "other-model"]
    assert spec.errors("ListModelsResponse", raw.http_response.json()) == []
    assert fake.requests[0].method == "GET"
    assert fake.requests[0].body is None


@pytest.mark.parametrize("header_mode", ["both", "seconds", "milliseconds"])
async def test_rate_limit_retry_waits_retry_after(
    fake: FakeOpenAI, client: AsyncOpenAI, header_mode: RetryAfterHeader
) -> None:
    fake.enqueue(
        HttpError(429, retry_after=RETRY_AFTER_SECONDS, retry_after_header=header_mode),
        json_reply({"ok": True}),
    )

    completion = await create(client)

    assert json.loads(completion.choices[0].message.content) == {"ok": True}
    assert len(fake.requests) == 2
    gap = fake.requests[1].received_at - fake.requests[0].received_at
    assert gap >= RETRY_AFTER_SECONDS
    assert fake.requests[1].headers["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize(
    ("header_mode", "expected"),
    [
        ("both", {"retry-after-ms": "250", "retry-after": "1"}),
        ("seconds", {"retry-after": "0.25"}),
        ("milliseconds", {"retry-after-ms": "250"}),
    ],
)
async def test_retry_after_headers(
    fake: FakeOpenAI, header_mode: RetryAfterHeader, expected: dict[str, str]
) -> None:
    fake.enqueue(HttpError(429, retry_after=0.25, retry_after_header=header_mode))

    status, headers, payload = await post_raw(
        fake, json.dumps({"model": MODEL, "messages": USER_MESSAGES})
    )

    assert status == 429
    received = {
        name.lower(): value
        for name, value in headers.items()
        if name.lower() in ("retry-after", "retry-after-ms")
    }
    assert received == expected
    assert payload["error"]["type"] == "requests"


async def test_rate_limit_exhausts_retries(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    fake.enqueue(
        *[HttpError(429, retry_after=0.05, code="rate_limit_exceeded")] * 3,
        json_reply({"never": "sent"}),
    )

    with pytest.raises(openai.RateLimitError) as raised:
        await create(client)

    assert raised.value.status_code == 429
    assert raised.value.code == "rate_limit_exceeded"
    assert len(fake.requests) == 3
    assert fake.pending_responses == 1


async def test_server_error_then_success(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(HttpError(500), json_reply({"after": "retry"}))

    completion = await create(client)

    assert json.loads(completion.choices[0].message.content) == {"after": "retry"}
    assert len(fake.requests) == 2
    assert fake.requests[1].headers["x-stainless-retry-count"] == "1"


async def test_server_error_body_shape(fake: FakeOpenAI) -> None:
    spec = spec_or_skip()
    fake.enqueue(HttpError(503, message="Overloaded", code="overloaded"))

    status, _, payload = await post_raw(
        fake, json.dumps({"model": MODEL, "messages": USER_MESSAGES})
    )

    assert status == 503
    assert spec.errors("ErrorResponse", payload) == []
    assert payload["error"] == {
        "message": "Overloaded",
        "type": "server_error",
        "param": None,
        "code": "overloaded",
    }


async def wait_for_disconnect(fake: FakeOpenAI, index: int) -> bool:
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if fake.requests[index].client_disconnected:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_hang_raises_timeout(fake: FakeOpenAI) -> None:
    fake.enqueue(Hang(10.0))
    started = time.monotonic()

    async with AsyncOpenAI(
        base_url=fake.base_url, api_key="k", max_retries=0, timeout=0.3
    ) as client:
        with pytest.raises(openai.APITimeoutError):
            await create(client)

    assert time.monotonic() - started < 3.0
    assert len(fake.requests) == 1
    assert await wait_for_disconnect(fake, 0)


async def test_hang_then_retry_succeeds(fake: FakeOpenAI) -> None:
    fake.enqueue(Hang(10.0), json_reply({"second": "try"}))

    async with AsyncOpenAI(
        base_url=fake.base_url, api_key="k", max_retries=1, timeout=0.3
    ) as client:
        completion = await create(client)

    assert json.loads(completion.choices[0].message.content) == {"second": "try"}
    assert len(fake.requests) == 2
    assert fake.requests[0].client_disconnected


async def test_close_during_hang() -> None:
    server = FakeOpenAI()
    await server.start()
    server.enqueue(Hang(30.0))
    async with AsyncOpenAI(
        base_url=server.base_url, api_key="k", max_retries=0
    ) as hanging_client:
        pending = asyncio.create_task(create(hanging_client))
        async with asyncio.timeout(5.0):
            await server.wait_for_requests(1)
        started = time.monotonic()
        await server.close()
        closed_after = time.monotonic() - started

        with pytest.raises(openai.APIConnectionError):
            await pending

    assert closed_after < 1.0


async def test_reply_delay(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(Reply("slow", delay=0.2))
    started = time.monotonic()

    completion = await create(client)

    assert completion.choices[0].message.content == "slow"
    assert time.monotonic() - started >= 0.2


async def test_malformed_raises_json_error(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    # The openai client (3.60) parses an application/json body with json.loads and
    # lets the JSONDecodeError through: it is not wrapped in an openai error.
    fake.enqueue(Malformed())

    with pytest.raises(json.JSONDecodeError):
        await create(client)

    assert len(fake.requests) == 1


async def test_malformed_error_status(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(Malformed("<html>Bad gateway</html>", status=502))

    with pytest.raises(openai.InternalServerError) as raised:
        await create(client.with_options(max_retries=0))

    assert raised.value.status_code == 502
    assert raised.value.body == "<html>Bad gateway</html>"
    assert len(fake.requests) == 1


async def test_length_finish_reason_visible(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    fake.enqueue(Reply('{"themes": ["re-expl', finish_reason="length"))

    completion = await create(client, max_completion_tokens=5)

    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == '{"themes": ["re-expl'


class Theme(BaseModel):
    name: str
    count: int


async def test_length_raises_in_parse(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(Reply('{"name": "ha', finish_reason="length"))

    with pytest.raises(openai.LengthFinishReasonError):
        await client.chat.completions.parse(
            model=MODEL, messages=USER_MESSAGES, response_format=Theme
        )


async def test_refusal_visible(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(Reply(None, refusal="I can't help with that."))

    completion = await client.chat.completions.parse(
        model=MODEL, messages=USER_MESSAGES, response_format=Theme
    )

    message = completion.choices[0].message
    assert message.refusal == "I can't help with that."
    assert message.content is None
    assert message.parsed is None


async def test_parse_builds_valid_request(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    spec_or_skip()
    fake.enqueue(json_reply({"name": "handoffs", "count": 18}))

    completion = await client.chat.completions.parse(
        model=MODEL, messages=USER_MESSAGES, response_format=Theme
    )

    assert completion.choices[0].message.parsed == Theme(name="handoffs", count=18)
    assert fake.validation_errors == []
    body = fake.requests[0].body
    assert body is not None
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert "tools" not in body


async def test_json_schema_request_passes(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    spec_or_skip()
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {
            "name": "theme",
            "schema": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }
    fake.enqueue(json_reply({"name": "handoffs"}))

    completion = await create(
        client, response_format=response_format, max_completion_tokens=None
    )

    assert json.loads(completion.choices[0].message.content) == {"name": "handoffs"}
    assert fake.validation_errors == []
    body = fake.requests[0].body
    assert body is not None
    assert body["response_format"] == response_format
    assert body["max_completion_tokens"] is None
    assert "tools" not in body


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        {"type": "json_object"},
    ],
    ids=["json_schema", "json_object"],
)
async def test_unsupported_format_bad_request(response_format: Any) -> None:
    format_type = response_format["type"]
    async with (
        FakeOpenAI(
            supports_json_schema=format_type != "json_schema",
            supports_json_object=format_type != "json_object",
        ) as fake,
        AsyncOpenAI(base_url=fake.base_url, api_key="k") as client,
    ):
        fake.enqueue(json_reply({"not": "used"}))

        with pytest.raises(openai.BadRequestError) as raised:
            await create(client, response_format=response_format)

        assert raised.value.status_code == 400
        assert raised.value.param == "response_format"
        assert raised.value.type == "invalid_request_error"
        assert format_type in raised.value.message
        assert len(fake.requests) == 1
        assert fake.pending_responses == 1

        plain = await create(client)
        assert plain.choices[0].message.content == '{"not": "used"}'


async def test_stream_rejected(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        await create(client, stream=True)

    assert raised.value.param == "stream"
    assert "Streaming is not supported" in raised.value.message


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": MODEL}, "messages"),
        ({"messages": USER_MESSAGES}, "model"),
        ({"model": MODEL, "messages": []}, "messages"),
        ({"model": MODEL, "messages": [{"role": "user"}]}, "messages[0].content"),
        ({"model": MODEL, "messages": [{"role": "boss", "content": "x"}]}, None),
        ({"model": MODEL, "messages": USER_MESSAGES, "temperature": 7}, "temperature"),
    ],
    ids=["no-messages", "no-model", "empty", "no-content", "bad-role", "temperature"],
)
async def test_invalid_body_rejected(
    fake: FakeOpenAI, body: dict[str, Any], param: str | None
) -> None:
    spec = spec_or_skip()
    fake.enqueue(json_reply({"not": "used"}))

    status, _, payload = await post_raw(fake, json.dumps(body))

    assert status == 400
    assert spec.errors("ErrorResponse", payload) == []
    assert payload["error"]["type"] == "invalid_request_error"
    if param is not None:
        assert payload["error"]["param"] == param
    assert len(fake.validation_errors) == 1
    assert fake.validation_errors[0] == payload["error"]["message"]
    assert fake.pending_responses == 1


async def test_missing_messages_message(fake: FakeOpenAI) -> None:
    spec_or_skip()

    await post_raw(fake, json.dumps({"model": MODEL}))

    assert fake.validation_errors == [
        "Invalid request body: body: 'messages' is a required property"
    ]


async def test_non_json_body_rejected(fake: FakeOpenAI) -> None:
    status, _, payload = await post_raw(fake, b"model=fake-model")

    assert status == 400
    assert payload["error"]["type"] == "invalid_request_error"
    assert "not a valid JSON object" in payload["error"]["message"]
    assert fake.requests[0].body is None
    assert fake.requests[0].raw_body == b"model=fake-model"


async def test_unknown_path_not_found(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        await client.embeddings.create(model=MODEL, input="text")

    assert "POST /v1/embeddings" in raised.value.message


async def test_spec_absent_skips_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(openai_spec.SPECS_DIR_ENV, str(tmp_path))

    async with FakeOpenAI() as fake:
        status, _, payload = await post_raw(fake, json.dumps({"model": MODEL}))

    reason = fake.validation_skipped_reason
    assert reason is not None
    assert str(tmp_path / openai_spec.SPEC_FILENAME) in reason
    assert openai_spec.SPECS_DIR_ENV in reason
    assert status == 200
    assert payload["object"] == "chat.completion"
    assert fake.validation_errors == []


async def test_spec_present_sets_no_reason(fake: FakeOpenAI) -> None:
    spec_or_skip()

    assert fake.validation_skipped_reason is None


async def test_responder_used_when_queue_empty(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    seen: list[dict[str, Any]] = []

    def answer(body: dict[str, Any]) -> ScriptedResponse:
        seen.append(body)
        return json_reply({"turns": len(body["messages"])})

    fake.enqueue(Reply("queued first"))
    fake.responder = answer

    first = await create(client)
    second = await create(client)

    assert first.choices[0].message.content == "queued first"
    assert json.loads(second.choices[0].message.content) == {"turns": 2}
    assert len(seen) == 1


async def test_default_reply_is_empty_object(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    completion = await create(client)

    assert completion.choices[0].message.content == "{}"


async def test_wrong_api_key_rejected() -> None:
    async with (
        FakeOpenAI(api_key="right-key") as fake,
        AsyncOpenAI(base_url=fake.base_url, api_key="wrong-key") as client,
    ):
        with pytest.raises(openai.AuthenticationError) as raised:
            await create(client)

        assert raised.value.code == "invalid_api_key"
        assert len(fake.requests) == 1


async def test_base_url_before_start() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = FakeOpenAI().base_url
