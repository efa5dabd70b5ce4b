"""Web API of the fake Slack: authentication, scopes, rate limits, methods.

:class:`WebApi` turns one request (method name, merged arguments, headers) into
Slack's response: HTTP status, JSON body and headers. Errors use Slack's names.
Most come from each method's "Errors" table on docs.slack.dev; the few that
are observed rather than documented say so where they are raised.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes.slack_chat import ChatMethods
from tests.fakes.slack_limits import (
    METHOD_SCOPES,
    METHOD_TIERS,
    POST_MESSAGE_PER_CHANNEL,
    POST_MESSAGE_PER_WORKSPACE,
    READ_SCOPE_BY_KIND,
    TIERS,
    RateLimit,
)
from tests.fakes.slack_records import (
    Channel,
    RecordedCall,
    TokenBucket,
)
from tests.fakes.slack_state import (
    CallContext,
    SlackError,
    Workspace,
)
from tests.fakes.slack_views import ViewMethods

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], CallContext], Awaitable[dict[str, Any]]]


@dataclass
class InjectedFailure:
    """A failure queued by ``fail_next`` or registered by ``fail_when``."""

    error: str
    status: int
    retry_after: int | None
    remaining: int | None
    match: Callable[[dict[str, Any]], bool] | None = None


class WebApi(ChatMethods, ViewMethods):
    """Slack Web API methods over a :class:`Workspace`."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        bot_token: str,
        app_token: str,
        rate_limiting: bool,
        rate_limits: Mapping[str, RateLimit] | None,
    ) -> None:
        self.ws = workspace
        self.bot_token = bot_token
        self.app_token = app_token
        self.rate_limiting = rate_limiting
        self.rate_limits: dict[str, RateLimit | None] = {
            method: TIERS[tier] for method, tier in METHOD_TIERS.items()
        }
        self.rate_limits["chat.postMessage"] = POST_MESSAGE_PER_CHANNEL
        self.rate_limits["chat.postMessage:workspace"] = POST_MESSAGE_PER_WORKSPACE
        self.rate_limits.update(rate_limits or {})
        self.calls: list[RecordedCall] = []
        self.fail_next_queue: dict[str, deque[InjectedFailure]] = {}
        self.fail_rules: dict[str, list[InjectedFailure]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self.handlers: dict[str, Handler] = {
            "apps.connections.open": self.apps_connections_open,
            "auth.test": self.auth_test,
            "chat.delete": self.chat_delete,
            "chat.getPermalink": self.chat_get_permalink,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "conversations.info": self.conversations_info,
            "conversations.members": self.conversations_members,
            "conversations.open": self.conversations_open,
            "reactions.add": self.reactions_add,
            "reactions.remove": self.reactions_remove,
            "usergroups.users.list": self.usergroups_users_list,
            "users.info": self.users_info,
        }
        self.handlers.update(self.view_and_file_handlers())
        # apps.connections.open returns WebSocket URLs from the Socket Mode hub,
        # which sets this callback so that this module does not import it.
        self.open_socket_url: Callable[[], str] | None = None

    # -- dispatch --------------------------------------------------------------

    async def handle(
        self,
        method: str,
        args: dict[str, Any],
        headers: Mapping[str, str],
        base_url: str,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Respond to one Web API request and record it in :attr:`calls`.

        A ``token`` argument is removed from ``args`` before recording.
        """
        token_argument = args.pop("token", None)
        status, body, extra_headers = await self._answer(
            method, args, headers, base_url, token_argument
        )
        self.calls.append(
            RecordedCall(
                method=method,
                args=args,
                headers=dict(headers),
                time=self.ws.clock.monotonic(),
                status=status,
                response=body,
            )
        )
        if not body.get("ok"):
            logger.info(
                "Fake Slack %s returned %s (HTTP %s)", method, body.get("error"), status
            )
        return status, body, extra_headers

    async def _answer(
        self,
        method: str,
        args: dict[str, Any],
        headers: Mapping[str, str],
        base_url: str,
        token_argument: object,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        injected = self._take_injected(self.fail_next_queue.get(method), args)
        if injected is not None:
            return self._failure(injected)
        handler = self.handlers.get(method)
        if handler is None:
            # Slack's body for an unknown method. The HTTP status 200 is an assumption.
            return (
                200,
                {"ok": False, "error": "unknown_method", "req_method": method},
                {},
            )
        token_kind, auth_error = self._authenticate(method, token_argument, headers)
        scope_headers: dict[str, str] = {}
        if token_kind == "bot":
            scope_headers["X-OAuth-Scopes"] = ",".join(sorted(self.ws.scopes))
        if auth_error is not None:
            return 200, {"ok": False, "error": auth_error}, scope_headers
        needed = self._needed_scope(method, args) if token_kind == "bot" else ""
        if needed:
            scope_headers["X-Accepted-OAuth-Scopes"] = needed
            if needed not in self.ws.scopes:
                body = {
                    "ok": False,
                    "error": "missing_scope",
                    "needed": needed,
                    "provided": ",".join(sorted(self.ws.scopes)),
                }
                return 200, body, scope_headers
        wait = self._rate_limit_wait(method, args)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            scope_headers["Retry-After"] = str(retry_after)
            return 429, {"ok": False, "error": "ratelimited"}, scope_headers
        injected = self._take_injected(self.fail_rules.get(method), args)
        if injected is not None:
            status, body, headers_out = self._failure(injected)
            return status, body, {**scope_headers, **headers_out}
        context = CallContext(method=method, base_url=base_url, token_kind=token_kind)
        try:
            body = await handler(args, context)
        except SlackError as exc:
            return 200, {"ok": False, "error": exc.error, **exc.extra}, scope_headers
        return 200, {"ok": True, **body}, scope_headers

    @staticmethod
    def _take_injected(
        failures: deque[InjectedFailure] | list[InjectedFailure] | None,
        args: dict[str, Any],
    ) -> InjectedFailure | None:
        if not failures:
            return None
        for failure in list(failures):
            if failure.match is not None and not failure.match(args):
                continue
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    failures.remove(failure)
            return failure
        return None

    @staticmethod
    def _failure(
        failure: InjectedFailure,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers: dict[str, str] = {}
        if failure.retry_after is not None and failure.status == 429:
            headers["Retry-After"] = str(failure.retry_after)
        return failure.status, {"ok": False, "error": failure.error}, headers

    def _authenticate(
        self, method: str, token_argument: object, headers: Mapping[str, str]
    ) -> tuple[str, str | None]:
        # slack_sdk sends the token as "Authorization: Bearer ...", and Slack
        # also accepts a `token` argument in the form, query string or JSON body.
        authorization = headers.get("Authorization") or headers.get("authorization")
        token = None
        if authorization and authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ").strip()
        if not token and isinstance(token_argument, str):
            token = token_argument
        if not token:
            return "", "not_authed"
        if token == self.app_token:
            kind = "app"
        elif token == self.bot_token:
            kind = "bot"
        else:
            return "", "invalid_auth"
        app_method = method == "apps.connections.open"
        if (kind == "app") != app_method:
            return kind, "not_allowed_token_type"
        return kind, None

    def _needed_scope(self, method: str, args: dict[str, Any]) -> str:
        if method in ("conversations.info", "conversations.members"):
            channel = self.ws.find_channel(str(args.get("channel", "")))
            kind = channel.kind if channel is not None else "public"
            return READ_SCOPE_BY_KIND[kind]
        if method == "conversations.open":
            users = [u for u in str(args.get("users", "")).split(",") if u]
            return "mpim:write" if len(users) > 1 else "im:write"
        return METHOD_SCOPES.get(method, "")

    def _rate_limit_wait(self, method: str, args: dict[str, Any]) -> float:
        if not self.rate_limiting:
            return 0.0
        now = self.ws.clock.monotonic()
        keys = [(method, method)]
        if method == "chat.postMessage":
            channel = str(args.get("channel", ""))
            keys = [
                ("chat.postMessage", f"chat.postMessage:{channel}"),
                ("chat.postMessage:workspace", "chat.postMessage:workspace"),
            ]
        waits = []
        for config_key, bucket_key in keys:
            config = self.rate_limits.get(config_key)
            if config is None:
                continue
            bucket = self._buckets.get(bucket_key)
            if bucket is None:
                bucket = TokenBucket(
                    per_minute=config.per_minute, burst=config.burst, now=now
                )
                self._buckets[bucket_key] = bucket
            waits.append(bucket.take(now))
        return max(waits, default=0.0)

    def reset_rate_limits(self) -> None:
        """Forget all rate-limit buckets, as if a minute of quiet had passed."""
        self._buckets.clear()

    # -- identity --------------------------------------------------------------

    async def auth_test(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return {
            "url": f"https://{self.ws.team_domain}.slack.com/",
            "team": self.ws.team_domain,
            "user": self.ws.bot_name,
            "team_id": self.ws.team_id,
            "user_id": self.ws.bot_user_id,
            "bot_id": self.ws.bot_id,
            "app_id": self.ws.app_id,
            "is_enterprise_install": False,
        }

    async def apps_connections_open(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        if self.open_socket_url is None:
            raise SlackError("internal_error")
        return {"url": self.open_socket_url()}

    # -- conversations ---------------------------------------------------------

    async def conversations_open(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        if args.get("channel"):
            channel = self._visible_channel(args["channel"])
            return {"channel": self._conversation(channel), "already_open": True}
        users = [u.strip() for u in str(args.get("users", "")).split(",") if u.strip()]
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 8:
            raise SlackError("too_many_users")
        for user_id in users:
            self._check_dm_user(user_id)
        if len(users) > 1:
            channel = Channel(
                id=self.ws.new_id("C"),
                name="mpdm-" + "--".join(users),
                kind="mpim",
                members={*users, self.ws.bot_user_id},
            )
            self.ws.channels[channel.id] = channel
            self.ws.messages.setdefault(channel.id, [])
            return {"channel": self._conversation(channel)}
        channel, existed = self.ws.dm_with(users[0])
        body: dict[str, Any] = {"channel": {"id": channel.id}}
        if str(args.get("return_im", "")).lower() in ("1", "true"):
            body["channel"] = self._conversation(channel)
        if existed:
            body["no_op"] = True
            body["already_open"] = True
        return body

    def _conversation(self, channel: Channel) -> dict[str, Any]:
        is_member = self.ws.bot_user_id in channel.members
        info: dict[str, Any] = {
            "id": channel.id,
            "created": channel.created,
            "is_archived": channel.is_archived,
            "is_im": channel.kind == "im",
            "is_mpim": channel.kind == "mpim",
            "is_private": channel.kind != "public",
        }
        if channel.kind == "im":
            info.update({"user": channel.user, "is_open": True})
        else:
            info.update(
                {
                    "name": channel.name,
                    "is_channel": channel.kind in ("public", "private"),
                    "is_group": channel.kind == "private",
                    "is_general": False,
                    "is_member": is_member,
                    "num_members": len(channel.members),
                }
            )
        return info

    async def conversations_info(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        return {
            "channel": self._conversation(self._visible_channel(args.get("channel")))
        }

    async def conversations_members(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        channel = self._visible_channel(args.get("channel"))
        members = sorted(channel.members)
        try:
            page_size = int(args.get("limit") or 100)
            start = int(args.get("cursor") or 0)
        except ValueError as exc:
            raise SlackError("invalid_cursor") from exc
        page = members[start : start + page_size]
        following = start + page_size
        next_cursor = str(following) if following < len(members) else ""
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    async def users_info(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        user = self.ws.users.get(str(args.get("user", "")))
        if user is None:
            raise SlackError("user_not_found")
        return {
            "user": {
                "id": user.id,
                "team_id": self.ws.team_id,
                "name": user.name,
                "deleted": user.deleted,
                "real_name": user.real_name,
                "tz": user.tz,
                "tz_label": user.tz_label,
                "tz_offset": user.tz_offset,
                "is_bot": user.is_bot,
                "is_admin": user.is_admin,
                "is_app_user": False,
                "profile": {
                    "real_name": user.real_name,
                    "display_name": user.name,
                    "bot_id": user.bot_id,
                },
            }
        }

    async def usergroups_users_list(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        group = self.ws.usergroups.get(str(args.get("usergroup", "")))
        if group is None:
            # NOTE: the error name is an assumption, because the documented
            # errors of usergroups.users.list are all generic.
            raise SlackError("no_such_subteam")
        return {"users": list(group[1])}
