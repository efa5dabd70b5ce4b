"""The path of a participant message: store, acknowledge, then reply.

`accept` is fast and never calls a model: it drops a delivery seen before,
finds the sender's open interview and stores the message. Adapters call it
inside the platform's acknowledgement window. `respond` does the slow part
afterwards: it runs the engine on every answer not yet handled and stores
the interviewer's turn and the new state in one transaction. A message that
was accepted is never lost: after a crash, `awaiting_reply` lists the
interviews whose last stored message still waits for an answer.

Edits and deletions follow one policy on every platform: an edit or a
deletion of the participant's latest message before the interviewer has
replied to it replaces or removes that answer; any other edit or deletion is
logged and ignored, because the conversation has already moved on.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.base import InboundMessage
from bot.services.studies import guide_of
from interview_engine import start_interview, take_message
from interview_engine.models import (
    ConversationMessage,
    InterviewState,
    OutgoingMessage,
    Status,
)
from interview_engine.providers.base import Provider
from storage import (
    Database,
    Interview,
    InterviewStatus,
    InvitationKind,
    Message,
    MessageRole,
    Participant,
    Study,
    StudyStatus,
    queries,
    scheduling_queries,
)
from storage.types import utcnow

log = logging.getLogger(__name__)

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Replies to one batch of answers; more answers arriving while the model
# works are taken in the next round, up to this many rounds per call.
MAX_ROUNDS = 5


def clean_text(text: str) -> str:
    """Make text storable everywhere.

    PostgreSQL rejects NUL characters. A lone surrogate (from a broken JSON
    escape such as \\ud800) cannot be encoded as UTF-8 at all. Both become
    U+FFFD, the replacement character.
    """
    return _UNSTORABLE.sub("\ufffd", text)


@dataclass(frozen=True)
class AcceptResult:
    """The outcome of `accept`; "stale" means a button under an older question."""

    status: Literal["stored", "duplicate", "no_interview", "stale"]
    interview_id: int | None = None
    message_id: int | None = None


@dataclass(frozen=True)
class StoredReply:
    """An interviewer message stored and ready to send."""

    message_id: int
    interview_id: int
    channel_id: str
    message: OutgoingMessage


@dataclass(frozen=True)
class StartResult:
    """The outcome of `start`. "busy" means another study's interview is open
    in the same channel, and `interview_id` is that other interview."""

    status: Literal["started", "resumed", "already_completed", "study_closed", "busy"]
    interview_id: int | None
    replies: list[StoredReply]


def _history(messages: Sequence[Message]) -> list[ConversationMessage]:
    return [
        ConversationMessage(role=m.role, text=m.text)
        for m in messages
        if m.deleted_at is None and m.text.strip()
    ]


class ConversationService:
    """Runs interviews for every platform through one database and provider."""

    def __init__(self, database: Database, provider: Provider) -> None:
        self.database = database
        self.provider = provider
        self._locks: dict[int, asyncio.Lock] = {}

    def _lock(self, interview_id: int) -> asyncio.Lock:
        return self._locks.setdefault(interview_id, asyncio.Lock())

    async def accept(self, inbound: InboundMessage) -> AcceptResult:
        """Store a participant message once, however often it is delivered."""
        keys = [
            f"message:{inbound.workspace_id}:{inbound.channel_id}:{inbound.message_id}"
        ]
        if inbound.event_key:
            keys.append(f"event:{inbound.event_key}")
        async with self.database.session() as session:
            for key in keys:
                if not await queries.record_event(session, inbound.platform, key):
                    await session.rollback()
                    log.debug(
                        "duplicate delivery dropped: platform=%s key=%s",
                        inbound.platform,
                        key,
                    )
                    return AcceptResult(status="duplicate")
            interview = await queries.open_interview_for_user(
                session,
                inbound.platform,
                inbound.workspace_id,
                inbound.user_id,
                inbound.channel_id,
            )
            if interview is None:
                await session.commit()
                return AcceptResult(status="no_interview")
            assert interview.id is not None
            if inbound.reply_to is not None and not await _is_latest_question(
                session, interview.id, inbound.reply_to
            ):
                await session.commit()
                log.info(
                    "button under an older message ignored: interview=%s", interview.id
                )
                return AcceptResult("stale", interview.id)
            message = Message(
                interview_id=interview.id,
                role=MessageRole.PARTICIPANT,
                text=clean_text(inbound.text),
                platform_message_id=inbound.message_id,
                meta={"handled": False, "thread": inbound.thread_id},
                created_at=inbound.received_at,
            )
            session.add(message)
            await session.commit()
            log.debug(
                "answer stored: interview=%s user=%s chars=%d",
                interview.id,
                inbound.user_id,
                len(inbound.text),
            )
            return AcceptResult("stored", interview.id, message.id)

    async def start(
        self,
        study: Study,
        participant: Participant,
        *,
        channel_id: str,
    ) -> StartResult:
        """Open the participant's interview and store the welcome turn.

        A participant with an open interview gets it back instead of a new
        one; one who completed the study is not interviewed twice.
        """
        assert study.id is not None and participant.id is not None
        async with self.database.session() as session:
            existing = await queries.interview_for_participant(session, participant.id)
            elsewhere = await queries.open_interview_for_user(
                session,
                participant.platform,
                participant.workspace_id,
                participant.platform_user_id,
                channel_id,
            )
        # An open interview may finish even after its study was closed.
        if existing is not None and existing.status in (
            InterviewStatus.ACTIVE,
            InterviewStatus.PAUSED,
        ):
            return StartResult("resumed", existing.id, [])
        if existing is not None and existing.status == InterviewStatus.COMPLETED:
            return StartResult("already_completed", existing.id, [])
        if study.status == StudyStatus.CLOSED:
            return StartResult("study_closed", None, [])
        if elsewhere is not None:
            # One DM cannot carry two interviews: answers would be ambiguous.
            return StartResult("busy", elsewhere.id, [])

        turn = await start_interview(
            guide_of(study),
            now=utcnow(),
            participant_name=participant.display_name or None,
        )
        try:
            async with self.database.session() as session:
                stored_participant = await session.get(Participant, participant.id)
                assert stored_participant is not None
                stored_participant.opted_out_at = None
                interview = Interview(
                    study_id=study.id,
                    participant_id=participant.id,
                    platform=participant.platform,
                    channel_id=channel_id,
                    state=turn.state.model_dump(mode="json"),
                )
                session.add(interview)
                await session.flush()
                assert interview.id is not None
                await scheduling_queries.cancel_pending(
                    session,
                    participant.id,
                    reason="the participant started the interview",
                    kinds=[InvitationKind.INVITATION, InvitationKind.REMINDER],
                )
                replies = self._add_turn(session, interview, turn.messages)
                await session.flush()
                await session.commit()
        except IntegrityError:
            # Another process started this participant's interview first.
            async with self.database.session() as session:
                existing = await queries.interview_for_participant(
                    session, participant.id
                )
            log.info("participant %s: interview started elsewhere", participant.id)
            return StartResult("resumed", existing.id if existing else None, [])
        log.info(
            "interview %s started: study=%s participant=%s platform=%s",
            interview.id,
            study.id,
            participant.id,
            participant.platform,
        )
        return StartResult("started", interview.id, [r() for r in replies])

    def _add_turn(
        self,
        session: AsyncSession,
        interview: Interview,
        messages: list[OutgoingMessage],
    ) -> list[_PendingReply]:
        pending: list[_PendingReply] = []
        for outgoing in messages:
            stored = Message(
                interview_id=interview.id or 0,
                role=MessageRole.INTERVIEWER,
                text=outgoing.text,
                meta={
                    "kind": outgoing.kind.value,
                    "question_id": outgoing.question_id,
                    "buttons": [b.model_dump() for b in outgoing.buttons],
                },
            )
            session.add(stored)
            pending.append(_PendingReply(stored, interview, outgoing))
        return pending

    async def respond(self, interview_id: int) -> list[StoredReply]:
        """Answer every stored participant message not yet handled."""
        replies: list[StoredReply] = []
        async with self._lock(interview_id):
            for _round in range(MAX_ROUNDS):
                produced = await self._respond_once(interview_id)
                if produced is None:
                    break
                replies.extend(produced)
        return replies

    async def _respond_once(self, interview_id: int) -> list[StoredReply] | None:
        async with self.database.session() as session:
            interview = await session.get(Interview, interview_id)
            if interview is None or interview.status not in (
                InterviewStatus.ACTIVE,
                InterviewStatus.PAUSED,
            ):
                return None
            study = await session.get(Study, interview.study_id)
            assert study is not None
            messages = await queries.messages_of(session, interview_id)
        pending = [
            m
            for m in messages
            if m.role == MessageRole.PARTICIPANT
            and not m.meta.get("handled")
            and m.deleted_at is None
        ]
        if not pending:
            return None
        earlier = [m for m in messages if m not in pending]
        text = "\n".join(m.text for m in pending if m.text.strip())
        state = InterviewState.model_validate(interview.state)
        turn = await take_message(
            guide_of(study), state, text, _history(earlier), self.provider, now=utcnow()
        )
        new_state = turn.state
        values: dict[str, object] = {
            "state": new_state.model_dump(mode="json"),
            "status": InterviewStatus(new_state.status.value),
            "language": new_state.language,
            "prompt_tokens": new_state.prompt_tokens,
            "completion_tokens": new_state.completion_tokens,
        }
        if new_state.status == Status.COMPLETED:
            values["completed_at"] = utcnow()
        async with self.database.session() as session:
            if not await queries.bump_interview_version(session, interview, values):
                await session.rollback()
                log.info("interview %s was answered by another worker", interview_id)
                return []
            for message in pending:
                await session.exec(
                    update(Message)
                    .where(col(Message.id) == message.id)
                    .values(meta={**message.meta, "handled": True})
                )
            created = self._add_turn(session, interview, turn.messages)
            participant = await session.get(Participant, interview.participant_id)
            assert participant is not None
            if new_state.status == Status.OPTED_OUT:
                participant.opted_out_at = utcnow()
                await scheduling_queries.cancel_pending(
                    session, participant.id or 0, reason="the participant opted out"
                )
                log.info(
                    "participant %s opted out of study %s", participant.id, study.id
                )
            if new_state.status == Status.COMPLETED:
                participant.contact_ok = new_state.contact_ok
                log.info("interview %s completed", interview_id)
            session.add(participant)
            await session.flush()
            await session.commit()
        return [r() for r in created]

    async def mark_delivered(
        self, message_id: int, platform_message_ids: Sequence[str]
    ) -> None:
        """Record that an interviewer message reached the platform."""
        async with self.database.session() as session:
            await session.exec(
                update(Message)
                .where(col(Message.id) == message_id)
                .values(
                    delivered_at=utcnow(),
                    platform_message_id=",".join(platform_message_ids) or None,
                )
            )
            await session.commit()

    async def has_open_interview(
        self, platform: str, workspace_id: str, user_id: str, channel_id: str
    ) -> bool:
        async with self.database.session() as session:
            found = await queries.open_interview_for_user(
                session, platform, workspace_id, user_id, channel_id
            )
        return found is not None

    async def last_interviewer_message(
        self, interview_id: int
    ) -> OutgoingMessage | None:
        """Return the interviewer's latest message, to show again on resuming."""
        async with self.database.session() as session:
            messages = await queries.messages_of(session, interview_id)
        for message in reversed(messages):
            if message.role == MessageRole.INTERVIEWER:
                return _outgoing_from(message)
        return None

    async def awaiting_reply(
        self, platform: str | None = None, grace: timedelta = timedelta(0)
    ) -> Sequence[int]:
        """Interviews whose newest message is an answer still waiting for a turn.

        `grace` leaves out answers so new that a reply may still be coming.
        """
        older_than = utcnow() - grace if grace else None
        async with self.database.session() as session:
            return await queries.interviews_awaiting_reply(
                session, platform, older_than
            )

    async def undelivered(
        self, grace: timedelta = timedelta(seconds=10), platform: str | None = None
    ) -> list[StoredReply]:
        """Interviewer messages stored but not confirmed as sent.

        `grace` leaves out messages so new that their send may still be
        under way in this or another process.
        """
        async with self.database.session() as session:
            messages = await queries.undelivered_messages(
                session, utcnow() - grace, platform
            )
            replies: list[StoredReply] = []
            for message in messages:
                interview = await session.get(Interview, message.interview_id)
                if interview is None or interview.status == InterviewStatus.OPTED_OUT:
                    continue
                replies.append(
                    StoredReply(
                        message_id=message.id or 0,
                        interview_id=message.interview_id,
                        channel_id=interview.channel_id,
                        message=_outgoing_from(message),
                    )
                )
            return replies

    async def apply_edit(
        self, platform: str, user_id: str | None, message_id: str, new_text: str | None
    ) -> bool:
        """Apply the edit policy; `new_text` None means the message was deleted.

        `user_id` may be None when the platform does not say who deleted a
        message (Discord); the message id then identifies it alone.
        Returns True when the stored answer changed.
        """
        async with self.database.session() as session:
            message = await queries.participant_message(
                session, platform, user_id, message_id
            )
            if message is None:
                log.debug("edit of an unknown message ignored: %s", message_id)
                return False
            messages = await queries.messages_of(session, message.interview_id)
            latest = messages[-1] if messages else None
            if latest is None or latest.id != message.id or message.meta.get("handled"):
                log.info(
                    "edit after the interviewer replied, ignored: interview=%s",
                    message.interview_id,
                )
                return False
            if new_text is None:
                message.deleted_at = utcnow()
            else:
                message.text = clean_text(new_text)
                message.edited_at = utcnow()
            session.add(message)
            await session.commit()
            log.info(
                "latest answer %s before a reply: interview=%s",
                "deleted" if new_text is None else "edited",
                message.interview_id,
            )
            return True


async def _is_latest_question(
    session: AsyncSession, interview_id: int, platform_message_id: str
) -> bool:
    """Tell whether a platform message is part of the latest interviewer turn."""
    messages = await queries.messages_of(session, interview_id)
    for message in reversed(messages):
        if message.role == MessageRole.INTERVIEWER:
            ids = (message.platform_message_id or "").split(",")
            return platform_message_id in ids
    return False


def _outgoing_from(message: Message) -> OutgoingMessage:
    return OutgoingMessage.model_validate(
        {
            "text": message.text,
            "kind": message.meta.get("kind", "question"),
            "question_id": message.meta.get("question_id"),
            "buttons": message.meta.get("buttons", []),
        }
    )


@dataclass
class _PendingReply:
    """A stored message whose id is known only after the session flushes."""

    stored: Message
    interview: Interview
    outgoing: OutgoingMessage

    def __call__(self) -> StoredReply:
        assert self.stored.id is not None and self.interview.id is not None
        return StoredReply(
            message_id=self.stored.id,
            interview_id=self.interview.id,
            channel_id=self.interview.channel_id,
            message=self.outgoing,
        )
