"""Tests of the fake Discord, driven through the real discord.py client."""

from __future__ import annotations

import asyncio
import io
import json
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any, Protocol, TypeVar

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.http import Route

from tests.fakes.discord_gateway import GUILD_MESSAGES, MESSAGE_CONTENT
from tests.fakes.discord_server import (
    FakeChannel,
    FakeDiscord,
    PermissionOverwrite,
    point_discord_py_at,
)
from tests.fakes.discord_state import SEND_MESSAGES

GUILD_ID = 100
GENERAL_ID = 110
LOCKED_ID = 111
ALICE_ID = 200
BOB_ID = 201
CAROL_ID = 202
OTHER_BOT_ID = 203

# Seconds a test waits for one event from the client before failing.
EVENT_TIMEOUT = 10.0

# Discord's documented limits, written out so that a wrong constant in the
# fake fails these tests.
MAX_CONTENT_LENGTH = 2000
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096

BASIC_INTENTS = discord.Intents(guilds=True, dm_messages=True)
GUILD_TEXT_INTENTS = discord.Intents(guilds=True, dm_messages=True, guild_messages=True)


def populate(fake: FakeDiscord) -> None:
    fake.add_user(ALICE_ID, "alice")
    fake.add_user(BOB_ID, "bob", dms_open=False)
    fake.add_user(CAROL_ID, "carol")
    fake.add_user(OTHER_BOT_ID, "otherbot", bot=True)
    locked = FakeChannel(
        LOCKED_ID,
        "announcements",
        overwrites=[PermissionOverwrite(GUILD_ID, 0, deny=SEND_MESSAGES)],
    )
    fake.add_guild(
        GUILD_ID,
        "Community",
        channels=[FakeChannel(GENERAL_ID, "general"), locked],
        members=[ALICE_ID, BOB_ID, CAROL_ID],
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(heartbeat_interval_ms=200) as server:
        populate(server)
        with point_discord_py_at(server):
            yield server


class RecordingClient(discord.Client):
    """A discord.Client that queues the events the tests look at."""

    def __init__(self, intents: discord.Intents, **options: Any) -> None:
        super().__init__(intents=intents, guild_ready_timeout=0.05, **options)
        self.messages: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.raw_edits: asyncio.Queue[discord.RawMessageUpdateEvent] = asyncio.Queue()
        self.resumed = asyncio.Event()

    async def on_message(self, message: discord.Message) -> None:
        # The fake echoes the bot's own messages as Discord does. Skip them.
        if self.user is None or message.author.id != self.user.id:
            await self.messages.put(message)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        await self.raw_edits.put(payload)

    async def on_resumed(self) -> None:
        self.resumed.set()


ClientT = TypeVar("ClientT", bound=discord.Client)


class ClientStarter(Protocol):
    """Start a client against the fake and return it once it is ready."""

    async def __call__(self, client: ClientT) -> ClientT: ...


@pytest.fixture
async def start_client(fake: FakeDiscord) -> AsyncIterator[ClientStarter]:
    """Start clients against the fake and close every one of them at teardown."""
    running: list[tuple[discord.Client, asyncio.Task[None]]] = []

    async def start(client: ClientT) -> ClientT:
        task = asyncio.create_task(client.start(fake.token))
        running.append((client, task))
        # Wait for the fake to have sent READY and the GUILD_CREATEs, but stop
        # early if the client task fails (a login error, for example).
        ready = asyncio.create_task(fake.wait_until_ready())
        done, _ = await asyncio.wait({ready, task}, return_when="FIRST_COMPLETED")
        if ready not in done:
            ready.cancel()
            task.result()
        ready.result()
        await asyncio.wait_for(client.wait_until_ready(), EVENT_TIMEOUT)
        return client

    yield start
    for client, task in running:
        await client.close()
        await asyncio.wait_for(task, 10)


async def next_item(queue: asyncio.Queue[Any]) -> Any:
    """Return the next queued event, waiting at most EVENT_TIMEOUT seconds."""
    return await asyncio.wait_for(queue.get(), EVENT_TIMEOUT)


def skip_if_no_spec(fake: FakeDiscord) -> None:
    if fake.validation_skipped_reason:
        pytest.skip(fake.validation_skipped_reason)


# Login, READY and intents


async def test_login_sends_identify_with_intents(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))

    assert client.user is not None
    assert client.user.id == fake.bot_user.id
    assert client.application_id == fake.application_id
    assert fake.identify_count == 1
    assert fake.identify_payloads[0]["intents"] == BASIC_INTENTS.value
    routes = {call.route for call in fake.rest_calls}
    assert "GET /users/@me" in routes
    assert "GET /oauth2/applications/@me" in routes
    guild = client.get_guild(GUILD_ID)
    assert guild is not None
    assert guild.get_channel(GENERAL_ID) is not None
    assert fake.validation_errors == []


async def test_gateway_uses_transport_compression(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    await start_client(RecordingClient(BASIC_INTENTS))

    assert fake.hub.connections[0].compress in ("zlib-stream", "zstd-stream")


async def test_heartbeats_are_acknowledged(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))

    await fake.wait_until(lambda: fake.heartbeat_count >= 3)
    assert client.latency < 1.0


async def test_dm_keeps_content_without_content_intent(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))

    sent = await fake.dispatch_message_create(user_id=ALICE_ID, content="I had to wait")
    received = await next_item(client.messages)

    assert received.id == int(sent["id"])
    assert received.content == "I had to wait"
    assert isinstance(received.channel, discord.DMChannel)
    assert received.author.id == ALICE_ID


async def test_guild_message_blanked_without_content_intent(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(GUILD_TEXT_INTENTS))

    await fake.dispatch_message_create(
        user_id=ALICE_ID, channel_id=GENERAL_ID, content="secret feedback"
    )
    plain = await next_item(client.messages)
    mention = f"<@{fake.bot_user.id}> hello bot"
    await fake.dispatch_message_create(
        user_id=ALICE_ID, channel_id=GENERAL_ID, content=mention
    )
    mentioning = await next_item(client.messages)

    assert plain.content == ""
    assert plain.guild is not None
    assert mentioning.content == mention


async def test_guild_message_keeps_content_with_content_intent(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    intents = discord.Intents(
        guilds=True, dm_messages=True, guild_messages=True, message_content=True
    )
    client = await start_client(RecordingClient(intents))

    await fake.dispatch_message_create(
        user_id=ALICE_ID, channel_id=GENERAL_ID, content="visible"
    )
    received = await next_item(client.messages)

    assert received.content == "visible"
    assert fake.identify_payloads[0]["intents"] & MESSAGE_CONTENT


async def test_guild_message_filtered_without_guild_messages_intent(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))

    seq = await fake.dispatch(
        "MESSAGE_CREATE",
        fake.message_payload(
            user_id=ALICE_ID, channel_id=GENERAL_ID, content="not for you"
        ),
    )

    assert seq is None
    assert not fake.identify_payloads[0]["intents"] & GUILD_MESSAGES
    assert client.messages.empty()


async def test_disallowed_privileged_intent_closes_with_4014() -> None:
    async with FakeDiscord(privileged_intents_enabled=0) as server:
        populate(server)
        with point_discord_py_at(server):
            intents = discord.Intents(guilds=True, message_content=True)
            client = discord.Client(intents=intents)
            with pytest.raises(discord.PrivilegedIntentsRequired):
                await asyncio.wait_for(client.start(server.token), 10)
            await client.close()


# Sending messages and limits


async def test_send_message_is_recorded(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    channel = client.get_channel(GENERAL_ID)
    assert isinstance(channel, discord.TextChannel)

    message = await channel.send("x" * MAX_CONTENT_LENGTH)

    stored = fake.messages_in(GENERAL_ID)
    assert [m["id"] for m in stored] == [str(message.id)]
    assert stored[0]["content"] == "x" * MAX_CONTENT_LENGTH
    assert fake.calls_to("POST /channels/{channel_id}/messages")[0].status == 200
    assert fake.validation_errors == []


async def test_content_over_limit_fails_with_50035(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    channel = client.get_channel(GENERAL_ID)
    assert isinstance(channel, discord.TextChannel)

    with pytest.raises(discord.HTTPException) as caught:
        await channel.send("x" * (MAX_CONTENT_LENGTH + 1))

    assert caught.value.status == 400
    assert caught.value.code == 50035
    assert "content" in caught.value.text
    assert [v.field for v in fake.limit_violations] == ["content"]
    assert fake.messages_in(GENERAL_ID) == []


def embed_with(**overrides: Any) -> discord.Embed:
    embed = discord.Embed(
        title=overrides.get("title"), description=overrides.get("description")
    )
    for name, value in overrides.get("fields", []):
        embed.add_field(name=name, value=value)
    if "footer" in overrides:
        embed.set_footer(text=overrides["footer"])
    if "author" in overrides:
        embed.set_author(name=overrides["author"])
    return embed


@pytest.mark.parametrize(
    ("embeds", "field"),
    [
        ([embed_with(title="t" * (MAX_EMBED_TITLE + 1))], "embeds.0.title"),
        (
            [embed_with(description="d" * (MAX_EMBED_DESCRIPTION + 1))],
            "embeds.0.description",
        ),
        ([embed_with(fields=[("n", "v")] * 26)], "embeds.0.fields"),
        ([embed_with(fields=[("n" * 257, "v")])], "embeds.0.fields.0.name"),
        ([embed_with(fields=[("n", "v" * 1025)])], "embeds.0.fields.0.value"),
        ([embed_with(title="t", footer="f" * 2049)], "embeds.0.footer.text"),
        ([embed_with(title="t", author="a" * 257)], "embeds.0.author.name"),
        ([embed_with(description="d" * 3001) for _ in range(2)], "embeds"),
    ],
    ids=[
        "title",
        "description",
        "field-count",
        "field-name",
        "field-value",
        "footer",
        "author",
        "total-6000",
    ],
)
async def test_embed_over_limit_fails_with_50035(
    fake: FakeDiscord,
    start_client: ClientStarter,
    embeds: list[discord.Embed],
    field: str,
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    channel = client.get_channel(GENERAL_ID)
    assert isinstance(channel, discord.TextChannel)

    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(embeds=embeds)

    assert caught.value.code == 50035
    assert field in [v.field for v in fake.limit_violations]


async def test_eleven_embeds_fail_with_50035(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    # discord.py refuses more than 10 embeds itself, so the raw route is used.
    client = await start_client(RecordingClient(BASIC_INTENTS))
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=GENERAL_ID)
    embeds = [{"title": f"theme {i}"} for i in range(11)]

    with pytest.raises(discord.HTTPException) as caught:
        await client.http.request(route, json={"embeds": embeds})

    assert caught.value.code == 50035
    assert [v.field for v in fake.limit_violations] == ["embeds"]


async def test_embed_whitespace_is_trimmed_before_counting(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    channel = client.get_channel(GENERAL_ID)
    assert isinstance(channel, discord.TextChannel)

    title = "  " + "t" * MAX_EMBED_TITLE + "  "
    await channel.send(embed=discord.Embed(title=title))

    assert fake.limit_violations == []


def button(custom_id: str, label: str = "ok") -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": label, "custom_id": custom_id}


@pytest.mark.parametrize(
    ("components", "field"),
    [
        (
            [{"type": 1, "components": [button(f"b{i}")]} for i in range(6)],
            "components",
        ),
        (
            [{"type": 1, "components": [button(f"b{i}") for i in range(6)]}],
            "components.0.components",
        ),
        (
            [{"type": 1, "components": [button("c" * 101)]}],
            "components.0.components.0.custom_id",
        ),
        (
            [{"type": 1, "components": [button("b", label="l" * 81)]}],
            "components.0.components.0.label",
        ),
        (
            [{"type": 1, "components": [button("same"), button("same")]}],
            "components.0.components.1.custom_id",
        ),
    ],
    ids=["rows", "buttons-per-row", "custom-id", "label", "duplicate-id"],
)
async def test_components_over_limit_fail_with_50035(
    fake: FakeDiscord,
    start_client: ClientStarter,
    components: list[dict[str, Any]],
    field: str,
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=GENERAL_ID)

    with pytest.raises(discord.HTTPException) as caught:
        await client.http.request(
            route, json={"content": "pick", "components": components}
        )

    assert caught.value.code == 50035
    assert field in [v.field for v in fake.limit_violations]


async def test_empty_message_fails_with_50006(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=GENERAL_ID)

    with pytest.raises(discord.HTTPException) as caught:
        await client.http.request(route, json={"content": "   "})

    assert caught.value.code == 50006


async def test_denied_channel_fails_with_50013(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    channel = client.get_channel(LOCKED_ID)
    assert isinstance(channel, discord.TextChannel)

    with pytest.raises(discord.Forbidden) as caught:
        await channel.send("hello")

    assert caught.value.code == 50013


async def test_file_upload_is_stored_as_attachment(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    user = await client.fetch_user(ALICE_ID)

    message = await user.send(
        "summary", file=discord.File(io.BytesIO(b"a,b\n1,2\n"), "s.csv")
    )

    assert message.attachments[0].filename == "s.csv"
    assert await message.attachments[0].read() == b"a,b\n1,2\n"
    call = fake.calls_to("POST /channels/{channel_id}/messages")[0]
    assert call.body["content"] == "summary"
    assert [f.filename for f in call.files] == ["s.csv"]
    assert [m["content"] for m in fake.dms_to(ALICE_ID)] == ["summary"]


async def test_incoming_attachment_can_be_downloaded(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))

    await fake.dispatch_message_create(
        user_id=ALICE_ID,
        content="see file",
        attachments=[("notes.txt", b"slow", "text/plain")],
    )
    received = await next_item(client.messages)

    assert received.attachments[0].filename == "notes.txt"
    assert await received.attachments[0].read() == b"slow"


async def test_edit_and_delete_bot_message(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    user = await client.fetch_user(ALICE_ID)
    message = await user.send("first")

    edited = await message.edit(content="second")
    await edited.delete()

    assert edited.content == "second"
    assert fake.dms_to(ALICE_ID) == []
    assert fake.rest.channels.deleted_messages[0]["content"] == "second"


async def test_message_update_reaches_client(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    sent = await fake.dispatch_message_create(user_id=ALICE_ID, content="draft")
    await next_item(client.messages)

    await fake.dispatch_message_update(sent, content="final answer")
    update = await next_item(client.raw_edits)

    assert update.message_id == int(sent["id"])
    assert update.data["content"] == "final answer"


# Error switches


async def test_closed_dms_fail_with_50007(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    bob = await client.fetch_user(BOB_ID)

    with pytest.raises(discord.Forbidden) as caught:
        await bob.send("Would you join a short interview?")

    assert caught.value.status == 403
    assert caught.value.code == 50007
    assert fake.dms_to(BOB_ID) == []


async def test_dm_to_bot_user_fails_with_50007(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    other_bot = await client.fetch_user(OTHER_BOT_ID)

    with pytest.raises(discord.HTTPException) as caught:
        await other_bot.create_dm()

    assert caught.value.code == 50007


async def test_opening_dms_too_fast_fails_with_40003(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    fake.fail_dm_open_after(1)
    alice = await client.fetch_user(ALICE_ID)
    carol = await client.fetch_user(CAROL_ID)

    await alice.create_dm()
    with pytest.raises(discord.HTTPException) as caught:
        await carol.create_dm()

    assert isinstance(caught.value, discord.Forbidden)
    assert caught.value.code == 40003


@pytest.mark.parametrize("is_global", [False, True], ids=["route", "global"])
async def test_rate_limit_is_waited_out(
    fake: FakeDiscord, start_client: ClientStarter, is_global: bool
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    channel = client.get_channel(GENERAL_ID)
    assert isinstance(channel, discord.TextChannel)
    fake.rate_limit_next(
        "POST /channels/{channel_id}/messages", 0.3, is_global=is_global
    )

    started = time.monotonic()
    await channel.send("after the wait")
    elapsed = time.monotonic() - started

    calls = fake.calls_to("POST /channels/{channel_id}/messages")
    assert [call.status for call in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.3
    assert elapsed >= 0.3
    assert len(fake.messages_in(GENERAL_ID)) == 1


# Raw HTTP shape


async def test_unknown_route_returns_discord_404(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(fake.api_base + "/no/such/route") as response:
            body = await response.json()
            content_type = response.headers["Content-Type"]
            status = response.status

    assert status == 404
    assert content_type == "application/json"
    assert body == {"code": 0, "message": "404: Not Found"}


async def test_unknown_route_raises_not_found_in_discord_py(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))

    with pytest.raises(discord.NotFound) as caught:
        await client.http.request(Route("GET", "/no/such/route"))

    assert caught.value.code == 0


async def test_body_against_spec_fails_with_50035(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    skip_if_no_spec(fake)
    client = await start_client(RecordingClient(BASIC_INTENTS))
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=GENERAL_ID)

    with pytest.raises(discord.HTTPException) as caught:
        await client.http.request(route, json={"content": "ok", "tts": "yes"})

    assert caught.value.code == 50035
    assert [e.location for e in fake.validation_errors] == ["body:tts"]


async def test_bad_snowflake_path_fails_spec(fake: FakeDiscord) -> None:
    skip_if_no_spec(fake)
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(fake.api_base + "/channels/abc") as response:
            body = await response.json()

    assert body["code"] == 50035
    assert fake.validation_errors[0].location == "path:channel_id"


async def test_zlib_stream_frames_decompress(fake: FakeDiscord) -> None:
    url = fake.gateway_url + "?v=10&encoding=json&compress=zlib-stream"
    inflater = zlib.decompressobj()
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        frame = await ws.receive_bytes(timeout=5)
        hello = json.loads(inflater.decompress(frame))
        await ws.send_json({"op": 1, "d": None})
        ack = json.loads(inflater.decompress(await ws.receive_bytes(timeout=5)))

    assert frame.endswith(b"\x00\x00\xff\xff")
    assert hello["op"] == 10
    assert hello["d"]["heartbeat_interval"] == 200
    assert ack["op"] == 11


async def test_wrong_token_closes_with_4004(fake: FakeDiscord) -> None:
    url = fake.gateway_url + "?v=10&encoding=json"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.receive_json(timeout=5)
        await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 1}})
        closing = await ws.receive(timeout=5)

    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert closing.data == 4004


# Interactions


class SummaryBot(RecordingClient):
    """A client with a /perspective group like the product's command tree."""

    def __init__(self, respond_after: float = 0.0) -> None:
        super().__init__(BASIC_INTENTS)
        self.tree = app_commands.CommandTree(self)
        self.respond_after = respond_after
        self.seen_study: asyncio.Future[int] = (
            asyncio.get_running_loop().create_future()
        )
        self.second_response_error: asyncio.Future[BaseException] = (
            asyncio.get_running_loop().create_future()
        )
        group = app_commands.Group(name="perspective", description="Research studies")

        @group.command(name="summary", description="Summarise a study")
        @app_commands.describe(study="Study number")
        async def summary(interaction: discord.Interaction, study: int) -> None:
            await asyncio.sleep(self.respond_after)
            try:
                await interaction.response.send_message(f"Summary of study {study}")
            except discord.HTTPException as error:
                self.seen_study.set_exception(error)
                return
            await interaction.followup.send("18 of 23 had to re-explain their issue")
            try:
                await interaction.response.send_message("again")
            except discord.InteractionResponded as error:
                self.second_response_error.set_result(error)
            self.seen_study.set_result(study)

        self.tree.add_command(group)

    async def setup_hook(self) -> None:
        await self.tree.sync()


@pytest.mark.parametrize("in_dm", [False, True], ids=["guild", "dm"])
async def test_slash_command_group_is_handled(
    fake: FakeDiscord, start_client: ClientStarter, in_dm: bool
) -> None:
    client = await start_client(SummaryBot())

    synced = fake.commands()
    channel_id = None if in_dm else GENERAL_ID
    interaction = await fake.dispatch_slash_command(
        "perspective summary", {"study": 3}, user_id=ALICE_ID, channel_id=channel_id
    )
    study = await asyncio.wait_for(client.seen_study, 5)
    await asyncio.wait_for(client.second_response_error, 5)

    assert [c["name"] for c in synced] == ["perspective"]
    assert synced[0]["options"][0]["name"] == "summary"
    assert len(fake.calls_to("PUT /applications/{application_id}/commands")) == 1
    assert study == 3
    responses = fake.responses_to(interaction)
    assert [r.type for r in responses] == [4]
    assert responses[0].latency is not None
    assert responses[0].latency < 3.0
    assert responses[0].data["content"] == "Summary of study 3"
    followups = fake.followups_for(interaction.token)
    assert [m["content"] for m in followups] == [
        "18 of 23 had to re-explain their issue"
    ]
    assert fake.validation_errors == []


async def test_second_callback_fails_with_40060(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(SummaryBot())
    interaction = await fake.dispatch_slash_command(
        "perspective summary", {"study": 1}, user_id=ALICE_ID, channel_id=GENERAL_ID
    )
    await asyncio.wait_for(client.seen_study, 5)
    url = f"{fake.api_base}/interactions/{interaction.id}/{interaction.token}/callback"

    async with aiohttp.ClientSession() as session:
        async with session.post(
            url, json={"type": 4, "data": {"content": "x"}}
        ) as response:
            body = await response.json()
            status = response.status

    assert status == 400
    assert body["code"] == 40060
    assert [r.error_code for r in fake.responses_to(interaction)] == [None, 40060]


async def test_late_callback_fails_with_10062() -> None:
    async with FakeDiscord(interaction_deadline=0.2) as server:
        populate(server)
        with point_discord_py_at(server):
            client = SummaryBot(respond_after=0.4)
            task = asyncio.create_task(client.start(server.token))
            await asyncio.wait_for(client.wait_until_ready(), 10)
            interaction = await server.dispatch_slash_command(
                "perspective summary",
                {"study": 2},
                user_id=ALICE_ID,
                channel_id=GENERAL_ID,
            )
            with pytest.raises(discord.NotFound) as caught:
                await asyncio.wait_for(client.seen_study, 5)
            await client.close()
            await asyncio.wait_for(task, 10)

    assert caught.value.code == 10062
    assert [r.error_code for r in server.responses_to(interaction)] == [10062]


class ConsentView(discord.ui.View):
    """A persistent view: no timeout and a fixed custom_id."""

    def __init__(
        self, clicks: asyncio.Queue[discord.Interaction] | None = None
    ) -> None:
        super().__init__(timeout=None)
        self.clicks = clicks

    @discord.ui.button(label="I agree", custom_id="perspective:consent:yes")
    async def agree(
        self, interaction: discord.Interaction, _: discord.ui.Button[Any]
    ) -> None:
        await interaction.response.send_message("Thanks, let's begin.")
        if self.clicks is not None:
            await self.clicks.put(interaction)


class ConsentBot(RecordingClient):
    def __init__(self) -> None:
        super().__init__(BASIC_INTENTS)
        self.clicks: asyncio.Queue[discord.Interaction] = asyncio.Queue()

    async def setup_hook(self) -> None:
        self.add_view(ConsentView(self.clicks))


@pytest.mark.parametrize("in_dm", [False, True], ids=["guild", "dm"])
async def test_persistent_view_click_after_restart(
    fake: FakeDiscord, start_client: ClientStarter, in_dm: bool
) -> None:
    first = await start_client(RecordingClient(BASIC_INTENTS))
    if in_dm:
        target: discord.abc.Messageable = await first.fetch_user(ALICE_ID)
    else:
        channel = first.get_channel(GENERAL_ID)
        assert isinstance(channel, discord.TextChannel)
        target = channel
    invitation = await target.send("Join the interview?", view=ConsentView())
    await first.close()

    second = await start_client(ConsentBot())
    interaction = await fake.dispatch_button_click(
        "perspective:consent:yes",
        user_id=ALICE_ID,
        channel_id=None if in_dm else GENERAL_ID,
    )
    clicked = await next_item(second.clicks)

    assert fake.identify_count == 2
    assert clicked.message is not None
    assert clicked.message.id == invitation.id
    assert clicked.user.id == ALICE_ID
    assert [r.type for r in fake.responses_to(interaction)] == [4]


# Disconnects and resumes


async def test_disconnect_leads_to_resume(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    await fake.dispatch_message_create(user_id=ALICE_ID, content="before")
    await next_item(client.messages)

    await fake.disconnect(4000)
    await asyncio.wait_for(client.resumed.wait(), 10)
    await fake.dispatch_message_create(user_id=ALICE_ID, content="after")
    after = await next_item(client.messages)

    assert fake.resume_count == 1
    assert fake.identify_count == 1
    assert fake.connection_paths == ["/gateway", "/gateway/resume"]
    assert fake.resume_payloads[0]["session_id"] == fake.hub.session.session_id  # type: ignore[union-attr]
    assert after.content == "after"


async def test_missed_dispatch_is_replayed_on_resume(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))

    await fake.disconnect(4000)
    sent = await fake.dispatch_message_create(user_id=ALICE_ID, content="while away")
    received = await next_item(client.messages)
    await asyncio.wait_for(client.resumed.wait(), 10)

    assert received.id == int(sent["id"])
    assert client.messages.empty()


async def test_replayed_message_is_delivered_twice(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    sent = await fake.dispatch_message_create(user_id=ALICE_ID, content="my answer")
    first = await next_item(client.messages)

    fake.replay_after_resume(int(sent["id"]))
    await fake.disconnect(4000)
    second = await next_item(client.messages)
    await asyncio.wait_for(client.resumed.wait(), 10)

    assert first.id == int(sent["id"])
    assert second.id == int(sent["id"])
    assert second.content == "my answer"


async def test_invalid_session_leads_to_new_identify(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    await start_client(RecordingClient(BASIC_INTENTS))

    await fake.disconnect(4009)
    await fake.wait_until(lambda: fake.identify_count == 2)

    assert fake.hub.invalid_session_count == 1
    assert fake.resume_count == 0


async def test_reconnect_opcode_leads_to_resume(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))

    await fake.request_reconnect()
    await asyncio.wait_for(client.resumed.wait(), 10)

    assert fake.resume_count == 1


# More REST behaviour


async def test_wrong_token_fails_login(fake: FakeDiscord) -> None:
    client = discord.Client(intents=BASIC_INTENTS)

    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()

    assert fake.rest_calls[0].status == 401


async def test_wrong_method_answers_405(fake: FakeDiscord) -> None:
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.delete(fake.api_base + "/users/@me") as response:
            body = await response.json()
            status = response.status

    assert status == 405
    assert body == {"code": 0, "message": "405: Method Not Allowed"}


async def test_channel_history_lists_newest_first(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    channel = client.get_channel(GENERAL_ID)
    assert isinstance(channel, discord.TextChannel)
    for text in ("one", "two", "three"):
        await channel.send(text)

    history = [message.content async for message in channel.history(limit=2)]

    assert history == ["three", "two"]


async def test_missing_spec_sets_skip_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("PERSPECTIVE_SPECS_DIR", str(tmp_path))
    async with FakeDiscord() as server:
        populate(server)
        headers = {"Authorization": f"Bot {server.token}"}
        url = f"{server.api_base}/channels/{GENERAL_ID}/messages"
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.post(url, json={"content": "hi", "tts": "yes"}) as reply:
                status = reply.status

    assert server.validation_skipped_reason is not None
    assert str(tmp_path) in server.validation_skipped_reason
    assert status == 200
    assert server.validation_errors == []


async def test_zstd_stream_frames_decompress(fake: FakeDiscord) -> None:
    zstandard = pytest.importorskip("zstandard")
    url = fake.gateway_url + "?v=10&encoding=json&compress=zstd-stream"
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        hello = json.loads(decompressor.decompress(await ws.receive_bytes(timeout=5)))
        await ws.send_json({"op": 1, "d": None})
        ack = json.loads(decompressor.decompress(await ws.receive_bytes(timeout=5)))

    assert hello["op"] == 10
    assert ack["op"] == 11


class DeferringBot(RecordingClient):
    """Defers /perspective summary, then edits the original response."""

    def __init__(self) -> None:
        super().__init__(BASIC_INTENTS)
        self.tree = app_commands.CommandTree(self)
        self.original: asyncio.Future[discord.InteractionMessage] = (
            asyncio.get_running_loop().create_future()
        )
        group = app_commands.Group(name="perspective", description="Research studies")

        @group.command(name="summary", description="Summarise a study")
        async def summary(interaction: discord.Interaction, study: int) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(content=f"Themes for {study}")
            self.original.set_result(await interaction.original_response())

        self.tree.add_command(group)


async def test_deferred_response_edits_original(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(DeferringBot())

    interaction = await fake.dispatch_slash_command(
        "perspective summary", {"study": 7}, user_id=ALICE_ID, channel_id=GENERAL_ID
    )
    original = await asyncio.wait_for(client.original, EVENT_TIMEOUT)

    assert [r.type for r in fake.responses_to(interaction)] == [5]
    assert original.content == "Themes for 7"
    assert not original.flags.loading
    stored = fake.messages_in(GENERAL_ID)
    assert [m["content"] for m in stored] == ["Themes for 7"]
    assert stored[0]["interaction_metadata"]["id"] == str(interaction.id)


class StepView(discord.ui.View):
    """A view whose button edits its own message (callback type 7)."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Next question", custom_id="perspective:next")
    async def next_question(
        self, interaction: discord.Interaction, _: discord.ui.Button[Any]
    ) -> None:
        await interaction.response.edit_message(content="Question 2 of 5", view=None)


async def test_button_edit_message_updates_stored_message(
    fake: FakeDiscord, start_client: ClientStarter
) -> None:
    client = await start_client(RecordingClient(BASIC_INTENTS))
    alice = await client.fetch_user(ALICE_ID)
    sent = await alice.send("Question 1 of 5", view=StepView())

    interaction = await fake.dispatch_button_click("perspective:next", user_id=ALICE_ID)
    await fake.wait_until(lambda: bool(fake.responses_to(interaction)))

    assert [r.type for r in fake.responses_to(interaction)] == [7]
    stored = fake.dms_to(ALICE_ID)
    assert [m["id"] for m in stored] == [str(sent.id)]
    assert stored[0]["content"] == "Question 2 of 5"
    assert stored[0]["components"] == []


async def test_resume_with_future_seq_closes_with_4007(fake: FakeDiscord) -> None:
    url = fake.gateway_url + "?v=10&encoding=json"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as ws:
            await ws.receive_json(timeout=5)
            identify = {"token": fake.token, "intents": 1, "properties": {}}
            await ws.send_json({"op": 2, "d": identify})
            ready = await ws.receive_json(timeout=5)
            # Any close code but 1000 and 1001 keeps the session resumable.
            await ws.close(code=4000)
        async with session.ws_connect(url) as ws:
            await ws.receive_json(timeout=5)
            resume = {
                "token": fake.token,
                "session_id": ready["d"]["session_id"],
                "seq": 999,
            }
            await ws.send_json({"op": 6, "d": resume})
            closing = await ws.receive(timeout=5)

    assert ready["t"] == "READY"
    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert closing.data == 4007
