"""REST API of the fake Discord: route table and the checks run on every request.

A request passes, in order: route match (404 or 405 in Discord's shape), bot
authorization, an injected 429 if one is queued, the documented size limits
(``discord_limits``), OpenAPI validation (``discord_spec``), and the handler
(``discord_channels`` and ``discord_webhooks``). Every request is recorded as
a ``RestCall`` with its final status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tests.fakes import discord_limits as limits
from tests.fakes.discord_channels import ChannelRoutes
from tests.fakes.discord_gateway import GatewayHub
from tests.fakes.discord_http import (
    INVALID_FORM_BODY,
    ApiError,
    LimitViolation,
    RateLimitRule,
    RequestContext,
    RestCall,
    Route,
    bucket_headers,
    json_response,
    rate_limited_response,
    read_body,
)
from tests.fakes.discord_interactions import InteractionBuilder
from tests.fakes.discord_spec import DiscordSpec, SpecValidationError
from tests.fakes.discord_state import DiscordState
from tests.fakes.discord_webhooks import MODAL, CommandRoutes, InteractionRoutes

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v10"


class RestApi:
    """Route table, request checks and records of the fake REST API."""

    def __init__(
        self,
        state: DiscordState,
        hub: GatewayHub,
        interactions: InteractionBuilder,
        commands: dict[int | None, list[dict[str, Any]]],
        *,
        spec: DiscordSpec | None,
        interaction_deadline: float,
        echo_bot_messages: bool,
    ) -> None:
        self.state = state
        self.spec = spec
        self.channels = ChannelRoutes(state, hub, echo_bot_messages=echo_bot_messages)
        self.webhooks = InteractionRoutes(
            state,
            self.channels,
            interactions,
            interaction_deadline=interaction_deadline,
        )
        self.command_routes = CommandRoutes(state, commands)
        self.rest_calls: list[RestCall] = []
        self.validation_errors: list[SpecValidationError] = []
        self.limit_violations: list[LimitViolation] = []
        self.rate_limit_rules: list[RateLimitRule] = []
        self.routes = self._build_routes()

    def _build_routes(self) -> list[Route]:
        ch = self.channels
        wh = self.webhooks
        cmd = self.command_routes
        message_limits = self._message_limits
        hook = "/webhooks/{webhook_id}/{webhook_token}"
        app = "/applications/{application_id}"
        message = "/channels/{channel_id}/messages/{message_id}"
        # Literal segments come first: "@original" would otherwise match
        # the {message_id} route, and "@me" the {user_id} route.
        return [
            Route("GET", "/users/@me", ch.get_current_user),
            Route("POST", "/users/@me/channels", ch.create_dm),
            Route("GET", "/users/{user_id}", ch.get_user),
            Route("GET", "/oauth2/applications/@me", ch.get_application),
            Route("GET", "/gateway", ch.get_gateway, needs_bot_auth=False),
            Route("GET", "/gateway/bot", ch.get_gateway_bot),
            Route("GET", "/channels/{channel_id}", ch.get_channel),
            Route("GET", "/channels/{channel_id}/messages", ch.list_messages),
            Route(
                "POST",
                "/channels/{channel_id}/messages",
                ch.create_message,
                message_limits,
            ),
            Route("GET", message, ch.get_message),
            Route("PATCH", message, ch.edit_message, message_limits),
            Route("DELETE", message, ch.delete_message),
            Route("POST", "/channels/{channel_id}/typing", ch.trigger_typing),
            Route("GET", "/guilds/{guild_id}/members/{user_id}", ch.get_member),
            Route(
                "POST",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                wh.interaction_callback,
                self._callback_limits,
                needs_bot_auth=False,
            ),
            Route(
                "POST", hook, wh.create_followup, message_limits, needs_bot_auth=False
            ),
            Route(
                "GET",
                f"{hook}/messages/@original",
                wh.get_original,
                needs_bot_auth=False,
            ),
            Route(
                "PATCH",
                f"{hook}/messages/@original",
                wh.edit_original,
                message_limits,
                needs_bot_auth=False,
            ),
            Route(
                "DELETE",
                f"{hook}/messages/@original",
                wh.delete_original,
                needs_bot_auth=False,
            ),
            Route(
                "GET",
                f"{hook}/messages/{{message_id}}",
                wh.get_followup,
                needs_bot_auth=False,
            ),
            Route(
                "PATCH",
                f"{hook}/messages/{{message_id}}",
                wh.edit_followup,
                message_limits,
                needs_bot_auth=False,
            ),
            Route(
                "DELETE",
                f"{hook}/messages/{{message_id}}",
                wh.delete_followup,
                needs_bot_auth=False,
            ),
            Route("GET", f"{app}/commands", cmd.list_commands),
            Route("PUT", f"{app}/commands", cmd.bulk_set_commands),
            Route("POST", f"{app}/commands", cmd.create_command),
            Route("GET", f"{app}/guilds/{{guild_id}}/commands", cmd.list_commands),
            Route("PUT", f"{app}/guilds/{{guild_id}}/commands", cmd.bulk_set_commands),
            Route("POST", f"{app}/guilds/{{guild_id}}/commands", cmd.create_command),
        ]

    # Request pipeline

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path[len(API_PREFIX) :]
        query = dict(request.query)
        route, params = self._match(request.method, path)
        body: Any = None
        files: list[Any] = []
        status = 500
        try:
            body, files = await read_body(request)
            if route is None:
                raise params_error(request.method, path, self.routes)
            ctx = RequestContext(
                request.method, path, route.key, params, query, body, files
            )
            response = await self._run(route, ctx, request)
            status = response.status
            return response
        except ApiError as error:
            status = error.status
            logger.info(
                "%s %s rejected with %d (code %d): %s",
                request.method,
                path,
                error.status,
                error.code,
                error.message,
            )
            return json_response(error.status, error.body())
        except Exception:
            # A bug in the fake must not look like a Discord outage that
            # discord.py retries for seconds, so it is logged and returned
            # once as a plain 500.
            logger.exception("fake REST handler for %s %s failed", request.method, path)
            status = 500
            return json_response(
                500, {"code": 0, "message": "500: Internal Server Error"}
            )
        finally:
            self.rest_calls.append(
                RestCall(
                    request.method,
                    path,
                    route.key if route else None,
                    query,
                    body,
                    tuple(files),
                    status,
                    time.monotonic(),
                )
            )

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            if route.method != method:
                continue
            match = route.regex.match(path)
            if match:
                return route, match.groupdict()
        return None, {}

    async def _run(
        self, route: Route, ctx: RequestContext, request: web.Request
    ) -> web.Response:
        if route.needs_bot_auth:
            if request.headers.get("Authorization") != f"Bot {self.state.token}":
                raise ApiError(401, 0, "401: Unauthorized")
        rule = self._take_rate_limit(ctx)
        if rule is not None:
            logger.info("returning an injected 429 for %s %s", ctx.method, ctx.path)
            return rate_limited_response(rule, route.key)
        if route.limits is not None:
            self._enforce_limits(ctx, route.limits(ctx))
        self._validate_against_spec(route, ctx)
        status, body = await route.handler(ctx)
        return json_response(status, body, bucket_headers(route.key))

    def _take_rate_limit(self, ctx: RequestContext) -> RateLimitRule | None:
        for rule in self.rate_limit_rules:
            concrete = f"{ctx.method} {ctx.path}"
            if rule.pattern in (ctx.route, concrete) and rule.remaining > 0:
                rule.remaining -= 1
                if rule.remaining == 0:
                    self.rate_limit_rules.remove(rule)
                return rule
        return None

    def _enforce_limits(
        self, ctx: RequestContext, breaches: list[limits.LimitBreach]
    ) -> None:
        if not breaches:
            return
        for breach in breaches:
            self.limit_violations.append(
                LimitViolation(
                    ctx.method,
                    ctx.path,
                    breach.dotted_path,
                    breach.code,
                    breach.message,
                )
            )
            logger.info(
                "rejecting %s %s: %s %s",
                ctx.method,
                ctx.path,
                breach.dotted_path,
                breach.message,
            )
        raise ApiError(
            400, INVALID_FORM_BODY, "Invalid Form Body", limits.form_errors(breaches)
        )

    def _validate_against_spec(self, route: Route, ctx: RequestContext) -> None:
        if self.spec is None:
            return
        body = limits.trim_embed_text(ctx.body)
        errors = self.spec.validate(
            ctx.method, route.template, ctx.path, ctx.params, body
        )
        if not errors:
            return
        self.validation_errors.extend(errors)
        for error in errors:
            logger.warning(
                "%s %s does not match the OpenAPI spec at %s: %s",
                ctx.method,
                ctx.path,
                error.location,
                error.message,
            )
        details = {
            error.location: {"_errors": [{"code": "SPEC", "message": error.message}]}
            for error in errors
        }
        raise ApiError(400, INVALID_FORM_BODY, "Invalid Form Body", details)

    # Limit checks per route

    @staticmethod
    def _message_limits(ctx: RequestContext) -> list[limits.LimitBreach]:
        return limits.check_message(ctx.body) if isinstance(ctx.body, Mapping) else []

    @staticmethod
    def _callback_limits(ctx: RequestContext) -> list[limits.LimitBreach]:
        body = ctx.body if isinstance(ctx.body, Mapping) else {}
        data = body.get("data")
        if not isinstance(data, Mapping):
            return []
        if body.get("type") == MODAL:
            return limits.check_modal(data, ("data",))
        return limits.check_message(data, ("data",))


def params_error(method: str, path: str, routes: list[Route]) -> ApiError:
    """Return Discord's 405 when the path exists for another method, else 404."""
    if any(route.regex.match(path) for route in routes):
        return ApiError(405, 0, "405: Method Not Allowed")
    logger.info("no fake route for %s %s", method, path)
    return ApiError(404, 0, "404: Not Found")
