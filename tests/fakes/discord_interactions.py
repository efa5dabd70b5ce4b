"""Interaction payloads (slash commands, button clicks) and their bookkeeping.

Shapes follow developers/interactions/receiving-and-responding.mdx and
application-commands.mdx (discord/discord-api-docs): an interaction carries an
id and a token, the channel, the member (in a guild) or the user (in a DM),
the app's permissions, and the command or component data.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.discord_state import DM, DiscordState, FakeChannel

# Interaction types (receiving-and-responding.mdx, "Interaction Type").
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3

# Interaction context types: GUILD is 0 and BOT_DM is 1.
CONTEXT_GUILD = 0
CONTEXT_BOT_DM = 1

# Application command option types (application-commands.mdx).
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
USER = 6
CHANNEL = 7
NUMBER = 10

# Attachment size limit reported to the app: 10 MiB, Discord's default for a
# guild without boosts (NOTE: taken as a typical value, not from the docs).
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


@dataclass
class FakeInteraction:
    """One dispatched interaction and what the app has done with it so far."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    channel_id: int
    guild_id: int | None
    user_id: int
    message_id: int | None = None
    dispatched_at: float | None = None
    response_type: int | None = None
    original_message_id: int | None = None
    followup_message_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class InteractionResponseRecord:
    """One POST to the callback route, accepted or rejected.

    ``latency`` is seconds from dispatch to the callback, or None when the
    interaction was never dispatched. ``error_code`` is Discord's JSON error
    code for a rejected callback and None for an accepted one.
    """

    interaction_id: int
    token: str
    type: int | None
    data: Any
    latency: float | None
    status: int
    error_code: int | None


def option_payload(name: str, value: Any) -> dict[str, Any]:
    """Build one command option, choosing its type from the Python value."""
    if isinstance(value, tuple):
        option_type, raw = value
        return {"name": name, "type": option_type, "value": raw}
    if isinstance(value, bool):
        option_type = BOOLEAN
    elif isinstance(value, int):
        option_type = INTEGER
    elif isinstance(value, float):
        option_type = NUMBER
    elif isinstance(value, str):
        option_type = STRING
    else:
        raise TypeError(
            f"option {name!r} has unsupported value {value!r}; pass int, float, "
            "bool, str, or an (option_type, value) tuple"
        )
    return {"name": name, "type": option_type, "value": value}


class InteractionBuilder:
    """Build interaction payloads against the fake's state and registered commands."""

    def __init__(
        self,
        state: DiscordState,
        commands: Mapping[int | None, Sequence[Mapping[str, Any]]],
    ) -> None:
        self.state = state
        self.commands = commands
        self.by_id: dict[int, FakeInteraction] = {}
        self.by_token: dict[str, FakeInteraction] = {}

    def _resolve_channel(self, user_id: int, channel_id: int | None) -> FakeChannel:
        if channel_id is None:
            return self.state.open_dm(user_id)
        try:
            return self.state.channels[channel_id]
        except KeyError:
            raise KeyError(
                f"unknown channel {channel_id}: add it with add_guild, or pass "
                "channel_id=None for the user's DM channel"
            ) from None

    def _base(
        self, interaction_type: int, user_id: int, channel: FakeChannel
    ) -> dict[str, Any]:
        interaction_id = self.state.snowflakes.next()
        # Real interaction tokens are long opaque strings; 64 URL-safe
        # characters keep the shape without copying a real token format.
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        bot_id = self.state.bot.id
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.state.application_id),
            "type": interaction_type,
            "token": token,
            "version": 1,
            "channel_id": str(channel.id),
            "channel": self.state.channel_payload(channel),
            "locale": "en-US",
            "app_permissions": str(self.state.permissions_in(channel, bot_id)),
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        user = self.state.user(user_id)
        if channel.type == DM or channel.guild_id is None:
            payload["user"] = user.payload()
            payload["context"] = CONTEXT_BOT_DM
            payload["authorizing_integration_owners"] = {"1": str(user_id)}
        else:
            guild = self.state.guilds[channel.guild_id]
            member = self.state.member_payload(guild, user_id)
            member["permissions"] = str(self.state.permissions_in(channel, user_id))
            payload["guild_id"] = str(guild.id)
            payload["guild"] = {"id": str(guild.id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = member
            payload["context"] = CONTEXT_GUILD
            payload["authorizing_integration_owners"] = {"0": str(guild.id)}
        return payload

    def _register(
        self, payload: dict[str, Any], channel: FakeChannel, user_id: int
    ) -> FakeInteraction:
        message = payload.get("message")
        interaction = FakeInteraction(
            id=int(payload["id"]),
            token=payload["token"],
            type=payload["type"],
            payload=payload,
            channel_id=channel.id,
            guild_id=channel.guild_id,
            user_id=user_id,
            message_id=int(message["id"]) if message else None,
        )
        self.by_id[interaction.id] = interaction
        self.by_token[interaction.token] = interaction
        return interaction

    def _find_command(
        self, name: str, guild_id: int | None
    ) -> Mapping[str, Any] | None:
        scopes: list[int | None] = [guild_id, None] if guild_id else [None]
        for scope in scopes:
            for command in self.commands.get(scope, ()):
                if command.get("name") == name and command.get("type", 1) == 1:
                    return command
        return None

    def slash_command(
        self,
        command: str,
        options: Mapping[str, Any],
        *,
        user_id: int,
        channel_id: int | None,
    ) -> FakeInteraction:
        """Build an APPLICATION_COMMAND interaction such as ``/perspective summary``.

        ``command`` contains the command name and, separated by spaces, an
        optional subcommand group and subcommand. ``options`` maps option names
        to values. The command id is taken from the synced commands when the
        app registered one with that name, and is a fresh snowflake otherwise.
        """
        channel = self._resolve_channel(user_id, channel_id)
        names = command.strip().lstrip("/").split()
        if not 1 <= len(names) <= 3:
            raise ValueError(
                f"command {command!r} must be 'name', 'name sub' or 'name group sub'"
            )
        leaf_options = [option_payload(k, v) for k, v in options.items()]
        nested = leaf_options
        for depth, sub_name in reversed(list(enumerate(names[1:], start=1))):
            sub_type = SUB_COMMAND if depth == len(names) - 1 else SUB_COMMAND_GROUP
            nested = [{"name": sub_name, "type": sub_type, "options": nested}]
        registered = self._find_command(names[0], channel.guild_id)
        data: dict[str, Any] = {
            "id": str(registered["id"])
            if registered
            else str(self.state.snowflakes.next()),
            "name": names[0],
            "type": 1,
            "options": nested,
        }
        if registered and registered.get("guild_id"):
            data["guild_id"] = str(registered["guild_id"])
        resolved = self._resolved(leaf_options)
        if resolved:
            data["resolved"] = resolved
        payload = self._base(APPLICATION_COMMAND, user_id, channel)
        payload["data"] = data
        return self._register(payload, channel, user_id)

    def _resolved(self, options: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Add the objects a channel or user option names, as Discord does in
        ``data.resolved`` (receiving-and-responding.mdx, "Resolved Data")."""
        resolved: dict[str, Any] = {}
        for option in options:
            if option["type"] == CHANNEL:
                channel = self.state.channels[int(option["value"])]
                entry = dict(self.state.channel_payload(channel))
                entry["permissions"] = str(
                    self.state.permissions_in(channel, self.state.bot.id)
                )
                resolved.setdefault("channels", {})[str(channel.id)] = entry
            elif option["type"] == USER:
                user = self.state.user(int(option["value"]))
                resolved.setdefault("users", {})[str(user.id)] = user.payload()
        return resolved

    def component(
        self,
        custom_id: str,
        *,
        user_id: int,
        channel_id: int | None,
        message_id: int | None,
        component_type: int,
        values: Sequence[str] | None,
    ) -> FakeInteraction:
        """Build a MESSAGE_COMPONENT interaction for a click on a stored message."""
        channel = self._resolve_channel(user_id, channel_id)
        message = self._find_component_message(channel.id, custom_id, message_id)
        payload = self._base(MESSAGE_COMPONENT, user_id, channel)
        data: dict[str, Any] = {
            "custom_id": custom_id,
            "component_type": component_type,
        }
        if values is not None:
            data["values"] = list(values)
        payload["data"] = data
        payload["message"] = message
        return self._register(payload, channel, user_id)

    def _find_component_message(
        self, channel_id: int, custom_id: str, message_id: int | None
    ) -> dict[str, Any]:
        stored: dict[int, dict[str, Any]] = self.state.messages.get(channel_id, {})
        if message_id is not None:
            try:
                return stored[message_id]
            except KeyError:
                raise LookupError(
                    f"message {message_id} is not stored in channel {channel_id}"
                ) from None
        for message in list(stored.values())[::-1]:
            if custom_id in _custom_ids(message.get("components") or []):
                return message
        raise LookupError(
            f"no stored message in channel {channel_id} has a component with "
            f"custom_id {custom_id!r}; send it first or pass message_id"
        )


def _custom_ids(components: Sequence[Any]) -> set[str]:
    found: set[str] = set()
    for component in components:
        if not isinstance(component, Mapping):
            continue
        if isinstance(component.get("custom_id"), str):
            found.add(component["custom_id"])
        children = component.get("components")
        if isinstance(children, list):
            found |= _custom_ids(children)
        accessory = component.get("accessory")
        if isinstance(accessory, Mapping):
            found |= _custom_ids([accessory])
    return found
