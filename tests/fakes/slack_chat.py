"""chat.* and reactions.* methods of the fake Slack Web API.

Posting resolves the target the way the chat.postMessage reference documents
it. A user id opens the bot's DM. A private conversation the bot is not in is
``channel_not_found``, and a public one is ``not_in_channel`` unless the app
has ``chat:write.public``. Every payload is checked against Slack's limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fakes.slack_blocks import Problem, check_message
from tests.fakes.slack_limits import limit
from tests.fakes.slack_records import (
    Channel,
    EphemeralMessage,
    Message,
    MessageUpdate,
)
from tests.fakes.slack_state import (
    CallContext,
    SlackError,
    Workspace,
    block_error,
    parse_json_argument,
)


class ChatMethods:
    """Mixin of :class:`tests.fakes.slack_web.WebApi` for messages."""

    ws: Workspace

    # -- posting targets -------------------------------------------------------

    def _channel_for_post(self, reference: object) -> Channel:
        """Resolve a posting target the way chat.postMessage documents it."""
        if not isinstance(reference, str) or not reference:
            raise SlackError("channel_not_found")
        if reference[0] in "UW" and reference in self.ws.users:
            # "provide the user's ID as the channel value and a direct message
            # conversation will be opened" (chat.postMessage reference).
            self._check_dm_user(reference)
            channel, _ = self.ws.dm_with(reference)
            return channel
        found = self.ws.find_channel(reference)
        if found is None:
            raise SlackError("channel_not_found")
        channel = found
        if channel.is_archived:
            raise SlackError("is_archived")
        if self.ws.bot_user_id not in channel.members:
            if channel.kind == "public":
                if "chat:write.public" not in self.ws.scopes:
                    raise SlackError("not_in_channel")
            else:
                # A private conversation the bot is not in is invisible to it.
                raise SlackError("channel_not_found")
        return channel

    def _check_dm_user(self, user_id: str) -> None:
        user = self.ws.users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        if user.is_bot:
            # Not in conversations.open's documented errors, but what Slack
            # returns when a bot opens a DM with a bot (errbot's Slack backend
            # catches "cannot_dm_bot" from conversations_open for this).
            raise SlackError("cannot_dm_bot")
        if user.deleted:
            # Documented: user_disabled, "A specified user has been disabled."
            # account_inactive is about the calling token's own account.
            raise SlackError("user_disabled")

    def _visible_channel(self, reference: object) -> Channel:
        channel = self.ws.find_channel(str(reference or ""))
        if channel is None:
            raise SlackError("channel_not_found")
        if channel.kind != "public" and self.ws.bot_user_id not in channel.members:
            raise SlackError("channel_not_found")
        return channel

    # -- messages --------------------------------------------------------------

    def _message_payload(self, args: dict[str, Any], surface: str) -> dict[str, Any]:
        """Decode blocks and attachments, check limits, return the payload."""
        payload = dict(args)
        if "blocks" in payload:
            payload["blocks"] = parse_json_argument(
                payload["blocks"], "invalid_blocks_format"
            )
        if "attachments" in payload:
            payload["attachments"] = parse_json_argument(
                payload["attachments"], "invalid_attachments"
            )
        problems = check_message(payload)
        truncate = any(problem.rule == "message.text" for problem in problems)
        if truncate and surface == "chat.update":
            # chat.update lists msg_too_long rather than truncating; the 2018
            # truncation changelog names only the posting methods.
            problems = [
                Problem(p.rule, p.pointer, "msg_too_long", "error", p.limit, p.actual)
                if p.rule == "message.text"
                else p
                for p in problems
            ]
        errors = self.ws.record_problems(surface, problems)
        rules = {problem.rule for problem in errors}
        if "message.no_text" in rules:
            raise SlackError("no_text")
        if "message.text" in rules:
            raise SlackError("msg_too_long")
        if "message.attachments" in rules:
            raise SlackError("too_many_attachments")
        if errors:
            raise block_error(errors, "invalid_blocks")
        if truncate:
            payload["text"] = str(payload["text"])[: limit("message.text")]
            payload["_truncated"] = True
        return payload

    @staticmethod
    def _truncation_warning(payload: Mapping[str, Any]) -> dict[str, Any]:
        if not payload.get("_truncated"):
            return {}
        # Shape from the "message_truncated" example in Slack's 2018 changelog.
        return {
            "warning": "message_truncated",
            "response_metadata": {
                "warnings": ["message_truncated"],
                "messages": [
                    "[WARN] Your message was truncated but still posted. "
                    "The `text` field accepts up to 40,000 characters."
                ],
            },
        }

    def _message_json(self, message: Message) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "message",
            "text": message.text,
            "user": message.user,
            "bot_id": message.bot_id,
            "app_id": self.ws.app_id,
            "team": self.ws.team_id,
            "ts": message.ts,
        }
        if message.blocks is not None:
            body["blocks"] = message.blocks
        if message.attachments is not None:
            body["attachments"] = message.attachments
        if message.thread_ts is not None:
            body["thread_ts"] = message.thread_ts
        if message.files:
            body["files"] = message.files
        return body

    def store_bot_message(
        self,
        channel: Channel,
        payload: Mapping[str, Any],
        files: list[Any] | None = None,
    ) -> Message:
        """Store a message from the bot in ``channel`` and return it."""
        message = Message(
            channel=channel.id,
            ts=self.ws.next_ts(),
            text=str(payload.get("text") or ""),
            user=self.ws.bot_user_id,
            bot_id=self.ws.bot_id,
            blocks=payload.get("blocks"),
            attachments=payload.get("attachments"),
            thread_ts=payload.get("thread_ts"),
            metadata=payload.get("metadata"),
            files=list(files or []),
        )
        self.ws.messages.setdefault(channel.id, []).append(message)
        return message

    async def chat_post_message(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        channel = self._channel_for_post(args.get("channel"))
        payload = self._message_payload(args, ctx.method)
        message = self.store_bot_message(channel, payload)
        return {
            "channel": channel.id,
            "ts": message.ts,
            "message": self._message_json(message),
            **self._truncation_warning(payload),
        }

    async def chat_post_ephemeral(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        channel = self._channel_for_post(args.get("channel"))
        user_id = str(args.get("user", ""))
        if user_id not in channel.members:
            raise SlackError("user_not_in_channel")
        payload = self._message_payload(args, ctx.method)
        ts = self.ws.next_ts()
        self.ws.ephemeral.append(
            EphemeralMessage(
                channel=channel.id,
                user=user_id,
                ts=ts,
                text=str(payload.get("text") or ""),
                blocks=payload.get("blocks"),
                thread_ts=payload.get("thread_ts"),
            )
        )
        return {"message_ts": ts, **self._truncation_warning(payload)}

    def _own_message(self, args: dict[str, Any], ts_key: str, error: str) -> Message:
        channel = self._visible_channel(args.get("channel"))
        message = self.ws.find_message(channel.id, str(args.get(ts_key, "")))
        if message is None:
            raise SlackError("message_not_found")
        if message.user != self.ws.bot_user_id:
            raise SlackError(error)
        return message

    async def chat_update(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        message = self._own_message(args, "ts", "cant_update_message")
        payload = self._message_payload(args, ctx.method)
        if "text" in payload:
            message.text = str(payload["text"] or "")
        if "blocks" in payload:
            message.blocks = payload["blocks"]
        if "attachments" in payload:
            message.attachments = payload["attachments"]
        message.edited = True
        self.ws.updates.append(
            MessageUpdate(
                channel=message.channel,
                ts=message.ts,
                text=message.text,
                blocks=message.blocks,
                time=self.ws.clock.monotonic(),
            )
        )
        return {
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._message_json(message),
        }

    async def chat_delete(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        message = self._own_message(args, "ts", "cant_delete_message")
        message.deleted = True
        return {"channel": message.channel, "ts": message.ts}

    async def chat_get_permalink(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        channel = self._visible_channel(args.get("channel"))
        ts = str(args.get("message_ts", ""))
        if self.ws.find_message(channel.id, ts) is None:
            raise SlackError("message_not_found")
        link = f"https://{self.ws.team_domain}.slack.com/archives/{channel.id}/p"
        return {"channel": channel.id, "permalink": link + ts.replace(".", "")}

    # -- reactions -------------------------------------------------------------

    def _reaction_target(self, args: dict[str, Any]) -> tuple[Message, str]:
        name = str(args.get("name", "")).strip(":")
        if not name:
            raise SlackError("invalid_name")
        channel = self._visible_channel(args.get("channel"))
        message = self.ws.find_message(channel.id, str(args.get("timestamp", "")))
        if message is None:
            raise SlackError("message_not_found")
        return message, name

    async def reactions_add(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        message, name = self._reaction_target(args)
        users = message.reactions.setdefault(name, [])
        if self.ws.bot_user_id in users:
            raise SlackError("already_reacted")
        users.append(self.ws.bot_user_id)
        return {}

    async def reactions_remove(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        message, name = self._reaction_target(args)
        users = message.reactions.get(name, [])
        if self.ws.bot_user_id not in users:
            raise SlackError("no_reaction")
        users.remove(self.ws.bot_user_id)
        if not users:
            del message.reactions[name]
        return {}
