"""Socket Mode side of the fake Slack: WebSocket links, envelopes and acks.

apps.connections.open hands out ``ws://127.0.0.1:PORT/link/?ticket=...``; each
ticket opens one connection. On connect the fake sends Slack's ``hello``
message, then envelopes on request, and records every acknowledgement
(``{"envelope_id": ..., "payload": ...}``) with its latency in real
seconds (:func:`time.monotonic`, whatever clock the fake was given). ``disconnect``
messages make the client fetch a new URL and reconnect, as Slack does about
hourly ("refresh_requested") and before maintenance ("warning").
Message shapes follow docs.slack.dev/apis/events-api/using-socket-mode and the
mock server in slackapi/python-slack-sdk's tests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.slack_records import Ack

logger = logging.getLogger(__name__)

# Slash command and interactivity envelopes accept a response payload in the
# ack; Events API envelopes do not.
_ACCEPTS_RESPONSE = {"events_api": False, "slash_commands": True, "interactive": True}


class SocketModeHub:
    """The fake's Socket Mode endpoint and its record of envelopes and acks."""

    def __init__(
        self,
        *,
        app_id: str,
        on_ack: Callable[[Ack, str], None],
    ) -> None:
        self.app_id = app_id
        self.on_ack = on_ack
        self.base_ws_url = ""
        self.connections_opened = 0
        self.acks: list[Ack] = []
        self.received: list[Any] = []
        self._tickets: set[str] = set()
        self._open: list[web.WebSocketResponse] = []
        self._draining: set[int] = set()
        self._sent: dict[str, tuple[float, str]] = {}
        self._ack_events: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def open_connections(self) -> int:
        """Number of WebSocket connections currently open."""
        return len(self._open)

    def issue_url(self) -> str:
        """Return a one-time WebSocket URL, as apps.connections.open does."""
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return f"{self.base_ws_url}link/?ticket={ticket}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one Socket Mode WebSocket connection."""
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            logger.warning("Socket Mode connection with unknown ticket rejected")
            return web.Response(status=401, text="invalid_ticket")
        self._tickets.discard(ticket)
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self.connections_opened += 1
        self._open.append(socket)
        hello = {
            "type": "hello",
            "num_connections": len(self._open),
            "debug_info": {
                "host": "applink-fake",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        await socket.send_str(json.dumps(hello))
        logger.info("Socket Mode connection %d opened", self.connections_opened)
        self._notify()
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    self._receive(message.data)
        finally:
            if socket in self._open:
                self._open.remove(socket)
            self._draining.discard(id(socket))
            logger.info("Socket Mode connection closed")
            self._notify()
        return socket

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _receive(self, data: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            logger.warning("Socket Mode client sent invalid JSON: %.80s", data)
            self.received.append(data)
            return
        self.received.append(message)
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not isinstance(envelope_id, str) or envelope_id not in self._sent:
            logger.warning("Socket Mode ack for unknown envelope %s", envelope_id)
            return
        sent_at, kind = self._sent[envelope_id]
        ack = Ack(
            kind=f"socket:{kind}",
            id=envelope_id,
            sent_at=sent_at,
            acked_at=time.monotonic(),
            payload=message.get("payload"),
        )
        self.acks.append(ack)
        self.on_ack(ack, kind)
        event = self._ack_events.get(envelope_id)
        if event is not None:
            event.set()

    async def wait_for_connections(
        self,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - the wait is part of the API
    ) -> None:
        """Wait until ``count`` connections have been opened in total."""
        async with asyncio.timeout(timeout):
            while self.connections_opened < count or not self._usable():
                await self._changed.wait()

    def _usable(self) -> list[web.WebSocketResponse]:
        return [
            socket
            for socket in self._open
            if id(socket) not in self._draining and not socket.closed
        ]

    async def send_envelope(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
        connect_timeout: float = 5.0,
    ) -> str:
        """Send an envelope on the newest usable connection; return its id."""
        if envelope_type not in _ACCEPTS_RESPONSE:
            raise ValueError(
                f"unknown envelope type {envelope_type!r}; "
                "use events_api, slash_commands or interactive"
            )
        async with asyncio.timeout(connect_timeout):
            while not self._usable():
                await self._changed.wait()
        socket = self._usable()[-1]
        envelope_id = envelope_id or str(uuid.uuid4())
        if accepts_response_payload is None:
            accepts_response_payload = _ACCEPTS_RESPONSE[envelope_type]
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": envelope_type,
            "accepts_response_payload": accepts_response_payload,
        }
        if envelope_type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        self._sent[envelope_id] = (time.monotonic(), envelope_type)
        self._ack_events.setdefault(envelope_id, asyncio.Event())
        await socket.send_str(json.dumps(envelope))
        logger.debug("Socket Mode envelope %s (%s) sent", envelope_id, envelope_type)
        return envelope_id

    async def wait_for_ack(
        self,
        envelope_id: str,
        timeout: float = 3.0,  # noqa: ASYNC109 - the wait is part of the API
    ) -> Ack:
        """Wait for the ack of ``envelope_id``; raise TimeoutError without one."""
        event = self._ack_events.setdefault(envelope_id, asyncio.Event())
        async with asyncio.timeout(timeout):
            await event.wait()
        return next(ack for ack in reversed(self.acks) if ack.id == envelope_id)

    async def send_disconnect(
        self, reason: str = "refresh_requested", *, close_after: float | None = None
    ) -> None:
        """Send Slack's ``disconnect`` message on every open connection.

        The connection stays open for the client to close, or is closed by the
        fake after ``close_after`` seconds, as Slack does once the refresh
        window ends.
        """
        message = json.dumps(
            {
                "type": "disconnect",
                "reason": reason,
                "debug_info": {"host": "applink-fake"},
            }
        )
        for socket in list(self._usable()):
            self._draining.add(id(socket))
            await socket.send_str(message)
            if close_after is not None:
                task = asyncio.create_task(self._close_later(socket, close_after))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        self._notify()

    @staticmethod
    async def _close_later(socket: web.WebSocketResponse, delay: float) -> None:
        await asyncio.sleep(delay)
        await socket.close()

    async def close_all(self) -> None:
        """Close every open connection (used when the fake stops)."""
        for task in list(self._tasks):
            task.cancel()
        for socket in list(self._open):
            await socket.close()
