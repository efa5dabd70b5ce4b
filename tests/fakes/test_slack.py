"""Tests of the fake Slack through the real slack_sdk and slack-bolt clients."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack
from tests.fakes.slack_limits import LIMITS, RateLimit
from tests.fakes.slack_payloads import (
    app_home_opened_event,
    button_action,
    file_share_event,
    message_changed_event,
    message_deleted_event,
    message_event,
)
from tests.fakes.slack_records import ManualClock

PARTICIPANT = "U0PARTICIP1"
RESEARCHER = "U0RESEARCH1"
TS_PATTERN = re.compile(r"^\d{10}\.\d{6}$")


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user(PARTICIPANT, "ada", real_name="Ada Lovelace", tz="Europe/London")
        fake.add_user(RESEARCHER, "grace", is_admin=True)
        fake.add_user("U0OTHERBOT1", "otherbot", is_bot=True)
        fake.add_user("U0FORMER001", "former", deleted=True)
        fake.add_channel("C0RESULTS01", "research-results", members=[RESEARCHER])
        fake.add_channel("C0PUBLIC001", "general", bot_is_member=False)
        fake.add_channel("C0SECRET001", "secret", is_private=True, bot_is_member=False)
        fake.add_usergroup("S0ANALYSTS1", "analysts", [PARTICIPANT, RESEARCHER])
        yield fake


def client_for(slack: FakeSlack, **options: Any) -> AsyncWebClient:
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, **options)


async def wait_until(predicate: Callable[[], object], within: float = 3.0) -> None:
    """Poll ``predicate`` every 20 ms; fail the test after ``within`` seconds."""
    for _ in range(int(within / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition still false after {within} s")


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


# -- Web API through AsyncWebClient ------------------------------------------------


async def test_post_message_is_stored(slack: FakeSlack) -> None:
    response = await client_for(slack).chat_postMessage(
        channel="C0RESULTS01", text="Summary ready", blocks=[section("*Themes*")]
    )

    assert response["ok"] is True
    assert response["channel"] == "C0RESULTS01"
    assert TS_PATTERN.match(response["ts"])
    stored = slack.messages_in("C0RESULTS01")
    assert [m.text for m in stored] == ["Summary ready"]
    assert stored[0].ts == response["ts"]
    assert stored[0].bot_id == slack.bot_id
    call = slack.calls_to("chat.postMessage")[0]
    assert call.args["channel"] == "C0RESULTS01"
    assert call.headers["Authorization"] == f"Bearer {slack.bot_token}"
    assert slack.limit_violations == []


async def test_post_to_user_id_lands_in_dm(slack: FakeSlack) -> None:
    response = await client_for(slack).chat_postMessage(channel=PARTICIPANT, text="Hi")

    dm = slack.dm_channel(PARTICIPANT)
    assert response["channel"] == dm
    assert dm.startswith("D")
    assert [m.text for m in slack.messages_in(dm)] == ["Hi"]


async def test_ts_values_increase_within_channel(slack: FakeSlack) -> None:
    client = client_for(slack)
    first = await client.chat_postMessage(channel="C0RESULTS01", text="one")
    second = await client.chat_postMessage(channel="C0RESULTS01", text="two")

    assert float(second["ts"]) > float(first["ts"])


async def test_51_blocks_rejected_and_recorded(slack: FakeSlack) -> None:
    blocks = [section(f"item {index}") for index in range(51)]

    error = await slack_error(
        client_for(slack).chat_postMessage(
            channel="C0RESULTS01", text="too big", blocks=blocks
        )
    )

    assert error.response["error"] == "invalid_blocks"
    assert error.response["errors"] == [
        "no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert slack.messages_in("C0RESULTS01") == []
    violation = slack.limit_violations[0]
    assert violation.rule == "message.blocks"
    assert violation.surface == "chat.postMessage"
    assert (violation.limit, violation.actual) == (50, 51)


def _header(size: int) -> list[dict[str, Any]]:
    return [{"type": "header", "text": {"type": "plain_text", "text": "h" * size}}]


def _section_text(size: int) -> list[dict[str, Any]]:
    return [section("s" * size)]


def _fields(count: int) -> list[dict[str, Any]]:
    fields = [{"type": "mrkdwn", "text": f"f{i}"} for i in range(count)]
    return [{"type": "section", "fields": fields}]


def _field_text(size: int) -> list[dict[str, Any]]:
    return [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * size}]}]


def _button(**overrides: Any) -> list[dict[str, Any]]:
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Go"},
        "action_id": "go",
        "value": "v",
    }
    button.update(overrides)
    return [{"type": "actions", "elements": [button]}]


def _context(count: int) -> list[dict[str, Any]]:
    elements = [{"type": "mrkdwn", "text": f"c{i}"} for i in range(count)]
    return [{"type": "context", "elements": elements}]


BLOCK_LIMIT_CASES = [
    ("header.text", _header, "/blocks/0/text/text"),
    ("section.text", _section_text, "/blocks/0/text/text"),
    ("section.fields", _fields, "/blocks/0/fields"),
    ("section.field.text", _field_text, "/blocks/0/fields/0/text"),
    (
        "button.text",
        lambda n: _button(text={"type": "plain_text", "text": "b" * n}),
        "/blocks/0/elements/0/text/text",
    ),
    (
        "action_id",
        lambda n: _button(action_id="a" * n),
        "/blocks/0/elements/0/action_id",
    ),
    ("button.value", lambda n: _button(value="v" * n), "/blocks/0/elements/0/value"),
    (
        "block_id",
        lambda n: [{"type": "divider", "block_id": "b" * n}],
        "/blocks/0/block_id",
    ),
    ("context.elements", _context, "/blocks/0/elements"),
]


@pytest.mark.parametrize(("rule", "build", "pointer"), BLOCK_LIMIT_CASES)
async def test_block_limit_at_maximum_accepted(
    slack: FakeSlack, rule: str, build: Callable[[int], Any], pointer: str
) -> None:
    blocks = build(LIMITS[rule].value)

    response = await client_for(slack).chat_postMessage(
        channel="C0RESULTS01", text="fallback", blocks=blocks
    )

    assert response["ok"] is True
    assert slack.limit_violations == []


@pytest.mark.parametrize(("rule", "build", "pointer"), BLOCK_LIMIT_CASES)
async def test_block_limit_exceeded_rejected(
    slack: FakeSlack, rule: str, build: Callable[[int], Any], pointer: str
) -> None:
    blocks = build(LIMITS[rule].value + 1)

    error = await slack_error(
        client_for(slack).chat_postMessage(
            channel="C0RESULTS01", text="fallback", blocks=blocks
        )
    )

    assert error.response["error"] == "invalid_blocks"
    assert error.response["errors"][0].endswith(f"[json-pointer:{pointer}]")
    assert [(v.rule, v.pointer) for v in slack.limit_violations] == [(rule, pointer)]


async def test_blocks_without_text_recorded(slack: FakeSlack) -> None:
    # slack_sdk itself warns about the missing fallback with a UserWarning.
    with pytest.warns(UserWarning, match="top-level `text` argument is missing"):
        response = await client_for(slack).chat_postMessage(
            channel="C0RESULTS01", blocks=[section("only blocks")]
        )

    assert response["ok"] is True
    violation = slack.limit_violations[0]
    assert violation.rule == "message.text.fallback"
    assert violation.severity == "warning"


async def test_long_text_truncated_with_warning(slack: FakeSlack) -> None:
    response = await client_for(slack).chat_postMessage(
        channel="C0RESULTS01", text="x" * 40_001
    )

    assert response["warning"] == "message_truncated"
    assert len(slack.messages_in("C0RESULTS01")[0].text) == 40_000
    assert [v.rule for v in slack.limit_violations] == ["message.text"]


async def test_too_many_attachments_rejected(slack: FakeSlack) -> None:
    attachments = [{"fallback": "a", "text": "a"}] * 101

    error = await slack_error(
        client_for(slack).chat_postMessage(
            channel="C0RESULTS01", text="t", attachments=attachments
        )
    )

    assert error.response["error"] == "too_many_attachments"
    assert slack.limit_errors()[0].rule == "message.attachments"


async def test_chat_update_over_text_limit_rejected(slack: FakeSlack) -> None:
    client = client_for(slack)
    posted = await client.chat_postMessage(channel="C0RESULTS01", text="draft")

    error = await slack_error(
        client.chat_update(channel="C0RESULTS01", ts=posted["ts"], text="y" * 40_001)
    )

    assert error.response["error"] == "msg_too_long"
    assert slack.updates == []


async def test_update_delete_permalink_reactions(slack: FakeSlack) -> None:
    client = client_for(slack)
    posted = await client.chat_postMessage(channel="C0RESULTS01", text="draft")
    ts = posted["ts"]

    await client.chat_update(channel="C0RESULTS01", ts=ts, text="final")
    await client.reactions_add(channel="C0RESULTS01", timestamp=ts, name="eyes")
    link = await client.chat_getPermalink(channel="C0RESULTS01", message_ts=ts)
    stored = slack.messages_in("C0RESULTS01")[0]
    assert stored.text == "final"
    assert stored.reactions == {"eyes": [slack.bot_user_id]}
    assert link["permalink"].endswith("/archives/C0RESULTS01/p" + ts.replace(".", ""))
    assert [u.text for u in slack.updates] == ["final"]

    repeat = await slack_error(
        client.reactions_add(channel="C0RESULTS01", timestamp=ts, name="eyes")
    )
    assert repeat.response["error"] == "already_reacted"
    await client.reactions_remove(channel="C0RESULTS01", timestamp=ts, name="eyes")
    await client.chat_delete(channel="C0RESULTS01", ts=ts)
    assert slack.messages_in("C0RESULTS01") == []
    deleted_again = await slack_error(client.chat_delete(channel="C0RESULTS01", ts=ts))
    assert deleted_again.response["error"] == "message_not_found"


async def test_post_ephemeral_recorded(slack: FakeSlack) -> None:
    client = client_for(slack)

    response = await client.chat_postEphemeral(
        channel="C0RESULTS01", user=RESEARCHER, text="Only you"
    )
    outsider = await slack_error(
        client.chat_postEphemeral(channel="C0RESULTS01", user=PARTICIPANT, text="x")
    )

    assert TS_PATTERN.match(response["message_ts"])
    assert [(m.user, m.text) for m in slack.ephemeral_messages] == [
        (RESEARCHER, "Only you")
    ]
    assert outsider.response["error"] == "user_not_in_channel"


async def test_rate_limited_call_retried_once(slack: FakeSlack) -> None:
    slack.fail_next("chat.postMessage", retry_after=1)
    client = client_for(slack, retry_handlers=[AsyncRateLimitErrorRetryHandler()])

    started = time.monotonic()
    response = await client.chat_postMessage(channel="C0RESULTS01", text="once")

    assert response["ok"] is True
    assert time.monotonic() - started >= 1.0
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 200]
    assert [m.text for m in slack.messages_in("C0RESULTS01")] == ["once"]


async def test_rate_limit_without_retry_raises(slack: FakeSlack) -> None:
    slack.fail_next("users.info", retry_after=7)

    error = await slack_error(client_for(slack).users_info(user=PARTICIPANT))

    assert error.response.status_code == 429
    assert error.response["error"] == "ratelimited"
    assert error.response.headers["Retry-After"] == "7"


async def test_post_message_limited_per_channel() -> None:
    clock = ManualClock()
    async with FakeSlack(clock=clock) as slack:
        slack.add_channel("C0ONE000001", "one")
        slack.add_channel("C0TWO000001", "two")
        client = client_for(slack)
        for index in range(3):
            await client.chat_postMessage(channel="C0ONE000001", text=str(index))

        limited = await slack_error(
            client.chat_postMessage(channel="C0ONE000001", text="burst")
        )
        other = await client.chat_postMessage(channel="C0TWO000001", text="fine")
        clock.advance(1.0)
        later = await client.chat_postMessage(channel="C0ONE000001", text="later")

    assert limited.response.status_code == 429
    assert limited.response.headers["Retry-After"] == "1"
    assert other["ok"] is True
    assert later["ok"] is True


async def test_tier_limit_applies_per_method() -> None:
    async with FakeSlack(clock=ManualClock()) as slack:
        slack.add_user(PARTICIPANT, "ada")
        slack.set_rate_limit("users.info", RateLimit(per_minute=2, burst=2))
        client = client_for(slack)
        await client.users_info(user=PARTICIPANT)
        await client.users_info(user=PARTICIPANT)

        error = await slack_error(client.users_info(user=PARTICIPANT))

    assert error.response["error"] == "ratelimited"
    assert error.response.headers["Retry-After"] == "30"


async def test_missing_scope_names_needed_scope() -> None:
    async with FakeSlack(scopes=("users:read",)) as slack:
        slack.add_channel("C0RESULTS01", "research-results")

        error = await slack_error(
            client_for(slack).chat_postMessage(channel="C0RESULTS01", text="x")
        )

    assert error.response["error"] == "missing_scope"
    assert error.response["needed"] == "chat:write"
    assert error.response["provided"] == "users:read"


async def test_auth_test_reports_scopes_header(slack: FakeSlack) -> None:
    response = await client_for(slack).auth_test()

    assert response["user_id"] == slack.bot_user_id
    assert response["bot_id"] == slack.bot_id
    assert response["team_id"] == slack.team_id
    assert "chat:write" in response.headers["X-OAuth-Scopes"].split(",")


@pytest.mark.parametrize(
    ("token", "error"),
    [("xoxb-unknown", "invalid_auth"), ("app", "not_allowed_token_type")],
)
async def test_bad_tokens_rejected(slack: FakeSlack, token: str, error: str) -> None:
    client = AsyncWebClient(
        token=slack.app_token if token == "app" else token, base_url=slack.api_url
    )

    failure = await slack_error(
        client.chat_postMessage(channel="C0RESULTS01", text="x")
    )

    assert failure.response["error"] == error


async def test_unknown_method_answered(slack: FakeSlack) -> None:
    failure = await slack_error(client_for(slack).api_call("no.suchMethod"))

    assert failure.response["error"] == "unknown_method"


async def test_not_in_channel_versus_not_found(slack: FakeSlack) -> None:
    client = client_for(slack)

    public = await slack_error(client.chat_postMessage(channel="C0PUBLIC001", text="x"))
    private = await slack_error(
        client.chat_postMessage(channel="C0SECRET001", text="x")
    )
    missing = await slack_error(
        client.chat_postMessage(channel="C0NOSUCH001", text="x")
    )

    assert public.response["error"] == "not_in_channel"
    assert private.response["error"] == "channel_not_found"
    assert missing.response["error"] == "channel_not_found"


async def test_write_public_scope_allows_public_post() -> None:
    async with FakeSlack(scopes=("chat:write", "chat:write.public")) as slack:
        slack.add_channel("C0PUBLIC001", "general", bot_is_member=False)

        response = await client_for(slack).chat_postMessage(
            channel="C0PUBLIC001", text="x"
        )

    assert response["ok"] is True


@pytest.mark.parametrize(
    ("user", "error"),
    [
        ("U0OTHERBOT1", "cannot_dm_bot"),
        ("U0FORMER001", "user_disabled"),
        ("U0NOBODY001", "user_not_found"),
    ],
)
async def test_conversations_open_errors(
    slack: FakeSlack, user: str, error: str
) -> None:
    failure = await slack_error(client_for(slack).conversations_open(users=user))

    assert failure.response["error"] == error


async def test_conversations_open_reuses_dm(slack: FakeSlack) -> None:
    client = client_for(slack)

    first = await client.conversations_open(users=PARTICIPANT)
    second = await client.conversations_open(users=PARTICIPANT)

    assert first["channel"]["id"] == second["channel"]["id"]
    assert "already_open" not in first.data
    assert second["already_open"] is True


async def test_fail_when_matches_one_user(slack: FakeSlack) -> None:
    slack.fail_when(
        "conversations.open", "user_not_visible", match={"users": RESEARCHER}
    )
    client = client_for(slack)

    ok = await client.conversations_open(users=PARTICIPANT)
    failure = await slack_error(client.conversations_open(users=RESEARCHER))

    assert ok["ok"] is True
    assert failure.response["error"] == "user_not_visible"


async def test_users_info_has_time_zone(slack: FakeSlack) -> None:
    response = await client_for(slack).users_info(user=PARTICIPANT)

    user = response["user"]
    assert user["tz"] == "Europe/London"
    assert user["tz_offset"] in (0, 3600)
    assert user["real_name"] == "Ada Lovelace"
    assert user["is_bot"] is False


async def test_conversation_and_group_lookups(slack: FakeSlack) -> None:
    client = client_for(slack)

    info = await client.conversations_info(channel="C0RESULTS01")
    members = await client.conversations_members(channel="C0RESULTS01")
    group = await client.usergroups_users_list(usergroup="S0ANALYSTS1")
    hidden = await slack_error(client.conversations_members(channel="C0SECRET001"))

    assert info["channel"]["name"] == "research-results"
    assert info["channel"]["is_member"] is True
    assert sorted(members["members"]) == sorted([RESEARCHER, slack.bot_user_id])
    assert group["users"] == [PARTICIPANT, RESEARCHER]
    assert hidden.response["error"] == "channel_not_found"


async def test_files_upload_v2_round_trip(slack: FakeSlack) -> None:
    content = b"theme,count\nre-explaining,18\n"

    response = await client_for(slack).files_upload_v2(
        channel="C0RESULTS01",
        filename="themes.csv",
        content=content,
        title="Themes",
        initial_comment="Export attached",
    )

    uploaded = slack.uploaded_files[0]
    assert uploaded.content == content
    assert uploaded.completed is True
    assert uploaded.title == "Themes"
    assert response["file"]["id"] == uploaded.id
    message = slack.messages_in("C0RESULTS01")[0]
    assert message.text == "Export attached"
    assert message.files[0]["name"] == "themes.csv"
    assert [c.method for c in slack.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


async def test_views_open_checks_trigger_and_title(slack: FakeSlack) -> None:
    client = client_for(slack)
    trigger = slack.issue_trigger(RESEARCHER)
    modal = {
        "type": "modal",
        "callback_id": "plan",
        "title": {"type": "plain_text", "text": "Research plan"},
        "blocks": [section("Edit the plan")],
    }

    opened = await client.views_open(trigger_id=trigger, view=modal)
    reused = await slack_error(client.views_open(trigger_id=trigger, view=modal))
    long_title = {**modal, "title": {"type": "plain_text", "text": "t" * 25}}
    too_long = await slack_error(
        client.views_open(trigger_id=slack.issue_trigger(RESEARCHER), view=long_title)
    )

    assert opened["view"]["id"].startswith("V")
    assert [v.view["callback_id"] for v in slack.modals] == ["plan"]
    assert reused.response["error"] == "exchanged_trigger_id"
    assert too_long.response["error"] == "invalid_arguments"
    assert slack.limit_errors()[0].pointer == "/view/title/text"


async def test_expired_trigger_rejected() -> None:
    clock = ManualClock()
    async with FakeSlack(clock=clock) as slack:
        slack.add_user(RESEARCHER, "grace")
        trigger = slack.issue_trigger(RESEARCHER)
        clock.advance(3.5)
        modal = {
            "type": "modal",
            "title": {"type": "plain_text", "text": "Plan"},
            "blocks": [],
        }

        failure = await slack_error(
            client_for(slack).views_open(trigger_id=trigger, view=modal)
        )

    assert failure.response["error"] == "expired_trigger_id"


async def test_home_tab_published_and_limited(slack: FakeSlack) -> None:
    client = client_for(slack)
    home = {"type": "home", "blocks": [section(f"row {i}") for i in range(100)]}

    await client.views_publish(user_id=RESEARCHER, view=home)
    too_big = {"type": "home", "blocks": [section(f"row {i}") for i in range(101)]}
    failure = await slack_error(client.views_publish(user_id=RESEARCHER, view=too_big))

    assert len(slack.home_views[RESEARCHER].view["blocks"]) == 100
    assert failure.response["error"] == "invalid_arguments"
    assert slack.limit_errors()[0].rule == "view.blocks"


# -- slack-bolt AsyncApp in HTTP mode ------------------------------------------


class BoltHttp:
    """A slack-bolt AsyncApp served by aiohttp on 127.0.0.1, wired to the fake."""

    def __init__(self, slack: FakeSlack) -> None:
        self.app = AsyncApp(
            client=client_for(slack), signing_secret=slack.signing_secret
        )
        self.events: list[dict[str, Any]] = []
        self.event_headers: list[dict[str, list[str]]] = []
        self.commands: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        server = AsyncSlackAppServer(
            port=0, path="/slack/events", app=self.app, host="127.0.0.1"
        )
        self._runner = web.AppRunner(server.web_app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/slack/events"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def bolt(slack: FakeSlack) -> AsyncIterator[BoltHttp]:
    served = BoltHttp(slack)

    @served.app.event("message")
    async def on_message(event: dict[str, Any], request: Any) -> None:
        served.events.append(event)
        served.event_headers.append(request.headers)

    @served.app.command("/perspective")
    async def on_command(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        await ack(text="Working on it")
        served.commands.append(command)
        await respond(text=f"Summary for {command['text']}", response_type="in_channel")

    @served.app.action("open_plan")
    async def on_open_plan(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        await client.views_open(
            trigger_id=body["trigger_id"],
            view={
                "type": "modal",
                "callback_id": "plan",
                "title": {"type": "plain_text", "text": "Plan"},
                "submit": {"type": "plain_text", "text": "Save"},
                "blocks": [
                    {
                        "type": "input",
                        "block_id": "question",
                        "label": {"type": "plain_text", "text": "Question"},
                        "element": {"type": "plain_text_input", "action_id": "q"},
                    }
                ],
            },
        )

    @served.app.view("plan")
    async def on_plan(ack: Any) -> None:
        await ack(response_action="errors", errors={"question": "Too short"})

    await served.start()
    try:
        yield served
    finally:
        await served.stop()


async def test_http_message_event_received(slack: FakeSlack, bolt: BoltHttp) -> None:
    dm = slack.dm_channel(PARTICIPANT)
    event = message_event(user=PARTICIPANT, channel=dm, text="We re-explain a lot")

    delivery = await slack.post_event(bolt.url, event, event_id="Ev0MESSAGE1")

    assert delivery.status == 200
    await wait_until(lambda: bolt.events)
    assert bolt.events[0]["text"] == "We re-explain a lot"
    ack = slack.acks[0]
    assert (ack.kind, ack.id, ack.status) == ("http:events_api", "Ev0MESSAGE1", 200)
    assert 0 < ack.latency < LIMITS["ack.seconds"].value
    assert slack.calls_to("auth.test")


async def test_http_retry_headers_sent(slack: FakeSlack, bolt: BoltHttp) -> None:
    event = message_event(user=PARTICIPANT, channel="D0DMCHAN001", text="again")

    delivery = await slack.post_event(
        bolt.url, event, event_id="Ev0RETRY001", retry_num=1, retry_reason="timeout"
    )

    assert delivery.status == 200
    await wait_until(lambda: bolt.events)
    assert delivery.payload["event_id"] == "Ev0RETRY001"
    assert bolt.event_headers[0]["x-slack-retry-num"] == ["1"]
    assert bolt.event_headers[0]["x-slack-retry-reason"] == ["timeout"]


@pytest.mark.parametrize(
    "tampering",
    [
        {"bad_signature": True},
        {"timestamp": int(time.time()) - 6 * 60},
        {"tamper_body": True},
    ],
    ids=["bad_signature", "stale_timestamp", "tampered_body"],
)
async def test_http_unsigned_event_rejected(
    slack: FakeSlack, bolt: BoltHttp, tampering: dict[str, Any]
) -> None:
    event = message_event(user=PARTICIPANT, channel="D0DMCHAN001", text="forged")

    delivery = await slack.post_event(bolt.url, event, **tampering)

    assert delivery.status == 401
    await asyncio.sleep(0.1)
    assert bolt.events == []


async def test_http_slash_command_responds(slack: FakeSlack, bolt: BoltHttp) -> None:
    delivery = await slack.post_command(
        bolt.url, "escalations", user_id=RESEARCHER, channel_id="C0RESULTS01"
    )

    assert delivery.status == 200
    # Bolt sends ack(text=...) as text/plain, which Slack shows ephemerally.
    assert delivery.body == "Working on it"
    await wait_until(lambda: slack.response_url_posts)
    post = slack.response_url_posts[0]
    assert post.status == 200
    assert post.response_type == "in_channel"
    assert post.body["text"] == "Summary for escalations"
    assert delivery.response_url is not None
    assert delivery.response_url.endswith(post.token)
    assert [m.text for m in slack.messages_in("C0RESULTS01")] == [
        "Summary for escalations"
    ]
    assert slack.acks[0].kind == "http:slash_commands"


async def test_http_button_opens_modal(slack: FakeSlack, bolt: BoltHttp) -> None:
    payload = slack.block_actions(
        RESEARCHER,
        [button_action("open_plan", "plan-1")],
        channel_id="C0RESULTS01",
        message={"ts": "1700000000.000100", "text": "Plan ready"},
    )

    delivery = await slack.post_interaction(bolt.url, payload)

    assert delivery.status == 200
    await wait_until(lambda: slack.modals)
    assert slack.modals[0].user_id == RESEARCHER
    assert slack.calls_to("views.open")[0].ok


async def test_http_view_submission_ack_recorded(
    slack: FakeSlack, bolt: BoltHttp
) -> None:
    view = {
        "type": "modal",
        "callback_id": "plan",
        "title": {"type": "plain_text", "text": "Plan"},
    }
    payload = slack.view_submission(
        RESEARCHER, view, {"question": {"q": {"value": "?"}}}
    )

    delivery = await slack.post_interaction(bolt.url, payload)

    assert delivery.status == 200
    assert delivery.json() == {
        "response_action": "errors",
        "errors": {"question": "Too short"},
    }
    assert slack.acks[0].payload["response_action"] == "errors"


# -- slack-bolt AsyncApp in Socket Mode -----------------------------------------


async def test_socket_mode_acks_and_reconnects(slack: FakeSlack) -> None:
    app = AsyncApp(client=client_for(slack))
    received: list[str] = []

    @app.event("message")
    async def on_message(event: dict[str, Any]) -> None:
        received.append(event["text"])

    handler = AsyncSocketModeHandler(app, slack.app_token)
    await handler.connect_async()
    try:
        await slack.wait_for_connections(1)
        dm = slack.dm_channel(PARTICIPANT)
        first = await slack.send_event(
            message_event(user=PARTICIPANT, channel=dm, text="before refresh")
        )
        ack = await slack.wait_for_ack(first, timeout=3)
        await wait_until(lambda: received)

        await slack.send_disconnect("refresh_requested")
        await slack.wait_for_connections(2, timeout=10)
        second = await slack.send_event(
            message_event(user=PARTICIPANT, channel=dm, text="after refresh")
        )
        await slack.wait_for_ack(second, timeout=3)
        await wait_until(lambda: len(received) == 2)
    finally:
        await handler.close_async()

    assert ack.kind == "socket:events_api"
    assert 0 < ack.latency < LIMITS["ack.seconds"].value
    assert received == ["before refresh", "after refresh"]
    assert slack.connections_opened == 2
    assert len(slack.calls_to("apps.connections.open")) == 2
    assert slack.calls_to("apps.connections.open")[0].headers["Authorization"] == (
        f"Bearer {slack.app_token}"
    )
    assert slack.limit_violations == []


async def test_socket_slash_command_ack_payload(slack: FakeSlack) -> None:
    app = AsyncApp(client=client_for(slack))

    @app.command("/perspective")
    async def on_command(ack: Any) -> None:
        await ack(blocks=[section("s" * 3001)], text="too long")

    handler = AsyncSocketModeHandler(app, slack.app_token)
    await handler.connect_async()
    try:
        await slack.wait_for_connections(1)
        form = slack.slash_command(
            "summary", user_id=RESEARCHER, channel_id="C0RESULTS01"
        )
        envelope_id = await slack.send_envelope("slash_commands", form)
        ack = await slack.wait_for_ack(envelope_id)
    finally:
        await handler.close_async()

    assert ack.payload["text"] == "too long"
    violation = slack.limit_errors()[0]
    assert violation.surface == "socket:slash_commands:response"
    assert violation.rule == "section.text"


async def test_unacked_envelope_times_out(slack: FakeSlack) -> None:
    app = AsyncApp(client=client_for(slack))
    handler = AsyncSocketModeHandler(app, slack.app_token)
    await handler.connect_async()
    try:
        await slack.wait_for_connections(1)
        envelope_id = await slack.send_envelope(
            "interactive", {"type": "unknown_payload_type"}
        )
        with pytest.raises(TimeoutError):
            await slack.wait_for_ack(envelope_id, timeout=0.5)
    finally:
        await handler.close_async()


# -- response URLs, late acks and other event shapes ---------------------------


async def test_response_url_limits_enforced(slack: FakeSlack) -> None:
    form = slack.slash_command("x", user_id=RESEARCHER, channel_id="C0RESULTS01")
    url = form["response_url"]
    statuses = []
    async with aiohttp.ClientSession() as session:
        bad = {"text": "t", "blocks": [section("")]}
        async with session.post(url, json=bad) as response:
            invalid = (response.status, await response.text())
        for index in range(5):
            async with session.post(url, json={"text": f"reply {index}"}) as response:
                statuses.append(response.status)

    assert invalid == (400, "invalid_blocks")
    # The rejected post counts as the first of the five allowed uses.
    assert statuses == [200, 200, 200, 200, 404]
    assert [v.rule for v in slack.limit_errors()] == ["text.empty", "response_url.uses"]
    assert [m.text for m in slack.ephemeral_messages] == [
        f"reply {i}" for i in range(4)
    ]


async def test_late_http_ack_recorded(slack: FakeSlack) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(LIMITS["ack.seconds"].value + 0.2)
        return web.Response()

    app = web.Application()
    app.router.add_post("/events", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        event = message_event(user=PARTICIPANT, channel="D0DMCHAN001", text="slow")
        delivery = await slack.post_event(f"http://127.0.0.1:{port}/events", event)
    finally:
        await runner.cleanup()

    assert delivery.elapsed > 3
    violation = slack.limit_errors()[0]
    assert violation.rule == "ack.seconds"
    assert violation.surface == "http:events_api"


async def test_home_opened_event_publishes_view(slack: FakeSlack) -> None:
    served = BoltHttp(slack)

    @served.app.event("app_home_opened")
    async def on_home(event: dict[str, Any], client: Any) -> None:
        await client.views_publish(
            user_id=event["user"], view={"type": "home", "blocks": [section("Studies")]}
        )

    await served.start()
    try:
        event = app_home_opened_event(user=RESEARCHER, channel="D0HOME00001")
        delivery = await slack.post_event(served.url, event)
        await wait_until(lambda: RESEARCHER in slack.home_views)
    finally:
        await served.stop()

    assert delivery.status == 200
    assert slack.home_views[RESEARCHER].view["blocks"][0]["text"]["text"] == "Studies"


async def test_shared_file_downloadable_with_bot_token(slack: FakeSlack) -> None:
    served = BoltHttp(slack)
    downloads: list[bytes] = []
    file = slack.add_file("F0NOTES0001", "notes.txt", b"my notes", user=PARTICIPANT)

    @served.app.event("message")
    async def on_file(event: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {slack.bot_token}"}
        async with aiohttp.ClientSession() as session:
            async with session.get(
                event["files"][0]["url_private"], headers=headers
            ) as r:
                downloads.append(await r.read())

    await served.start()
    try:
        dm = slack.dm_channel(PARTICIPANT)
        event = file_share_event(user=PARTICIPANT, channel=dm, files=[file])
        await slack.post_event(served.url, event)
        await wait_until(lambda: downloads)
        async with aiohttp.ClientSession() as session:
            async with session.get(file["url_private"], allow_redirects=False) as r:
                anonymous_status = r.status
    finally:
        await served.stop()

    assert downloads == [b"my notes"]
    assert anonymous_status == 302


@pytest.mark.parametrize(
    "event",
    [
        message_changed_event(
            channel="D0DMCHAN001",
            message={
                "type": "message",
                "user": PARTICIPANT,
                "text": "new",
                "ts": "1.2",
            },
            previous_message={"type": "message", "user": PARTICIPANT, "text": "old"},
        ),
        message_deleted_event(channel="D0DMCHAN001", deleted_ts="1.2"),
        message_event(
            user=PARTICIPANT, channel="D0DMCHAN001", text="reply", thread_ts="1.2"
        ),
    ],
    ids=["message_changed", "message_deleted", "thread_reply"],
)
async def test_message_variants_reach_bolt(
    slack: FakeSlack, bolt: BoltHttp, event: dict[str, Any]
) -> None:
    delivery = await slack.post_event(bolt.url, event)

    assert delivery.status == 200
    await wait_until(lambda: bolt.events)
    assert bolt.events[0].get("subtype") == event.get("subtype")
