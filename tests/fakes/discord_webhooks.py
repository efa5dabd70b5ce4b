"""REST handlers for interaction callbacks, followup webhooks and app commands.

The timing rules come from developers/interactions/receiving-and-responding.mdx
(discord/discord-api-docs): the first response must arrive within 3 seconds
of the interaction, and the token then serves followups for 15 minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tests.fakes.discord_channels import EPHEMERAL, LOADING, ChannelRoutes
from tests.fakes.discord_http import (
    ALREADY_ACKNOWLEDGED,
    INVALID_FORM_BODY,
    MISSING_ACCESS,
    UNKNOWN_GUILD,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    ApiError,
    RequestContext,
    Result,
)
from tests.fakes.discord_interactions import (
    FakeInteraction,
    InteractionBuilder,
    InteractionResponseRecord,
)
from tests.fakes.discord_state import DiscordState, FakeChannel

logger = logging.getLogger(__name__)

# Interaction callback types (receiving-and-responding.mdx, "Interaction
# Callback Type").
PONG = 1
CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
MODAL = 9

# receiving-and-responding.mdx: "Interaction tokens are valid for 15 minutes"
# and the initial response must come "within 3 seconds of receiving the event".
INTERACTION_TOKEN_LIFETIME = 15 * 60.0
INTERACTION_RESPONSE_DEADLINE = 3.0

INVALID_WEBHOOK_TOKEN = 50027


class InteractionRoutes:
    """Handlers for POST .../callback and the /webhooks/{app_id}/{token} routes."""

    def __init__(
        self,
        state: DiscordState,
        channels: ChannelRoutes,
        interactions: InteractionBuilder,
        *,
        interaction_deadline: float,
    ) -> None:
        self.state = state
        self.channels = channels
        self.interactions = interactions
        self.interaction_deadline = interaction_deadline
        self.interaction_responses: list[InteractionResponseRecord] = []
        self.followups: dict[str, list[dict[str, Any]]] = {}

    def _interaction_for_callback(self, ctx: RequestContext) -> FakeInteraction:
        interaction = self.interactions.by_id.get(ctx.int_param("interaction_id"))
        if interaction is None or interaction.token != ctx.params["interaction_token"]:
            raise ApiError(404, UNKNOWN_INTERACTION, "Unknown interaction")
        return interaction

    async def interaction_callback(self, ctx: RequestContext) -> Result:
        body = ctx.body if isinstance(ctx.body, Mapping) else {}
        interaction_id = ctx.int_param("interaction_id")
        token = ctx.params["interaction_token"]
        latency: float | None = None
        try:
            interaction = self._interaction_for_callback(ctx)
            if interaction.dispatched_at is not None:
                latency = ctx.at - interaction.dispatched_at
            if latency is not None and latency > self.interaction_deadline:
                # The token is invalidated after the 3-second window, so
                # Discord returns the 404 of an unknown interaction.
                raise ApiError(404, UNKNOWN_INTERACTION, "Unknown interaction")
            if interaction.response_type is not None:
                raise ApiError(
                    400,
                    ALREADY_ACKNOWLEDGED,
                    "Interaction has already been acknowledged",
                )
            result = await self._apply_callback(interaction, body, ctx)
        except ApiError as error:
            self._record_callback(
                interaction_id, token, body, latency, error.status, error.code
            )
            raise
        self._record_callback(interaction_id, token, body, latency, result[0], None)
        return result

    def _record_callback(
        self,
        interaction_id: int,
        token: str,
        body: Mapping[str, Any],
        latency: float | None,
        status: int,
        error_code: int | None,
    ) -> None:
        callback_type = body.get("type")
        self.interaction_responses.append(
            InteractionResponseRecord(
                interaction_id,
                token,
                callback_type if isinstance(callback_type, int) else None,
                body.get("data"),
                latency,
                status,
                error_code,
            )
        )

    async def _apply_callback(
        self, interaction: FakeInteraction, body: Mapping[str, Any], ctx: RequestContext
    ) -> Result:
        """Carry out one accepted callback and build its response."""
        callback_type = body.get("type")
        raw_data = body.get("data")
        data: Mapping[str, Any] = raw_data if isinstance(raw_data, Mapping) else {}
        known_types = (
            CHANNEL_MESSAGE_WITH_SOURCE,
            DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
            DEFERRED_UPDATE_MESSAGE,
            UPDATE_MESSAGE,
            APPLICATION_COMMAND_AUTOCOMPLETE_RESULT,
            MODAL,
        )
        # PONG (1) is the reply to an HTTP ping, so gateway interactions reject it.
        if not isinstance(callback_type, int) or callback_type not in known_types:
            raise ApiError(
                400, INVALID_FORM_BODY, f"Invalid callback type {callback_type!r}"
            )
        updates_message = callback_type in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE)
        if updates_message and interaction.message_id is None:
            # Types 6 and 7 edit the message that contains the clicked
            # component, so they are valid only for component interactions.
            raise ApiError(400, INVALID_FORM_BODY, "Interaction callback type invalid")

        message = await self._callback_message(interaction, callback_type, data, ctx)
        interaction.response_type = callback_type
        if message is not None and not updates_message:
            await self.channels.echo("MESSAGE_CREATE", message)

        # discord.py 2.x sends ?with_response=1 and reads the callback
        # response object. Without that query Discord returns 204.
        if ctx.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        return 200, self._callback_response(interaction, callback_type, message)

    async def _callback_message(
        self,
        interaction: FakeInteraction,
        callback_type: int,
        data: Mapping[str, Any],
        ctx: RequestContext,
    ) -> dict[str, Any] | None:
        """Create or edit the message a callback produces, if it produces one."""
        channel = self.state.channels[interaction.channel_id]
        if callback_type == CHANNEL_MESSAGE_WITH_SOURCE:
            self.channels.require_not_empty(data, bool(ctx.files))
            return self._interaction_message(interaction, channel, data, ctx)
        if callback_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            # The deferred response shows a "thinking" placeholder message
            # flagged LOADING until the app edits @original.
            placeholder = {"flags": int(data.get("flags") or 0) | LOADING}
            return self._interaction_message(interaction, channel, placeholder, ctx)
        if callback_type in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            interaction.original_message_id = interaction.message_id
        if callback_type == UPDATE_MESSAGE and interaction.message_id is not None:
            edited = self.state.edit_message(channel.id, interaction.message_id, data)
            await self.channels.echo("MESSAGE_UPDATE", edited)
            return edited
        return None

    @staticmethod
    def _callback_response(
        interaction: FakeInteraction,
        callback_type: int,
        message: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        flags = int(message["flags"]) if message else 0
        resource: dict[str, Any] = {"type": callback_type}
        if message is not None:
            resource["message"] = message
        return {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_id": message["id"] if message else None,
                "response_message_loading": callback_type
                == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            },
            "resource": resource,
        }

    def _interaction_message(
        self,
        interaction: FakeInteraction,
        channel: FakeChannel,
        data: Mapping[str, Any],
        ctx: RequestContext,
    ) -> dict[str, Any]:
        user = self.state.user(interaction.user_id)
        extra = {
            "webhook_id": str(self.state.application_id),
            "application_id": str(self.state.application_id),
            "interaction_metadata": {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": user.payload(),
                "authorizing_integration_owners": interaction.payload.get(
                    "authorizing_integration_owners", {}
                ),
            },
            "type": 20 if interaction.type == 2 else 0,
        }
        message = self.state.build_message(
            channel, self.state.bot, data, files=ctx.files, extra=extra
        )
        if interaction.original_message_id is None:
            interaction.original_message_id = int(message["id"])
        return message

    def _interaction_for_webhook(self, ctx: RequestContext) -> FakeInteraction:
        interaction = self.interactions.by_token.get(ctx.params["webhook_token"])
        if interaction is None or ctx.params["webhook_id"] != str(
            self.state.application_id
        ):
            raise ApiError(404, UNKNOWN_WEBHOOK, "Unknown Webhook")
        age = ctx.at - (interaction.dispatched_at or ctx.at)
        if age > INTERACTION_TOKEN_LIFETIME:
            raise ApiError(401, INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
        if interaction.response_type is None:
            # NOTE: the docs do not say what a followup before the initial
            # response returns; this fake rejects it as an unknown webhook.
            raise ApiError(404, UNKNOWN_WEBHOOK, "Unknown Webhook")
        return interaction

    async def create_followup(self, ctx: RequestContext) -> Result:
        interaction = self._interaction_for_webhook(ctx)
        body = ctx.body if isinstance(ctx.body, Mapping) else {}
        self.channels.require_not_empty(body, bool(ctx.files))
        channel = self.state.channels[interaction.channel_id]
        message = self._interaction_message(interaction, channel, body, ctx)
        interaction.followup_message_ids.append(int(message["id"]))
        self.followups.setdefault(interaction.token, []).append(message)
        await self.channels.echo("MESSAGE_CREATE", message)
        return 200, message

    def _original_id(self, interaction: FakeInteraction) -> int:
        if interaction.original_message_id is None:
            raise ApiError(404, UNKNOWN_MESSAGE, "Unknown Message")
        return interaction.original_message_id

    def _followup_id(self, interaction: FakeInteraction, ctx: RequestContext) -> int:
        message_id = ctx.int_param("message_id")
        allowed = {*interaction.followup_message_ids, interaction.original_message_id}
        if message_id not in allowed:
            raise ApiError(404, UNKNOWN_MESSAGE, "Unknown Message")
        return message_id

    async def _get_webhook_message(
        self, interaction: FakeInteraction, message_id: int
    ) -> Result:
        channel = self.state.channels[interaction.channel_id]
        return 200, self.channels.stored_message(channel, message_id)

    async def _edit_webhook_message(
        self, interaction: FakeInteraction, message_id: int, ctx: RequestContext
    ) -> Result:
        channel = self.state.channels[interaction.channel_id]
        message = self.channels.stored_message(channel, message_id)
        body = dict(ctx.body) if isinstance(ctx.body, Mapping) else {}
        # Editing a deferred response replaces the "thinking" placeholder.
        body["flags"] = int(body.get("flags", message["flags"]) or 0) & ~LOADING
        edited = self.state.edit_message(channel.id, message_id, body)
        await self.channels.echo("MESSAGE_UPDATE", edited)
        return 200, edited

    async def _delete_webhook_message(
        self, interaction: FakeInteraction, message_id: int
    ) -> Result:
        channel = self.state.channels[interaction.channel_id]
        await self.channels.delete(
            channel, self.channels.stored_message(channel, message_id)
        )
        return 204, None

    async def get_original(self, ctx: RequestContext) -> Result:
        interaction = self._interaction_for_webhook(ctx)
        return await self._get_webhook_message(
            interaction, self._original_id(interaction)
        )

    async def edit_original(self, ctx: RequestContext) -> Result:
        interaction = self._interaction_for_webhook(ctx)
        return await self._edit_webhook_message(
            interaction, self._original_id(interaction), ctx
        )

    async def delete_original(self, ctx: RequestContext) -> Result:
        interaction = self._interaction_for_webhook(ctx)
        return await self._delete_webhook_message(
            interaction, self._original_id(interaction)
        )

    async def get_followup(self, ctx: RequestContext) -> Result:
        interaction = self._interaction_for_webhook(ctx)
        return await self._get_webhook_message(
            interaction, self._followup_id(interaction, ctx)
        )

    async def edit_followup(self, ctx: RequestContext) -> Result:
        interaction = self._interaction_for_webhook(ctx)
        message_id = self._followup_id(interaction, ctx)
        return await self._edit_webhook_message(interaction, message_id, ctx)

    async def delete_followup(self, ctx: RequestContext) -> Result:
        interaction = self._interaction_for_webhook(ctx)
        message_id = self._followup_id(interaction, ctx)
        return await self._delete_webhook_message(interaction, message_id)


class CommandRoutes:
    """Handlers for global and guild application commands."""

    def __init__(
        self, state: DiscordState, commands: dict[int | None, list[dict[str, Any]]]
    ) -> None:
        self.state = state
        self.commands = commands

    def _command_scope(self, ctx: RequestContext) -> int | None:
        if ctx.params["application_id"] != str(self.state.application_id):
            raise ApiError(403, MISSING_ACCESS, "Missing Access")
        if "guild_id" not in ctx.params:
            return None
        guild_id = ctx.int_param("guild_id")
        if guild_id not in self.state.guilds:
            raise ApiError(404, UNKNOWN_GUILD, "Unknown Guild")
        return guild_id

    def _stored_command(
        self, scope: int | None, body: Mapping[str, Any], existing: list[dict[str, Any]]
    ) -> dict[str, Any]:
        command_type = int(body.get("type") or 1)
        previous = next(
            (
                c
                for c in existing
                if c["name"] == body.get("name") and c["type"] == command_type
            ),
            None,
        )
        command_id = previous["id"] if previous else str(self.state.snowflakes.next())
        stored: dict[str, Any] = {
            "id": command_id,
            "application_id": str(self.state.application_id),
            "version": str(self.state.snowflakes.next()),
            "type": command_type,
            "name": body.get("name"),
            "description": body.get("description") or "",
            "options": list(body.get("options") or []),
            "default_member_permissions": body.get("default_member_permissions"),
            "dm_permission": body.get("dm_permission", True),
            "nsfw": bool(body.get("nsfw")),
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types") or [0],
        }
        for key in ("name_localizations", "description_localizations"):
            if body.get(key):
                stored[key] = body[key]
        if scope is not None:
            stored["guild_id"] = str(scope)
        return stored

    async def list_commands(self, ctx: RequestContext) -> Result:
        return 200, self.commands.get(self._command_scope(ctx), [])

    async def bulk_set_commands(self, ctx: RequestContext) -> Result:
        scope = self._command_scope(ctx)
        bodies = ctx.body if isinstance(ctx.body, list) else []
        existing = self.commands.get(scope, [])
        self.commands[scope] = [
            self._stored_command(scope, b, existing) for b in bodies
        ]
        logger.info("commands for scope %s set to %d commands", scope, len(bodies))
        return 200, self.commands[scope]

    async def create_command(self, ctx: RequestContext) -> Result:
        scope = self._command_scope(ctx)
        body = ctx.body if isinstance(ctx.body, Mapping) else {}
        existing = self.commands.setdefault(scope, [])
        stored = self._stored_command(scope, body, existing)
        existing[:] = [c for c in existing if c["id"] != stored["id"]] + [stored]
        return 201, stored
