"""Direct messages: interview answers, answer buttons, Start and Not now.

Deliveries are de-duplicated in the database by event_id and by channel
and ts: HTTP retries carry X-Slack-Retry-Num, but Socket Mode can deliver
one envelope twice with no retry marker at all.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from slack_bolt.app.async_app import AsyncApp

from adapters import texts
from adapters.base import InboundMessage
from adapters.errors import DeliveryError
from adapters.slack.blocks import (
    ANSWER_ACTION_PREFIX,
    DECLINE_ACTION,
    START_ACTION,
    context,
    escape,
)
from adapters.slack.inbound import (
    WORKSPACE,
    Edit,
    Ignored,
    MessageEvent,
    convert_message,
)
from bot.errors import NotFoundError
from interview_engine.models import ParticipantExperience
from storage import Participant, Study, StudyStatus

if TYPE_CHECKING:
    from adapters.slack.app import SlackBot

log = logging.getLogger(__name__)

WORKING_REACTION = "hourglass_flowing_sand"


class DirectMessages:
    """Listeners for what participants do in their DM with the bot."""

    def __init__(self, bot: SlackBot) -> None:
        self.bot = bot

    def register(self, app: AsyncApp) -> None:
        app.event("message")(self.on_message)
        app.event("file_shared")(self.on_file_shared)
        app.action(START_ACTION)(self.on_start)
        app.action(DECLINE_ACTION)(self.on_decline)
        app.action(re.compile(f"^{ANSWER_ACTION_PREFIX}"))(self.on_answer_button)

    async def on_file_shared(self, event: dict[str, Any]) -> None:
        # The text of a file_share message arrives as a message event; this
        # one only tells that a file exists, and needs nothing but the 200.
        log.debug("file_shared event acknowledged: %s", event.get("file_id"))

    async def on_message(self, event: MessageEvent, body: dict[str, Any]) -> None:
        bot = self.bot
        converted = convert_message(
            event,
            bot_user_id=bot.bot_user_id,
            event_id=body.get("event_id"),
        )
        if isinstance(converted, Ignored):
            log.debug("message ignored: %s", converted.reason)
            return
        conversations = bot.context.conversations
        if isinstance(converted, Edit):
            await conversations.apply_edit(
                "slack", converted.user_id, converted.message_id, converted.text
            )
            return
        result = await conversations.accept(converted)
        if result.status == "duplicate":
            return
        if result.status == "no_interview":
            bot.spawn(self.welcome_stranger(converted), "reply to a stranger")
            return
        assert result.interview_id is not None
        bot.spawn(self.reply(result.interview_id, converted), "interview reply")

    async def reply(self, interview_id: int, inbound: InboundMessage) -> None:
        """Answer once the participant pauses, with an hourglass on their
        message while the model works."""
        adapter = self.bot.adapter

        @contextlib.asynccontextmanager
        async def working() -> AsyncIterator[None]:
            await adapter.add_reaction(
                inbound.channel_id, inbound.message_id, WORKING_REACTION
            )
            try:
                yield
            finally:
                await adapter.remove_reaction(
                    inbound.channel_id, inbound.message_id, WORKING_REACTION
                )

        await self.bot.runtime.reply(
            interview_id, thread_ts=inbound.thread_id, working=working
        )

    async def welcome_stranger(self, inbound: InboundMessage) -> None:
        """Start an invited participant's interview, or explain politely."""
        await self.bot.runtime.welcome_stranger(
            inbound.user_id,
            inbound.workspace_id,
            inbound.channel_id,
            inbound.text,
            self.bot.adapter.post_to_channel,
        )

    async def start_interview(
        self, study: Study, participant: Participant, channel_id: str
    ) -> str:
        started = await self.bot.runtime.start_interview(
            study, participant, channel_id, self.bot.adapter.post_to_channel
        )
        return started.status

    async def join(self, user_id: str, join_code: str) -> str | None:
        """Start the user's interview in a study; return a refusal, if any."""
        bot = self.bot
        try:
            study = await bot.context.studies.get(join_code)
        except NotFoundError:
            return "This study no longer exists."
        if study.status != StudyStatus.ACTIVE:
            return "This study has closed. Thank you for your interest!"
        participants = bot.context.participants
        participant = await participants.find(study, "slack", WORKSPACE, user_id)
        experience = ParticipantExperience.model_validate(study.experience)
        if participant is None and experience.require_known_participants:
            return texts.INVITATION_ONLY
        info = await bot.adapter.lookup_user(user_id)
        if not info.reachable:
            return "I can't send you direct messages, so I can't interview you."
        participant = await participants.ensure(
            study,
            platform="slack",
            workspace_id=WORKSPACE,
            user_id=user_id,
            display_name=info.display_name,
            time_zone=info.time_zone,
            consent=True,
        )
        channel = await bot.adapter.open_direct_message(user_id)
        await self.start_interview(study, participant, channel)
        return None

    async def on_start(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        user_id = body["user"]["id"]
        join_code = body["actions"][0]["value"]
        self.bot.spawn(
            self._start_clicked(user_id, join_code, body, respond),
            "start button",
        )

    async def _start_clicked(
        self,
        user_id: str,
        join_code: str,
        body: dict[str, Any],
        respond: Any,
    ) -> None:
        try:
            refusal = await self.join(user_id, join_code)
        except DeliveryError as error:
            log.warning("start for %s failed: %s", user_id, error)
            refusal = (
                "I couldn't open a direct message with you. Please try again later."
            )
        if refusal:
            await respond(
                text=refusal, response_type="ephemeral", replace_original=False
            )
            return
        channel = (body.get("channel") or {}).get("id", "")
        if str(channel).startswith("D"):
            await self._replace_buttons(body, "Interview started below.")

    async def on_decline(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        note = "No problem. If you change your mind, press Start on a new invitation."
        channel = str((body.get("channel") or {}).get("id", ""))
        if channel.startswith("D"):
            # Only a DM invitation is the person's own to change; a channel
            # post stays for everyone else.
            self.bot.spawn(self._replace_buttons(body, note), "decline button")
        else:
            await respond(text=note, response_type="ephemeral", replace_original=False)

    async def _replace_buttons(self, body: dict[str, Any], note: str) -> None:
        """Swap a message's buttons for a note, so they cannot be pressed twice."""
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id")
        if not channel or not message.get("ts"):
            return
        blocks = [b for b in message.get("blocks", []) if b.get("type") != "actions"]
        blocks.append(context(escape(note)))
        await self.bot.client.chat_update(
            channel=channel,
            ts=message["ts"],
            text=message.get("text", note),
            blocks=blocks,
        )

    async def on_answer_button(self, ack: Any, body: dict[str, Any]) -> None:
        """Treat an answer button (Yes, No...) as if the participant typed it."""
        await ack()
        action = body["actions"][0]
        channel = (body.get("channel") or {}).get("id", "")
        message_ts = str((body.get("message") or {}).get("ts", ""))
        inbound = InboundMessage(
            platform="slack",
            workspace_id=WORKSPACE,
            user_id=body["user"]["id"],
            channel_id=channel,
            text=str(action.get("value", "")),
            # One answer per message with buttons: a second press of any of
            # its buttons is the same delivery, and is dropped.
            message_id=f"buttons:{message_ts or action.get('action_ts', '')}",
            reply_to=message_ts or None,
        )
        result = await self.bot.context.conversations.accept(inbound)
        if result.status != "stored" or result.interview_id is None:
            return
        label = (action.get("text") or {}).get("text", inbound.text)
        self.bot.spawn(
            self._replace_buttons(body, f"You chose: {label}"), "answer button"
        )
        self.bot.spawn(self.bot.runtime.reply(result.interview_id), "interview reply")
