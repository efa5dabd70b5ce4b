"""A fake Slack for tests: Web API, Events API over HTTP, and Socket Mode.

``FakeSlack`` is an aiohttp server on 127.0.0.1 that speaks Slack's wire
protocol, so the real slack_sdk ``AsyncWebClient`` and slack-bolt ``AsyncApp``
can run against it, and that enforces Slack's documented limits so a breach
fails a test::

    async with FakeSlack() as slack:
        slack.add_user("U0PARTICIP1", "ada")
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        await client.chat_postMessage(channel="U0PARTICIP1", text="Hello")
        assert slack.limit_violations == []

Where the parts live:

- limits and their sources: :mod:`tests.fakes.slack_limits`
- Block Kit and message checks: :mod:`tests.fakes.slack_blocks`
- Web API dispatch, auth, scopes and rate limits: :mod:`tests.fakes.slack_web`
- chat.* and reactions.*: :mod:`tests.fakes.slack_chat`
- views.* and files.*: :mod:`tests.fakes.slack_views`
- deliveries to the app and response URLs: :mod:`tests.fakes.slack_http`
- Socket Mode: :mod:`tests.fakes.slack_socket`
- payload builders and request signing: :mod:`tests.fakes.slack_payloads`
- workspace state and recorded traffic: :mod:`tests.fakes.slack_state` and
  :mod:`tests.fakes.slack_records`
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes import slack_payloads as payloads
from tests.fakes.slack_blocks import Problem, check_message, check_view
from tests.fakes.slack_http import Delivery, HttpTraffic
from tests.fakes.slack_limits import DEFAULT_BOT_SCOPES, RateLimit, limit
from tests.fakes.slack_records import (
    Ack,
    Channel,
    Clock,
    EphemeralMessage,
    LimitViolation,
    Message,
    MessageUpdate,
    RecordedCall,
    ResponseUrlPost,
    SystemClock,
    UploadedFile,
    User,
    View,
)
from tests.fakes.slack_socket import SocketModeHub
from tests.fakes.slack_state import Workspace
from tests.fakes.slack_web import InjectedFailure, WebApi

logger = logging.getLogger(__name__)

__all__ = ["Delivery", "FakeSlack", "payloads"]


class FakeSlack(HttpTraffic):
    """A fake Slack workspace served over loopback; use ``async with``."""

    def __init__(
        self,
        *,
        team_id: str = "T0FAKETEAM1",
        team_domain: str = "fake-workspace",
        app_id: str = "A0FAKEAPP01",
        bot_token: str = "xoxb-1111-2222-fakebottoken",
        app_token: str = "xapp-1-A0FAKEAPP01-3333-fakeapptoken",
        signing_secret: str = "fake-signing-secret-0123456789ab",
        bot_user_id: str = "U0FAKEBOT01",
        bot_id: str = "B0FAKEBOT01",
        bot_name: str = "perspective",
        scopes: tuple[str, ...] | list[str] = DEFAULT_BOT_SCOPES,
        rate_limiting: bool = True,
        rate_limits: Mapping[str, RateLimit] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.team_id = team_id
        self.app_id = app_id
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.clock: Clock = clock or SystemClock()
        self.workspace = Workspace(
            team_id=team_id,
            team_domain=team_domain,
            app_id=app_id,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            bot_name=bot_name,
            scopes=tuple(scopes),
            clock=self.clock,
        )
        self.web = WebApi(
            self.workspace,
            bot_token=bot_token,
            app_token=app_token,
            rate_limiting=rate_limiting,
            rate_limits=rate_limits,
        )
        self.socket = SocketModeHub(app_id=app_id, on_ack=self._check_ack)
        self.web.open_socket_url = self.socket.issue_url
        self.acks: list[Ack] = []
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle -------------------------------------------------------------

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind a free port on 127.0.0.1 and start serving."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{key}", self._handle_upload)
        app.router.add_post("/response/{token:.+}", self._handle_response_url)
        app.router.add_get("/files/{file_id}/{name}", self._handle_file_download)
        app.router.add_get("/link/", self.socket.handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1]
        self.socket.base_ws_url = f"ws://127.0.0.1:{self._port}/"
        self._session = aiohttp.ClientSession()
        logger.info("Fake Slack listening on %s", self.base_url)

    async def stop(self) -> None:
        """Close Socket Mode connections, the delivery client and the server."""
        await self.socket.close_all()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        logger.info("Fake Slack stopped")

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """Root URL of the fake, ``http://127.0.0.1:PORT/``."""
        return f"http://127.0.0.1:{self._port}/"

    @property
    def api_url(self) -> str:
        """Web API base URL to pass as ``AsyncWebClient(base_url=...)``."""
        return self.base_url + "api/"

    # -- workspace setup -------------------------------------------------------

    def add_user(self, user_id: str, name: str, **options: Any) -> User:
        """Add a member; options as :meth:`Workspace.add_user` (tz, deleted...)."""
        return self.workspace.add_user(user_id, name, **options)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        members: list[str] | tuple[str, ...] = (),
        bot_is_member: bool = True,
    ) -> Channel:
        """Add a public or private channel."""
        return self.workspace.add_channel(
            channel_id,
            name,
            is_private=is_private,
            members=members,
            bot_is_member=bot_is_member,
        )

    def add_usergroup(self, group_id: str, handle: str, users: list[str]) -> None:
        """Add a user group for usergroups.users.list."""
        self.workspace.add_usergroup(group_id, handle, users)

    def add_file(
        self, file_id: str, name: str, content: bytes, *, user: str
    ) -> dict[str, Any]:
        """Store a file a user shared; return its file object for events.

        The object's ``url_private`` is served by the fake to requests that
        carry the bot token, as Slack serves files to apps.
        """
        uploaded = UploadedFile(
            id=file_id,
            filename=name,
            length=len(content),
            upload_key="",
            content=content,
            completed=True,
        )
        self.workspace.files[file_id] = uploaded
        file = payloads.file_object(file_id, name=name, user=user)
        file["size"] = len(content)
        file["url_private"] = f"{self.base_url}files/{file_id}/{name}"
        file["url_private_download"] = file["url_private"]
        return file

    def issue_trigger(self, user_id: str) -> str:
        """Issue a trigger_id for ``user_id`` (valid 3 seconds, single use)."""
        return self.workspace.issue_trigger(user_id)

    def dm_channel(self, user_id: str) -> str:
        """Return the id of the bot's DM with ``user_id``, opening it if needed."""
        channel, _ = self.workspace.dm_with(user_id)
        return channel.id

    # -- recorded traffic ------------------------------------------------------

    @property
    def calls(self) -> list[RecordedCall]:
        """Every Web API request, in order, with the fake's response."""
        return self.web.calls

    def calls_to(self, method: str) -> list[RecordedCall]:
        """The recorded requests to one Web API method."""
        return [call for call in self.web.calls if call.method == method]

    def messages_in(
        self, channel_id: str, *, include_deleted: bool = False
    ) -> list[Message]:
        """Messages stored in a channel (bot posts, uploads, in_channel replies)."""
        messages = self.workspace.messages.get(channel_id, [])
        return [m for m in messages if include_deleted or not m.deleted]

    @property
    def ephemeral_messages(self) -> list[EphemeralMessage]:
        """chat.postEphemeral messages and ephemeral response_url replies."""
        return self.workspace.ephemeral

    @property
    def updates(self) -> list[MessageUpdate]:
        """Every chat.update that changed a message."""
        return self.workspace.updates

    @property
    def uploaded_files(self) -> list[UploadedFile]:
        """Files uploaded by the app, with their content, in upload order."""
        return [f for f in self.workspace.files.values() if f.upload_key]

    @property
    def home_views(self) -> dict[str, View]:
        """The Home tab currently published for each user id."""
        return self.workspace.home_views

    @property
    def modals(self) -> list[View]:
        """Every modal opened, pushed or updated, in order."""
        return [view for view in self.workspace.view_log if view.type == "modal"]

    @property
    def view_log(self) -> list[View]:
        """Every modal and Home tab change, in order."""
        return self.workspace.view_log

    @property
    def response_url_posts(self) -> list[ResponseUrlPost]:
        """Every post the app made to a response_url issued by the fake."""
        return self.workspace.response_url_posts

    @property
    def limit_violations(self) -> list[LimitViolation]:
        """Every breach of a Slack limit, rejected or only warned about."""
        return self.workspace.violations

    def limit_errors(self) -> list[LimitViolation]:
        """The breaches Slack rejects (severity ``error``)."""
        return [v for v in self.workspace.violations if v.severity == "error"]

    # -- failure injection -----------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        error: str = "ratelimited",
        status: int = 429,
        retry_after: int | None = 2,
        count: int = 1,
    ) -> None:
        """Fail the next ``count`` calls to ``method`` with ``error``.

        With status 429 the response carries ``Retry-After: retry_after``; a
        short value such as 1 keeps retrying tests fast.
        """
        queue = self.web.fail_next_queue.setdefault(method, deque())
        queue.append(InjectedFailure(error, status, retry_after, count))

    def fail_when(
        self,
        method: str,
        error: str,
        *,
        match: Mapping[str, str] | Callable[[dict[str, Any]], bool] | None = None,
        count: int | None = None,
        status: int = 200,
        retry_after: int | None = None,
    ) -> None:
        """Fail the calls to ``method`` whose arguments match with ``error``.

        ``match`` is a mapping of argument values (compared as strings) or a
        predicate on the merged arguments; ``count=None`` keeps the rule.
        Example: ``fail_when("conversations.open", "user_not_found",
        match={"users": "U0GONE0001"})``.
        """
        predicate: Callable[[dict[str, Any]], bool] | None
        if match is None or callable(match):
            predicate = match
        else:
            expected = dict(match)

            def predicate(args: dict[str, Any]) -> bool:
                return all(str(args.get(k)) == v for k, v in expected.items())

        rules = self.web.fail_rules.setdefault(method, [])
        rules.append(InjectedFailure(error, status, retry_after, count, predicate))

    def set_rate_limit(self, key: str, rate: RateLimit | None) -> None:
        """Change one rate limit (``None`` lifts it) and reset the buckets.

        Keys are method names; ``chat.postMessage`` is per channel and
        ``chat.postMessage:workspace`` is the workspace-wide posting limit.
        """
        self.web.rate_limits[key] = rate
        self.web.reset_rate_limits()

    # -- HTTP handlers ---------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except json.JSONDecodeError:
                    return web.json_response({"ok": False, "error": "invalid_json"})
                if not isinstance(body, dict):
                    return web.json_response({"ok": False, "error": "json_not_object"})
                args.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        args[key] = value.file.read()
                    else:
                        args[key] = value
        status, body, headers = await self.web.handle(
            method, args, request.headers, self.base_url
        )
        return web.json_response(body, status=status, headers=headers)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        if request.content_type == "multipart/form-data":
            form = await request.post()
            field_value = form.get("file") or form.get("filename")
            content = b""
            if isinstance(field_value, web.FileField):
                content = field_value.file.read()
        else:
            content = await request.read()
        status, text = self.web.receive_upload(request.match_info["key"], content)
        return web.Response(status=status, text=text, content_type="text/plain")

    async def _handle_file_download(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            # Slack serves an HTML sign-in page to unauthenticated requests.
            return web.Response(status=302, headers={"Location": self.base_url})
        uploaded = self.workspace.files.get(request.match_info["file_id"])
        if uploaded is None or uploaded.content is None:
            return web.Response(status=404)
        return web.Response(body=uploaded.content)

    # -- acknowledgements ------------------------------------------------------

    def _check_ack(self, ack: Ack, kind: str) -> None:
        """Record an ack, flag it if late, and check any response payload."""
        self.acks.append(ack)
        window = limit("ack.seconds")
        if ack.latency > window:
            problem = Problem(
                "ack.seconds",
                f"/{ack.kind}/{ack.id}",
                f"acknowledged after {ack.latency:.2f} s",
                "error",
                window * 1000,
                int(ack.latency * 1000),
            )
            self.workspace.record_problems(ack.kind, [problem])
        payload = ack.payload
        if not isinstance(payload, dict) or not payload:
            return
        surface = f"{ack.kind}:response"
        if kind == "slash_commands" and ("text" in payload or "blocks" in payload):
            self.workspace.record_problems(surface, check_message(payload))
        action = payload.get("response_action")
        if kind == "interactive" and action in ("update", "push"):
            self.workspace.record_problems(
                surface, check_view(payload.get("view"), expected_type="modal")
            )

    # -- Socket Mode -----------------------------------------------------------

    @property
    def connections_opened(self) -> int:
        """Socket Mode connections opened so far."""
        return self.socket.connections_opened

    async def send_envelope(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
    ) -> str:
        """Send a Socket Mode envelope; return its envelope_id."""
        return await self.socket.send_envelope(
            envelope_type,
            payload,
            envelope_id=envelope_id,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
            accepts_response_payload=accepts_response_payload,
        )

    async def send_event(
        self, event: dict[str, Any], *, event_id: str | None = None, **options: Any
    ) -> str:
        """Send ``event`` in an ``events_api`` envelope; return the envelope_id."""
        envelope = payloads.event_callback(
            event,
            team_id=self.team_id,
            api_app_id=self.app_id,
            bot_user_id=self.bot_user_id,
            event_id=event_id or f"Ev{self.workspace.new_id('')}",
        )
        return await self.send_envelope("events_api", envelope, **options)

    async def wait_for_ack(
        self,
        envelope_id: str,
        timeout: float = 3.0,  # noqa: ASYNC109 - the wait is part of the API
    ) -> Ack:
        """Wait for the app's ack of an envelope; raise TimeoutError otherwise."""
        return await self.socket.wait_for_ack(envelope_id, timeout)

    async def wait_for_connections(
        self,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - the wait is part of the API
    ) -> None:
        """Wait until ``count`` Socket Mode connections were opened in total."""
        await self.socket.wait_for_connections(count, timeout)

    async def send_disconnect(
        self, reason: str = "refresh_requested", *, close_after: float | None = None
    ) -> None:
        """Send Slack's ``disconnect`` message on the open connections."""
        await self.socket.send_disconnect(reason, close_after=close_after)
