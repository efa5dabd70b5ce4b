"""Inward conversion: Slack message events to our inbound messages.

Only a person's own new message in a direct message with the bot becomes
an `InboundMessage`. The bot's own messages, other apps' messages, joins and
other subtypes are dropped; edits and deletions become `Edit` values that
the conversation service's edit policy decides on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NotRequired, TypedDict

from adapters.base import InboundMessage


class SlackFile(TypedDict, total=False):
    id: str
    name: str


class MessageEvent(TypedDict):
    """The fields of a Slack `message` event that the bot reads."""

    type: str
    channel: str
    ts: str
    user: NotRequired[str]
    text: NotRequired[str]
    subtype: NotRequired[str]
    bot_id: NotRequired[str]
    channel_type: NotRequired[str]
    thread_ts: NotRequired[str]
    files: NotRequired[list[SlackFile]]
    message: NotRequired[dict[str, object]]
    previous_message: NotRequired[dict[str, object]]
    deleted_ts: NotRequired[str]


# One bot token serves one workspace, so Slack participants are keyed by user
# id alone, with this workspace id: the same as for participants invited or
# imported from the command line, who are created before any Slack event
# names a team.
WORKSPACE = ""

# Subtypes that carry a person's own words.
PERSON_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "me_message"})


@dataclass(frozen=True)
class Edit:
    """A participant changed (text) or deleted (text None) an earlier message."""

    user_id: str
    message_id: str
    text: str | None


@dataclass(frozen=True)
class Ignored:
    reason: str


def convert_message(
    event: MessageEvent,
    *,
    bot_user_id: str,
    event_id: str | None,
) -> InboundMessage | Edit | Ignored:
    """Decide what a message event means for the interview."""
    if event.get("channel_type") not in (None, "im"):
        return Ignored("not a direct message")
    subtype = event.get("subtype")
    if subtype == "message_changed":
        changed = event.get("message") or {}
        user = str(changed.get("user", ""))
        if not user or user == bot_user_id or changed.get("bot_id"):
            return Ignored("edit of a bot message")
        return Edit(user, str(changed.get("ts", "")), str(changed.get("text", "")))
    if subtype == "message_deleted":
        previous = event.get("previous_message") or {}
        user = str(previous.get("user", ""))
        if not user or user == bot_user_id:
            return Ignored("deletion of a bot message")
        return Edit(user, str(event.get("deleted_ts", "")), None)
    if event.get("bot_id") or subtype == "bot_message":
        return Ignored("message from a bot")
    user = event.get("user", "")
    if not user or user == bot_user_id:
        return Ignored("message from the bot itself")
    if subtype not in PERSON_SUBTYPES:
        return Ignored(f"subtype {subtype}")
    # For file_share the files are not downloaded: the words are the answer,
    # and a file without words gets the engine's request for text.
    text = event.get("text", "")
    return InboundMessage(
        platform="slack",
        workspace_id=WORKSPACE,
        user_id=user,
        channel_id=event["channel"],
        text=text,
        message_id=event["ts"],
        event_key=event_id,
        thread_id=event.get("thread_ts"),
    )
