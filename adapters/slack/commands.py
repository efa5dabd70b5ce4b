"""`/perspective` in Slack: parsing, acknowledging, modals, App Home.

Every command is acknowledged at once (with usage help, a refusal, or
"working on it"), then run in the background; results go back through the
command's response_url when private, or chat.postMessage when posted to
the channel. Errors and refusals are always ephemeral.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from slack_bolt.app.async_app import AsyncApp

from adapters.base import FileReply, Reply, TextReply
from adapters.errors import ChannelUnavailableError, DeliveryError
from adapters.slack import views
from adapters.slack.blocks import (
    PLAN_ACTIONS,
    Block,
    escape,
    render,
    section,
    shorten,
)
from bot.commands import (
    COMMAND,
    SLOW_COMMANDS,
    CommandResult,
    CommandService,
    Invocation,
    ParsedCommand,
    UsageError,
    parse,
    plan_reply,
)
from bot.errors import PermissionDeniedError, PerspectiveError
from bot.services.studies import experience_of, plan_of, questions_of, settings_of
from interview_engine import plans

if TYPE_CHECKING:
    from adapters.slack.app import SlackBot

log = logging.getLogger(__name__)

NOT_IN_CHANNEL = (
    "I can't post in this channel because I'm not a member of it. Add me with "
    "`/invite @Perspective` (or the channel's settings > Integrations), then run "
    "the command again. Nothing is lost: the result is saved."
)


def invocation_from(command: dict[str, Any], team_id: str) -> Invocation:
    channel = str(command.get("channel_id", ""))
    return Invocation(
        platform="slack",
        workspace_id=str(command.get("team_id") or team_id),
        user_id=str(command.get("user_id", "")),
        channel_id=channel,
        is_direct_message=channel.startswith("D")
        or command.get("channel_name") == "directmessage",
    )


class SlashCommands:
    """Listeners for researchers: the command, plan buttons, modals, Home."""

    def __init__(self, bot: SlackBot) -> None:
        self.bot = bot
        self.service = CommandService(
            bot.context, bot.is_researcher, {"slack": bot.adapter}
        )

    def register(self, app: AsyncApp) -> None:
        app.command(COMMAND)(self.on_command)
        app.action(re.compile("^(" + "|".join(PLAN_ACTIONS) + ")$"))(
            self.on_plan_button
        )
        app.view(views.NEW_STUDY)(self.on_new_study)
        app.view(views.PLAN)(self.on_plan_saved)
        app.view(views.QUESTIONS)(self.on_questions_saved)
        app.view(views.SETTINGS)(self.on_settings_saved)
        app.event("app_home_opened")(self.on_home_opened)

    # -- the command -----------------------------------------------------------

    async def on_command(
        self, ack: Any, command: dict[str, Any], respond: Any, client: Any
    ) -> None:
        invocation = invocation_from(command, self.bot.team_id)
        try:
            parsed = parse(str(command.get("text", "")))
        except UsageError as error:
            await ack(text=str(error))
            return
        if (parsed.name == "new" and not parsed.arguments) or parsed.name == "settings":
            # A modal needs the trigger_id, which expires 3 seconds after the
            # command, so it is opened before the acknowledgement.
            try:
                result = await self.service.run(invocation, parsed)
                await self._open_form(result, invocation, command["trigger_id"])
            except PerspectiveError as error:
                await ack(text=str(error))
                return
            await ack()
            return
        slow = parsed.name in SLOW_COMMANDS
        if slow:
            await ack(text=f"Working on `{COMMAND} {parsed.name}`…")
        else:
            await ack()
        self.bot.spawn(self._run(invocation, parsed, respond), f"command {parsed.name}")

    async def _run(
        self, invocation: Invocation, parsed: ParsedCommand, respond: Any
    ) -> None:
        try:
            result = await self.service.run(invocation, parsed)
        except PerspectiveError as error:
            await self._respond(respond, [TextReply(str(error))])
            return
        await self.publish(invocation, result, respond)

    async def publish(
        self, invocation: Invocation, result: CommandResult, respond: Any
    ) -> None:
        """Show a command's result where its visibility says."""
        adapter = self.bot.adapter
        if result.visibility == "private":
            await self._respond(respond, result.replies)
            return
        if result.visibility == "direct_message":
            for reply in result.replies:
                await adapter.send_direct_message(invocation.user_id, reply)
            if result.note:
                await self._respond(respond, [TextReply(result.note)])
            return
        try:
            for reply in result.replies:
                await adapter.post_to_channel(invocation.channel_id, reply)
        except ChannelUnavailableError as error:
            log.info("cannot post to %s: %s", invocation.channel_id, error.reason)
            await self._respond(respond, [TextReply(NOT_IN_CHANNEL)])
        except DeliveryError as error:
            log.warning("posting to %s failed: %s", invocation.channel_id, error)
            await self._respond(
                respond, [TextReply(f"Posting failed ({error}). Please try again.")]
            )

    async def _respond(self, respond: Any, replies: list[Reply]) -> None:
        for reply in replies:
            if isinstance(reply, FileReply):
                reply = TextReply(
                    f"{reply.title} is ready, but files go to channels only."
                )
            for message in render(reply):
                await respond(
                    text=message.text,
                    blocks=message.blocks,
                    response_type="ephemeral",
                    replace_original=False,
                )

    # -- modals ----------------------------------------------------------------

    async def _open_form(
        self, result: CommandResult, invocation: Invocation, trigger: str
    ) -> None:
        study = result.study
        channel = invocation.channel_id
        if result.form == "new":
            view = views.new_study_modal(channel, invocation.is_direct_message)
        elif result.form == "settings" and study is not None:
            view = views.settings_modal(study.id or 0, experience_of(study), channel)
        elif result.form == "plan" and study is not None:
            view = views.plan_modal(study.id or 0, study.title, plan_of(study), channel)
        elif result.form == "questions" and study is not None:
            questions = questions_of(study)
            if not views.questions_fit(questions):
                # A modal input holds 3,000 characters; cutting the guide to fit
                # would delete questions on Save.
                raise PerspectiveError(
                    "This guide is too long to edit in a form. Use "
                    f"`{COMMAND} questions {study.id} add|remove|move|mandatory` "
                    "instead."
                )
            view = views.questions_modal(study.id or 0, questions, channel)
        else:
            return
        await self.bot.client.views_open(trigger_id=trigger, view=view)

    async def on_plan_button(
        self, ack: Any, body: dict[str, Any], respond: Any
    ) -> None:
        action = body["actions"][0]
        invocation = Invocation(
            platform="slack",
            workspace_id=str((body.get("team") or {}).get("id") or self.bot.team_id),
            user_id=body["user"]["id"],
            channel_id=str((body.get("channel") or {}).get("id", "")),
            is_direct_message=str((body.get("channel") or {}).get("id", "")).startswith(
                "D"
            ),
        )
        study_ref = str(action.get("value", ""))
        action_id = action["action_id"]
        if action_id == "perspective_post_link":
            await ack()
            parsed = ParsedCommand("link", [study_ref])
            self.bot.spawn(self._run(invocation, parsed, respond), "post link")
            return
        form = {
            "perspective_edit_plan": "plan",
            "perspective_edit_questions": "questions",
            "perspective_edit_settings": "settings",
        }[action_id]
        try:
            if not await self.bot.is_researcher(invocation):
                raise PermissionDeniedError("Only researchers can edit a study.")
            study = await self.bot.context.studies.get(study_ref)
            result = CommandResult(form=form, study=study)  # type: ignore[arg-type]
            await self._open_form(result, invocation, body["trigger_id"])
        except PerspectiveError as error:
            await ack()
            await self._respond(respond, [TextReply(str(error))])
            return
        await ack()

    async def _post_private(
        self, metadata: dict[str, Any], user_id: str, reply: Reply
    ) -> None:
        """Show a modal's result to the user in the channel it came from."""
        adapter = self.bot.adapter
        channel = str(metadata.get("channel", ""))
        try:
            if channel and not channel.startswith("D"):
                await adapter.post_ephemeral(channel, user_id, reply)
                return
        except DeliveryError as error:
            log.info("ephemeral post to %s failed (%s); sending a DM", channel, error)
        await adapter.send_direct_message(user_id, reply)

    async def on_new_study(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        values = views.submitted_values(view)
        question = values.get("question", "").strip()
        if len(question) < 10:
            await ack(
                response_action="errors",
                errors={"question": "Write the research question as a full question."},
            )
            return
        await ack()
        metadata = views.metadata(view)
        user_id = body["user"]["id"]
        invocation = Invocation(
            platform="slack",
            workspace_id=self.bot.team_id,
            user_id=user_id,
            channel_id=str(metadata.get("channel", "")),
            is_direct_message=bool(metadata.get("direct")),
        )

        async def create() -> None:
            try:
                study = await self.service.create_study(
                    invocation, question, values.get("title") or None
                )
                reply: Reply = plan_reply(study)
            except PerspectiveError as error:
                reply = TextReply(str(error))
            await self._post_private(metadata, user_id, reply)

        self.bot.spawn(create(), "create study")

    async def _save(
        self,
        ack: Any,
        body: dict[str, Any],
        view: dict[str, Any],
        change: Any,
        field: str,
    ) -> None:
        metadata = views.metadata(view)
        user_id = body["user"]["id"]
        invocation = Invocation(
            "slack", self.bot.team_id, user_id, str(metadata.get("channel"))
        )
        if not await self.bot.is_researcher(invocation):
            await ack(
                response_action="errors", errors={field: "Only researchers can edit."}
            )
            return
        try:
            study = await change(metadata.get("study"), views.submitted_values(view))
        except (PerspectiveError, ValidationError) as error:
            await ack(response_action="errors", errors={field: str(error)[:300]})
            return
        await ack()
        self.bot.spawn(
            self._post_private(metadata, user_id, plan_reply(study)), "show saved plan"
        )

    async def on_plan_saved(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        async def change(study_id: int, values: dict[str, str]) -> Any:
            return await self.bot.context.studies.edit_plan(
                study_id,
                title=values.get("title"),
                research_type=values.get("research_type"),
                description=values.get("description"),
                target_participants=values.get("target"),
                goals=views.lines(values.get("goals", "")) or None,
            )

        await self._save(ack, body, view, change, "title")

    async def on_questions_saved(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        async def change(study_id: int, values: dict[str, str]) -> Any:
            studies = self.bot.context.studies
            study = await studies.get(study_id)
            limits = settings_of(study)
            mandatory = views.lines(values.get("mandatory", ""))
            optional = views.lines(values.get("optional", ""))
            return await studies.change_questions(
                study_id,
                lambda qs: plans.replace_questions(qs, mandatory, optional, limits),
            )

        await self._save(ack, body, view, change, "mandatory")

    async def on_settings_saved(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        async def change(study_id: int, values: dict[str, str]) -> Any:
            return await self.bot.context.studies.set_experience(
                study_id,
                conversation_title=values.get("conversation_title", ""),
                welcome_message=values.get("welcome_message", ""),
                researcher_name=values.get("researcher_name", ""),
                researcher_title=values.get("researcher_title", ""),
                researcher_bio=values.get("researcher_bio", ""),
                call_to_action=values.get("call_to_action", ""),
                contact=values.get("contact", ""),
                send_thank_you=values.get("send_thank_you") == "yes",
                thank_you_message=values.get("thank_you_message", ""),
                require_known_participants=values.get("joining") != "open",
                access_level=values.get("access_level") or "team",
            )

        await self._save(ack, body, view, change, "conversation_title")

    # -- App Home --------------------------------------------------------------

    async def on_home_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        self.bot.spawn(self.publish_home(str(event["user"])), "publish App Home")

    async def publish_home(self, user_id: str) -> None:
        """Show the user's studies with their status and buttons."""
        invocation = Invocation("slack", self.bot.team_id, user_id, "")
        studies = self.bot.context.studies
        researcher = await self.bot.is_researcher(invocation)
        blocks: list[Block] = [
            {"type": "header", "text": {"type": "plain_text", "text": "Perspective"}}
        ]
        if not researcher:
            blocks += section(
                "I run research interviews for the support team. If you're invited "
                "to a study, I'll message you here. You can stop, pause or skip at "
                "any time."
            )
        else:
            shown = 0
            for study in reversed(await studies.all()):
                if shown == 20:
                    blocks += section("_Only the 20 most recent studies are shown._")
                    break
                counts = await studies.counts(study)
                completed = counts.get("completed", 0)
                started = counts.get("active", 0) + counts.get("paused", 0)
                blocks.append({"type": "divider"})
                title = escape(shorten(study.title, 150))
                blocks += section(
                    f"*{study.id}. {title}* · {study.status}\n"
                    f"{completed} completed · {started} in progress · "
                    f"{counts.get('opted_out', 0)} opted out · code `{study.join_code}`"
                )
                blocks.append(
                    {
                        "type": "actions",
                        "elements": [
                            {
                                "type": "button",
                                "text": {"type": "plain_text", "text": label},
                                "action_id": action_id,
                                "value": str(study.id),
                            }
                            for action_id, label in list(PLAN_ACTIONS.items())[:3]
                        ],
                    }
                )
                shown += 1
            if shown == 0:
                blocks += section(f"No studies yet. Start one with `{COMMAND} new`.")
        await self.bot.client.views_publish(
            user_id=user_id, view={"type": "home", "blocks": blocks}
        )
