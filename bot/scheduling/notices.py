"""Messages for the research team: researcher DMs and team channel posts.

Notices are rows like invitations, so a report written while the platform
is down is delivered later instead of being lost. A notice for a study
owned from the console has no platform to go to: it stays scheduled, and
`perspective status` lists it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from adapters.base import Adapter, TextReply
from bot.config import SchedulerSettings
from bot.scheduling.delivery import FailedSend, decide_after_error
from storage import Database, InvitationStatus, Notice, Study, scheduling_queries

log = logging.getLogger(__name__)


class NoticeKind(StrEnum):
    MISSED = "missed"
    UNCONFIRMED = "unconfirmed"
    PERMISSION = "permission"
    UNREACHABLE = "unreachable"
    RECURRING_MISSED = "recurring-missed"
    TARGET_REACHED = "target-reached"
    INTERVIEW_NOTE = "interview-note"
    DIGEST = "digest"


def to_researcher(
    study: Study,
    kind: NoticeKind,
    text: str,
    *,
    now: datetime,
    dedupe_key: str | None = None,
) -> Notice:
    """Build a direct message to the study's owner."""
    return _notice(
        study,
        kind,
        text,
        ("user", study.owner_platform, study.owner_id),
        now,
        dedupe_key,
    )


def to_team_channel(
    study: Study,
    kind: NoticeKind,
    text: str,
    *,
    now: datetime,
    dedupe_key: str | None,
) -> Notice | None:
    """Build a post to the study's team channel; None if it has none."""
    if not study.team_channel or not study.team_platform:
        return None
    recipient = ("channel", study.team_platform, study.team_channel)
    return _notice(study, kind, text, recipient, now, dedupe_key)


def _notice(
    study: Study,
    kind: NoticeKind,
    text: str,
    recipient: tuple[str, str, str],
    now: datetime,
    dedupe_key: str | None,
) -> Notice:
    assert study.id is not None
    recipient_kind, platform, recipient_id = recipient
    return Notice(
        study_id=study.id,
        kind=kind,
        platform=platform,
        recipient_kind=recipient_kind,
        recipient_id=recipient_id,
        text=text,
        dedupe_key=dedupe_key,
        due_at=now,
        created_at=now,
    )


@dataclass
class NoticeReport:
    sent: int = 0
    failed: int = 0
    retried: int = 0


async def _send(adapter: Adapter, notice: Notice) -> None:
    reply = TextReply(notice.text)
    if notice.recipient_kind == "channel":
        await adapter.post_to_channel(notice.recipient_id, reply)
    else:
        await adapter.send_direct_message(notice.recipient_id, reply)


async def deliver_notices(
    database: Database,
    adapters: Mapping[str, Adapter],
    settings: SchedulerSettings,
    *,
    now: datetime,
    worker: str,
    skip_platforms: Sequence[str] = (),
) -> NoticeReport:
    """Send one batch of due notices through the adapters."""
    report = NoticeReport()
    platforms = [p for p in adapters if p not in skip_platforms]
    async with database.session() as session:
        ids = await scheduling_queries.claim_due(
            session,
            Notice,
            platforms=platforms,
            worker=worker,
            now=now,
            limit=settings.batch_size,
        )
        await session.commit()
        notices = await scheduling_queries.notices_by_id(session, ids)
    paused_until: dict[str, datetime] = {}
    for notice in notices:
        assert notice.id is not None
        if notice.platform in paused_until:
            await _put_back(database, notice, worker, paused_until[notice.platform])
            continue
        async with database.session() as session:
            started = await scheduling_queries.start_sending(
                session, Notice, notice.id, worker, now
            )
            await session.commit()
        if not started:
            continue
        try:
            await _send(adapters[notice.platform], notice)
        except Exception as error:
            decision = decide_after_error(
                error, attempts_before=notice.attempts, now=now, settings=settings
            )
            await _record_failure(database, notice, decision, worker)
            if decision.retry_at is None:
                report.failed += 1
                continue
            report.retried += 1
            if decision.rate_limited:
                paused_until[notice.platform] = decision.retry_at
            continue
        async with database.session() as session:
            await scheduling_queries.set_values(
                session, Notice, notice.id, status=InvitationStatus.SENT, sent_at=now
            )
            await session.commit()
        report.sent += 1
        log.debug("notice %s sent: study=%s", notice.id, notice.study_id)
    return report


async def _put_back(
    database: Database, notice: Notice, worker: str, due_at: datetime
) -> None:
    async with database.session() as session:
        await scheduling_queries.release(
            session, Notice, [notice.id or 0], worker=worker, due_at=due_at
        )
        await session.commit()


async def _record_failure(
    database: Database, notice: Notice, decision: FailedSend, worker: str
) -> None:
    async with database.session() as session:
        await scheduling_queries.record_failed_send(
            session,
            Notice,
            notice.id or 0,
            worker=worker,
            retry_at=decision.retry_at,
            attempts=decision.attempts,
            error=decision.error,
        )
        if decision.retry_at is None:
            log.error(
                "notice %s for study %s failed: %s (platform=%s recipient=%s)",
                notice.id,
                notice.study_id,
                decision.error,
                notice.platform,
                notice.recipient_id,
            )
        await session.commit()
