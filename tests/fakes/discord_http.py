"""HTTP plumbing of the fake Discord REST API: routing, errors, rate limits, records.

The route handlers live in ``discord_channels`` and ``discord_webhooks``. This
module turns aiohttp requests into ``RequestContext`` objects, builds responses
in Discord's wire format, and defines the records that tests read.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes.discord_limits import LimitBreach
from tests.fakes.discord_state import StoredFile

# JSON error codes (topics/opcodes-and-status-codes.mdx, "JSON Error Codes").
GENERAL_ERROR = 0
UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MESSAGE = 10008
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
OPENING_DMS_TOO_FAST = 40003
ALREADY_ACKNOWLEDGED = 40060
MISSING_ACCESS = 50001
EMPTY_MESSAGE = 50006
CANNOT_MESSAGE_USER = 50007
MISSING_PERMISSIONS = 50013
INVALID_FORM_BODY = 50035


class ApiError(Exception):
    """An error response in Discord's shape: HTTP status, code, message, errors."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = dict(self.errors)
        return body


@dataclass(frozen=True)
class RestCall:
    """One REST request as the fake received it.

    ``path`` is below the API base (``/channels/1/messages``), ``route`` is
    the matched template (``POST /channels/{channel_id}/messages``) or None
    for unknown routes, ``body`` is the JSON body or the ``payload_json`` part
    of a multipart body, and ``at`` is ``time.monotonic()`` on arrival.
    """

    method: str
    path: str
    route: str | None
    query: dict[str, str]
    body: Any
    files: tuple[StoredFile, ...]
    status: int
    at: float


@dataclass(frozen=True)
class LimitViolation:
    """A request rejected for breaking one of Discord's documented limits."""

    method: str
    path: str
    field: str
    code: str
    message: str


@dataclass
class RateLimitRule:
    """A queued 429 for the next requests whose route matches ``pattern``."""

    pattern: str
    retry_after: float
    is_global: bool
    remaining: int


@dataclass
class RequestContext:
    method: str
    path: str
    route: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    files: list[StoredFile] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)

    def int_param(self, name: str) -> int:
        """Return a snowflake path parameter, rejecting text as Discord does."""
        return parse_snowflake(name, self.params[name])

    def int_query(self, name: str, default: int) -> int:
        value = self.query.get(name)
        return default if value is None else parse_snowflake(name, value)


def parse_snowflake(name: str, value: str) -> int:
    if not value.isdigit():
        message = f'Value "{value}" is not snowflake.'
        errors = {
            name: {"_errors": [{"code": "NUMBER_TYPE_COERCE", "message": message}]}
        }
        raise ApiError(400, INVALID_FORM_BODY, "Invalid Form Body", errors)
    return int(value)


Result = tuple[int, Any]
Handler = Callable[[RequestContext], Awaitable[Result]]
LimitCheck = Callable[[RequestContext], list[LimitBreach]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    limits: LimitCheck | None = None
    needs_bot_auth: bool = True

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def regex(self) -> re.Pattern[str]:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        return re.compile(f"^{pattern}$")


def json_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Return a JSON response whose Content-Type is exactly ``application/json``.

    discord.py's ``json_or_text`` parses a body only when the header equals
    that string, so aiohttp's default ``; charset=utf-8`` suffix is avoided.
    """
    if status == 204:
        return web.Response(status=204, headers=headers)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers=all_headers
    )


def bucket_headers(route_key: str) -> dict[str, str]:
    """Per-route rate limit headers that never run out.

    The header names and meanings come from topics/rate-limits.mdx. The bucket
    id is a stable hash of the route template.
    """
    bucket = hashlib.sha1(route_key.encode()).hexdigest()[:16]
    return {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": bucket,
    }


def rate_limited_response(rule: RateLimitRule, route_key: str) -> web.Response:
    """Build the 429 described in topics/rate-limits.mdx, "Exceeding A Rate Limit".

    discord.py 2.x waits out a 429 only when the response has a ``Via``
    header (it treats a 429 without one as a Cloudflare ban and raises), so
    the fake sends ``Via: 1.1 google`` as Discord's edge does.
    """
    headers = {
        "Via": "1.1 google",
        "Retry-After": str(math.ceil(rule.retry_after)),
        "X-RateLimit-Scope": "global" if rule.is_global else "user",
    }
    if rule.is_global:
        headers["X-RateLimit-Global"] = "true"
    else:
        headers.update(bucket_headers(route_key))
        headers["X-RateLimit-Remaining"] = "0"
        headers["X-RateLimit-Reset-After"] = f"{rule.retry_after:.3f}"
    body = {
        "message": "You are being rate limited.",
        "retry_after": rule.retry_after,
        "global": rule.is_global,
    }
    return json_response(429, body, headers)


async def read_body(request: web.Request) -> tuple[Any, list[StoredFile]]:
    """Parse a JSON body, or a multipart body with payload_json and files[n]."""
    if request.content_type == "multipart/form-data":
        payload: Any = None
        files: list[StoredFile] = []
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            data = await part.read()
            if part.name == "payload_json":
                payload = _parse_json(data)
            elif part.filename is not None:
                content_type = part.headers.get(
                    "Content-Type", "application/octet-stream"
                )
                files.append(StoredFile(part.filename, content_type, bytes(data)))
        return payload, files
    raw = await request.read()
    if not raw:
        return None, []
    if request.content_type != "application/json":
        raise ApiError(
            400, INVALID_FORM_BODY, "Invalid Form Body: use application/json"
        )
    return _parse_json(raw), []


def _parse_json(raw: bytes | bytearray) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(
            400, GENERAL_ERROR, "400: Bad Request (body is not JSON)"
        ) from None
