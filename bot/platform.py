"""What every chat platform does with interview replies, once.

Slack and Discord differ in how they send a message and how they show that
the bot is working; the rest is the same and lives here: background tasks
that are tracked, one reply at a time per interview, a short pause that
gathers a burst of messages into one answer, retries of failed sends, and a
sweeper that finishes what a failure or a restart left undone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from adapters import texts
from adapters.base import InterviewReply, InvitationReply, Reply, TextReply
from adapters.errors import (
    DeliveryError,
    RateLimitedError,
    RecipientUnreachableError,
    TemporaryDeliveryError,
)
from bot.commands import invitation_text
from bot.context import AppContext
from bot.services import invited
from bot.services.conversation import StartResult, StoredReply
from bot.services.invited import first_reply
from storage import Participant, Study

log = logging.getLogger(__name__)

Send = Callable[[StoredReply, str | None], Awaitable[list[str]]]
SEND_ATTEMPTS = 4
MAX_WAIT_SECONDS = 30.0
SWEEP_SECONDS = 30.0
# A stranger who keeps writing gets the explanation at most this often.
STRANGER_REPLY_SECONDS = 600.0


@contextlib.asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


class PlatformRuntime:
    """Replies and deliveries of one platform in this process.

    Args:
        context: The services.
        platform: "slack" or "discord"; the sweeper looks at its interviews only.
        send: Sends one stored reply (in a thread when given one) and returns
            the platform's message ids.
        reply_delay: Seconds to wait after a participant's message before
            answering, so that several quick messages become one answer.
    """

    def __init__(
        self, context: AppContext, platform: str, send: Send, reply_delay: float
    ) -> None:
        self.context = context
        self.platform = platform
        self.send = send
        self.reply_delay = reply_delay
        self._tasks: set[asyncio.Task[Any]] = set()
        self._locks: dict[int, asyncio.Lock] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._explained: dict[str, float] = {}
        # First wait after a network or server failure; it doubles each time.
        self.backoff_seconds = 2.0

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run work in the background; log its failure instead of losing it."""
        task = asyncio.create_task(self._guarded(work, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        try:
            await work
        except Exception:
            log.exception("%s: background work failed: %s", self.platform, what)

    async def drain(self) -> None:
        """Wait until every background task has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def reply(
        self,
        interview_id: int,
        *,
        thread_ts: str | None = None,
        working: Callable[[], AbstractAsyncContextManager[Any]] = _nothing,
    ) -> None:
        """Answer an interview's new messages: wait for the burst to end, then
        run the engine and send its turn, one interview at a time."""
        if self.reply_delay > 0:
            await asyncio.sleep(self.reply_delay)
        async with self._locks.setdefault(interview_id, asyncio.Lock()):
            async with working():
                replies = await self.context.conversations.respond(interview_id)
            await self.deliver(replies, thread_ts=thread_ts)

    async def deliver(
        self, replies: list[StoredReply], *, thread_ts: str | None = None
    ) -> bool:
        """Send replies in order and record their ids; False when one failed.

        A reply that cannot be sent stays stored as undelivered, and the
        replies after it wait with it, so the participant never sees a
        question out of order; the sweeper sends them later.
        """
        for reply in replies:
            ids = await self._send_with_retries(reply, thread_ts)
            if ids is None:
                return False
            await self.context.conversations.mark_delivered(reply.message_id, ids)
        return True

    async def _send_with_retries(
        self, reply: StoredReply, thread_ts: str | None
    ) -> list[str] | None:
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                return await self.send(reply, thread_ts)
            except RecipientUnreachableError as error:
                log.warning(
                    "%s interview %s: participant unreachable (%s)",
                    self.platform,
                    reply.interview_id,
                    error.reason,
                )
                return None
            except RateLimitedError as error:
                wait = min(error.retry_after, MAX_WAIT_SECONDS)
            except TemporaryDeliveryError:
                wait = self.backoff_seconds * 2 ** (attempt - 1)
            except DeliveryError as error:
                log.warning(
                    "%s interview %s: send failed, kept for later: %s",
                    self.platform,
                    reply.interview_id,
                    error,
                )
                return None
            log.info(
                "%s interview %s: send attempt %d failed, retrying in %.0f s",
                self.platform,
                reply.interview_id,
                attempt,
                wait,
            )
            await asyncio.sleep(wait)
        log.warning(
            "%s interview %s: send failed %d times, kept for the sweeper",
            self.platform,
            reply.interview_id,
            SEND_ATTEMPTS,
        )
        return None

    async def sweep(self, *, grace: timedelta = timedelta(seconds=10)) -> None:
        """Send what is stored but undelivered; answer what is unanswered."""
        conversations = self.context.conversations
        pending: dict[int, list[StoredReply]] = {}
        for stored in await conversations.undelivered(
            grace=grace, platform=self.platform
        ):
            pending.setdefault(stored.interview_id, []).append(stored)
        for interview_id, replies in pending.items():
            async with self._locks.setdefault(interview_id, asyncio.Lock()):
                await self.deliver(replies)
        waiting = await conversations.awaiting_reply(self.platform, grace=grace)
        for interview_id in waiting:
            await self.reply(interview_id)

    async def start_interview(
        self,
        study: Study,
        participant: Participant,
        channel_id: str,
        post: Callable[[str, Reply], Awaitable[Any]],
    ) -> StartResult:
        """Start (or pick up) an interview and tell the participant what happened."""
        started = await self.context.conversations.start(
            study, participant, channel_id=channel_id
        )
        notes = {
            "already_completed": texts.ALREADY_COMPLETED,
            "study_closed": texts.STUDY_CLOSED,
            "busy": texts.BUSY,
        }
        if started.status in notes:
            await post(channel_id, TextReply(notes[started.status]))
        elif started.status == "resumed":
            last = await self.context.conversations.last_interviewer_message(
                started.interview_id or 0
            )
            await post(channel_id, TextReply(texts.IN_PROGRESS))
            if last is not None:
                await post(channel_id, InterviewReply(last))
        else:
            await self.deliver(started.replies)
        return started

    async def welcome_stranger(
        self,
        user_id: str,
        workspace_id: str,
        channel_id: str,
        text: str,
        post: Callable[[str, Reply], Awaitable[Any]],
    ) -> None:
        """Answer someone without an open interview.

        An invited participant's first message starts the interview (or opts
        out, or asks for later). Anyone else gets one short explanation at
        most every ten minutes; open studies are offered only to people who
        never opted out or completed an interview before.
        """
        participants = self.context.participants
        pending = await participants.pending(self.platform, workspace_id, user_id)
        if pending:
            participant, study = pending[0]
            meaning = await first_reply(self.context, participant, text)
            if meaning == "start":
                await self.start_interview(study, participant, channel_id, post)
            else:
                note = invited.OPTED_OUT if meaning == "opted_out" else invited.LATER
                await post(channel_id, TextReply(note))
            return
        now = time.monotonic()
        if (
            now - self._explained.get(user_id, -STRANGER_REPLY_SECONDS)
            < STRANGER_REPLY_SECONDS
        ):
            return
        self._explained[user_id] = now
        opted_out, completed = await participants.past(
            self.platform, workspace_id, user_id
        )
        if opted_out:
            await post(channel_id, TextReply(texts.OPTED_OUT_BEFORE))
            return
        if completed:
            await post(channel_id, TextReply(texts.COMPLETED_BEFORE))
            return
        open_studies = await participants.open_studies(self.platform)
        note = texts.STRANGER + (texts.OPEN_STUDIES if open_studies else "")
        await post(channel_id, TextReply(note))
        for study in open_studies[:3]:
            await post(
                channel_id,
                InvitationReply(invitation_text(study), study.id or 0, study.join_code),
            )

    def start_sweeper(self, interval: float = SWEEP_SECONDS) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.sweep()
                except Exception:
                    log.exception("%s: sweep failed", self.platform)

        if self._sweeper is None:
            self._sweeper = asyncio.create_task(loop())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.drain()
