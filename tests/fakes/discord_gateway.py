"""Gateway WebSocket of the fake Discord: HELLO, IDENTIFY, RESUME and dispatches.

Opcodes, close codes, intents and the resume flow follow Discord's gateway
documentation (developers/events/gateway.mdx, gateway-events.mdx and
topics/opcodes-and-status-codes.mdx in discord/discord-api-docs). One session
is active at a time, which matches one unsharded bot. Dispatches are kept in
the session history so that a RESUME can replay what the client missed.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import secrets
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_state import DiscordState

logger = logging.getLogger(__name__)

# Opcodes (opcodes-and-status-codes.mdx, "Gateway Opcodes").
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
PRESENCE_UPDATE = 3
VOICE_STATE_UPDATE = 4
RESUME = 6
RECONNECT = 7
REQUEST_GUILD_MEMBERS = 8
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11

# Close codes (opcodes-and-status-codes.mdx, "Gateway Close Event Codes").
UNKNOWN_ERROR = 4000
UNKNOWN_OPCODE = 4001
DECODE_ERROR = 4002
NOT_AUTHENTICATED = 4003
AUTHENTICATION_FAILED = 4004
ALREADY_AUTHENTICATED = 4005
INVALID_SEQ = 4007
SESSION_TIMED_OUT = 4009
INVALID_API_VERSION = 4012
INVALID_INTENTS = 4013
DISALLOWED_INTENTS = 4014

# Intent bits (gateway.mdx, "List of Intents").
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
GUILD_MESSAGE_TYPING = 1 << 11
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
DIRECT_MESSAGE_TYPING = 1 << 14
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

# Events that need an intent, as (intent in a guild, intent in a DM). Events
# not listed here pass through whatever the intents are, as Discord documents
# for events outside every intent (INTERACTION_CREATE, READY, RESUMED).
_EVENT_INTENTS: dict[str, tuple[int, int]] = {
    "MESSAGE_CREATE": (GUILD_MESSAGES, DIRECT_MESSAGES),
    "MESSAGE_UPDATE": (GUILD_MESSAGES, DIRECT_MESSAGES),
    "MESSAGE_DELETE": (GUILD_MESSAGES, DIRECT_MESSAGES),
    "MESSAGE_DELETE_BULK": (GUILD_MESSAGES, GUILD_MESSAGES),
    "MESSAGE_REACTION_ADD": (GUILD_MESSAGE_REACTIONS, DIRECT_MESSAGE_REACTIONS),
    "MESSAGE_REACTION_REMOVE": (GUILD_MESSAGE_REACTIONS, DIRECT_MESSAGE_REACTIONS),
    "TYPING_START": (GUILD_MESSAGE_TYPING, DIRECT_MESSAGE_TYPING),
    "GUILD_MEMBER_ADD": (GUILD_MEMBERS, GUILD_MEMBERS),
    "GUILD_MEMBER_REMOVE": (GUILD_MEMBERS, GUILD_MEMBERS),
    "PRESENCE_UPDATE": (GUILD_PRESENCES, GUILD_PRESENCES),
}

# Fields that the MESSAGE_CONTENT intent governs, from gateway.mdx "Message
# Content Intent": content, embeds, attachments, components and poll.
_CONTENT_FIELDS: dict[str, Any] = {
    "content": "",
    "embeds": [],
    "attachments": [],
    "components": [],
}


def blank_message_content(
    data: Mapping[str, Any], *, intents: int, bot_id: int
) -> dict[str, Any]:
    """Apply Discord's message content rule to a MESSAGE_CREATE or UPDATE body.

    gateway.mdx, "Message Content Intent": an app without MESSAGE_CONTENT
    (1 << 15) receives empty content, embeds, attachments, components and poll,
    except in messages the app sent, in DMs with the app, and in messages that
    mention the app.
    """
    result = dict(data)
    if intents & MESSAGE_CONTENT or "guild_id" not in data:
        return result
    author = data.get("author") or {}
    if str(author.get("id")) == str(bot_id):
        return result
    mentioned = {str(user.get("id")) for user in data.get("mentions") or []}
    if str(bot_id) in mentioned:
        return result
    for key, empty in _CONTENT_FIELDS.items():
        if key in result:
            result[key] = copy.copy(empty)
    result.pop("poll", None)
    return result


def zstd_stream_compressor() -> Callable[[bytes], bytes] | None:
    """Return a zstd-stream compressor function, or None without a zstd module.

    discord.py requests zstd-stream when it can import ``zstandard`` or, on
    Python 3.14, ``compression.zstd``, and zlib-stream otherwise. It runs
    in the same process as this fake, so the same module is importable here.
    Each WebSocket message must decompress to one whole JSON document, so every
    message ends with a block flush of the one shared stream.
    """
    try:
        import zstandard
    except ImportError:
        pass
    else:
        stream = zstandard.ZstdCompressor().compressobj()

        def compress_zstandard(data: bytes) -> bytes:
            compressed = bytes(stream.compress(data))
            return compressed + bytes(stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))

        return compress_zstandard
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        return None
    compressor = zstd.ZstdCompressor()

    def compress_stdlib(data: bytes) -> bytes:
        mode = zstd.ZstdCompressor.FLUSH_BLOCK
        return bytes(compressor.compress(data, mode=mode))

    return compress_stdlib


class GatewayConnection:
    """One WebSocket connection and its transport compression context."""

    def __init__(self, ws: web.WebSocketResponse, path: str, compress: str) -> None:
        self.ws = ws
        self.path = path
        self.compress = compress
        self.closed_by_server = False
        self.authenticated = False
        # zlib-stream uses one deflate context for the whole connection, and
        # every message ends with a Z_SYNC_FLUSH marker (gateway.mdx,
        # "Transport Compression").
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd = zstd_stream_compressor() if compress == "zstd-stream" else None

    @property
    def supported(self) -> bool:
        return self.compress in ("", "zlib-stream") or self._zstd is not None

    async def send(self, payload: Mapping[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        if self._zlib is not None:
            data = self._zlib.compress(text.encode()) + self._zlib.flush(
                zlib.Z_SYNC_FLUSH
            )
            await self.ws.send_bytes(data)
        elif self._zstd is not None:
            await self.ws.send_bytes(self._zstd(text.encode()))
        else:
            await self.ws.send_str(text)


@dataclass
class GatewaySession:
    """A session from READY to its end, with every dispatch it was sent."""

    session_id: str
    intents: int
    identify: dict[str, Any]
    seq: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    resumable: bool = True
    guilds_sent: bool = False
    connection: GatewayConnection | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class GatewayHub:
    """Accept gateway connections and deliver dispatches to the live session.

    NOTE: heartbeats are acknowledged and counted, but a client that stops
    sending them is not disconnected, unlike on Discord. The gateway rate limit
    of 120 events per 60 seconds is not enforced either.
    """

    def __init__(
        self,
        state: DiscordState,
        *,
        heartbeat_interval_ms: int,
        privileged_intents_enabled: int,
    ) -> None:
        self.state = state
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.privileged_intents_enabled = privileged_intents_enabled
        self.gateway_url = ""
        self.resume_gateway_url = ""
        self.session: GatewaySession | None = None
        self.connections: list[GatewayConnection] = []
        self.identify_payloads: list[dict[str, Any]] = []
        self.resume_payloads: list[dict[str, Any]] = []
        self.presence_updates: list[dict[str, Any]] = []
        self.member_requests: list[dict[str, Any]] = []
        self.client_close_codes: list[int | None] = []
        self.filtered_dispatches: list[tuple[str, dict[str, Any]]] = []
        self.heartbeat_count = 0
        self.resumed_count = 0
        self.invalid_session_count = 0
        self._replay_message_ids: list[str] = []

    # WebSocket handling

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(ws, request.path, request.query.get("compress", ""))
        self.connections.append(conn)
        logger.info(
            "gateway connection %d opened on %s (compress=%r)",
            len(self.connections),
            request.path,
            conn.compress,
        )
        try:
            if not await self._check_query(conn, request.query):
                return ws
            await conn.send(
                {
                    "op": HELLO,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                    "s": None,
                    "t": None,
                }
            )
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    await self._handle_text(conn, message.data)
                elif message.type is WSMsgType.BINARY:
                    await self._close(conn, DECODE_ERROR, "binary frames not accepted")
                elif message.type is WSMsgType.ERROR:
                    logger.warning("gateway connection error: %s", ws.exception())
                    break
        finally:
            self._detach(conn)
        return ws

    async def _check_query(
        self, conn: GatewayConnection, query: Mapping[str, str]
    ) -> bool:
        if query.get("v", "10") != "10":
            await self._close(conn, INVALID_API_VERSION, "only v=10 is served")
            return False
        if query.get("encoding", "json") != "json":
            await self._close(conn, DECODE_ERROR, "only encoding=json is served")
            return False
        if not conn.supported:
            logger.error("gateway compress=%r is not supported", conn.compress)
            await self._close(conn, UNKNOWN_ERROR, "unsupported compress value")
            return False
        return True

    def _detach(self, conn: GatewayConnection) -> None:
        session = self.session
        if not conn.closed_by_server:
            self.client_close_codes.append(conn.ws.close_code)
        if session is None or session.connection is not conn:
            return
        session.connection = None
        # A client that closes with 1000 or 1001 ends its session, so a later
        # RESUME with it is rejected (gateway.mdx, "Disconnecting").
        if not conn.closed_by_server and conn.ws.close_code in (1000, 1001):
            session.resumable = False
        logger.info(
            "gateway session %s detached (close code %s)",
            session.session_id,
            conn.ws.close_code,
        )

    async def _close(self, conn: GatewayConnection, code: int, reason: str) -> None:
        conn.closed_by_server = True
        await conn.ws.close(code=code, message=reason.encode())

    async def _handle_text(self, conn: GatewayConnection, text: str) -> None:
        try:
            payload = json.loads(text)
            op = payload["op"]
        except (ValueError, KeyError, TypeError):
            await self._close(conn, DECODE_ERROR, "invalid JSON payload")
            return
        data = payload.get("d")
        if op == HEARTBEAT:
            self.heartbeat_count += 1
            await conn.send({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            await self._identify(conn, data or {})
        elif op == RESUME:
            await self._resume(conn, data or {})
        elif not conn.authenticated:
            await self._close(conn, NOT_AUTHENTICATED, "identify first")
        elif op == PRESENCE_UPDATE:
            self.presence_updates.append(data)
        elif op == REQUEST_GUILD_MEMBERS:
            await self._send_member_chunk(data or {})
        elif op == VOICE_STATE_UPDATE:
            logger.debug("ignoring voice state update %s", data)
        else:
            await self._close(conn, UNKNOWN_OPCODE, f"unknown opcode {op}")

    async def _identify(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        if conn.authenticated:
            await self._close(conn, ALREADY_AUTHENTICATED, "already identified")
            return
        if data.get("token") != self.state.token:
            await self._close(conn, AUTHENTICATION_FAILED, "invalid token")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            await self._close(conn, INVALID_INTENTS, "intents missing or invalid")
            return
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents_enabled:
            await self._close(conn, DISALLOWED_INTENTS, "privileged intent disabled")
            return
        self.identify_payloads.append(copy.deepcopy(data))
        conn.authenticated = True
        session = GatewaySession(secrets.token_hex(16), intents, data, connection=conn)
        self.session = session
        logger.info("gateway IDENTIFY accepted, session %s", session.session_id)
        async with session.lock:
            await self._send_frame(session, "READY", self._ready_payload(session))
            for guild in self.state.guilds.values():
                with_members = bool(intents & GUILD_MEMBERS)
                body = self.state.guild_payload(guild, with_members=with_members)
                await self._send_frame(session, "GUILD_CREATE", body)
            session.guilds_sent = True

    def _ready_payload(self, session: GatewaySession) -> dict[str, Any]:
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**self.state.bot.payload(), "verified": True, "flags": 0},
            "guilds": [
                {"id": str(guild_id), "unavailable": True}
                for guild_id in self.state.guilds
            ],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.state.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
        }
        if "shard" in session.identify:
            ready["shard"] = session.identify["shard"]
        return ready

    async def _resume(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        self.resume_payloads.append(copy.deepcopy(data))
        if data.get("token") != self.state.token:
            await self._close(conn, AUTHENTICATION_FAILED, "invalid token")
            return
        session = self.session
        if (
            session is None
            or not session.resumable
            or data.get("session_id") != session.session_id
        ):
            # Invalid Session with d=false makes the client identify again
            # (gateway-events.mdx, "Invalid Session").
            self.invalid_session_count += 1
            await conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        last_seq = data.get("seq") or 0
        if not isinstance(last_seq, int) or last_seq > session.seq:
            await self._close(conn, INVALID_SEQ, f"invalid seq {last_seq!r}")
            return
        conn.authenticated = True
        async with session.lock:
            session.connection = conn
            missed = [f for f in session.history if f["s"] > last_seq]
            logger.info(
                "gateway RESUME of %s from seq %s, replaying %d dispatches",
                session.session_id,
                last_seq,
                len(missed),
            )
            for frame in missed:
                await conn.send(frame)
            for message_id in self._replay_message_ids:
                original = self._find_message_create(session, message_id)
                if original is not None:
                    await self._send_frame(session, "MESSAGE_CREATE", original["d"])
            self._replay_message_ids.clear()
            self.resumed_count += 1
            await self._send_frame(session, "RESUMED", {})

    async def _send_member_chunk(self, data: Mapping[str, Any]) -> None:
        self.member_requests.append(dict(data))
        guild = self.state.guilds.get(int(data.get("guild_id", 0)))
        session = self.session
        if guild is None or session is None:
            return
        requested_ids = {int(uid) for uid in data.get("user_ids") or []}
        prefix = str(data.get("query") or "").lower()
        members = [
            self.state.member_payload(guild, uid)
            for uid in guild.members
            if (not requested_ids or uid in requested_ids)
            and self.state.user(uid).username.lower().startswith(prefix)
        ]
        limit = int(data.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if "nonce" in data:
            chunk["nonce"] = data["nonce"]
        async with session.lock:
            await self._send_frame(session, "GUILD_MEMBERS_CHUNK", chunk)

    @staticmethod
    def _find_message_create(
        session: GatewaySession, message_id: str
    ) -> dict[str, Any] | None:
        for frame in session.history[::-1]:
            if frame["t"] == "MESSAGE_CREATE" and frame["d"].get("id") == message_id:
                return frame
        return None

    async def _send_frame(
        self, session: GatewaySession, event: str, data: dict[str, Any]
    ) -> int:
        """Number, record and send one dispatch; the caller holds session.lock."""
        session.seq += 1
        frame = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
        session.history.append(frame)
        conn = session.connection
        if conn is None or conn.ws.closed:
            logger.debug("dispatch %s #%d kept for replay", event, session.seq)
            return session.seq
        try:
            await conn.send(frame)
        except ConnectionResetError:
            # The client dropped the socket and the handler has not detached
            # it yet. The frame stays in the history for the RESUME.
            logger.debug("dispatch %s #%d kept for replay", event, session.seq)
        return session.seq

    # Test-facing operations

    def require_session(self) -> GatewaySession:
        if self.session is None:
            raise RuntimeError(
                "no gateway session yet: start the client and await "
                "FakeDiscord.wait_until_ready() before dispatching"
            )
        return self.session

    async def dispatch(self, event: str, data: Mapping[str, Any]) -> int | None:
        """Send a dispatch to the session, unless its intents exclude it.

        Returns the sequence number, or None when the event was filtered out.
        """
        session = self.require_session()
        body = copy.deepcopy(dict(data))
        needed = _EVENT_INTENTS.get(event)
        if needed is not None:
            intent = needed[0] if "guild_id" in body else needed[1]
            if not session.intents & intent:
                logger.debug("dispatch %s filtered out by intents", event)
                self.filtered_dispatches.append((event, body))
                return None
        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            body = blank_message_content(
                body, intents=session.intents, bot_id=self.state.bot.id
            )
        async with session.lock:
            return await self._send_frame(session, event, body)

    async def disconnect(self, code: int, *, resumable: bool) -> None:
        """Close the live connection with a close code, as Discord may at any time."""
        session = self.require_session()
        conn = session.connection
        if conn is None:
            raise RuntimeError("the gateway session has no live connection")
        session.resumable = resumable and code not in (INVALID_SEQ, SESSION_TIMED_OUT)
        logger.info("closing gateway connection with code %d", code)
        await self._close(conn, code, "closed by FakeDiscord.disconnect")

    async def request_reconnect(self) -> None:
        """Send opcode 7 Reconnect, after which the client resumes."""
        session = self.require_session()
        if session.connection is None:
            raise RuntimeError("the gateway session has no live connection")
        await session.connection.send(
            {"op": RECONNECT, "d": None, "s": None, "t": None}
        )

    def replay_after_resume(self, message_id: int) -> None:
        """Send a delivered MESSAGE_CREATE again, with a new seq, on the next RESUME."""
        session = self.require_session()
        if self._find_message_create(session, str(message_id)) is None:
            raise ValueError(
                f"message {message_id} was never dispatched as MESSAGE_CREATE "
                "in this session, so it cannot be replayed"
            )
        self._replay_message_ids.append(str(message_id))

    async def close_all(self) -> None:
        for conn in self.connections:
            if not conn.ws.closed:
                await self._close(conn, 1001, "fake Discord shutting down")
