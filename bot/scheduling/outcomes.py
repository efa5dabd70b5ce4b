"""Recording what happened to each claimed row, and the pass's counts.

A sent invitation gets its reminders in the same transaction. A failed
send is retried or failed by the rules in `delivery`. When a participant
is unreachable, their other pending rows are cancelled. A missing
permission is logged once per process and reported once per study to the
researcher.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.base import Adapter
from bot.config import SchedulerSettings
from bot.scheduling import notices
from bot.scheduling.delivery import FailedSend
from bot.scheduling.reminders import reminder_rows
from bot.scheduling.send_times import WorkingHours
from storage import (
    Database,
    Invitation,
    InvitationKind,
    InvitationStatus,
    Participant,
    Study,
    scheduling_queries,
)

log = logging.getLogger(__name__)


@dataclass
class DispatchReport:
    """Counts of one dispatcher pass, for logs and tests."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    retried: int = 0
    rate_limited: int = 0
    missed: int = 0
    released: int = 0
    unconfirmed: int = 0
    nudges: int = 0
    notices_sent: int = 0
    waiting_platforms: set[str] = field(default_factory=set)


@dataclass
class DispatchState:
    """Log-once memory of a long-lived process, kept between passes."""

    waiting_logged: set[str] = field(default_factory=set)
    permission_logged: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class DispatchPass:
    """The inputs and the running counts of one dispatcher pass."""

    database: Database
    adapters: Mapping[str, Adapter]
    settings: SchedulerSettings
    worker: str
    now: datetime
    state: DispatchState
    report: DispatchReport
    hours: WorkingHours


async def record_final(
    run: DispatchPass, invitation: Invitation, *, status: InvitationStatus, reason: str
) -> None:
    async with run.database.session() as session:
        await scheduling_queries.set_values(
            session,
            Invitation,
            invitation.id or 0,
            status=status,
            status_reason=reason,
        )
        await session.commit()
    log.info(
        "invitation %s %s: %s (study=%s participant=%s)",
        invitation.id,
        status.value,
        reason,
        invitation.study_id,
        invitation.participant_id,
    )


async def record_sent(
    run: DispatchPass, invitation: Invitation, participant: Participant
) -> None:
    async with run.database.session() as session:
        await scheduling_queries.set_values(
            session,
            Invitation,
            invitation.id or 0,
            status=InvitationStatus.SENT,
            sent_at=run.now,
            attempts=invitation.attempts + 1,
            last_error=None,
        )
        if invitation.kind == InvitationKind.INVITATION:
            for reminder in reminder_rows(
                invitation, participant, run.settings, sent_at=run.now
            ):
                await scheduling_queries.insert_once(session, reminder)
        await session.commit()
    run.report.sent += 1
    log.debug(
        "%s %s sent: study=%s participant=%s user=%s",
        invitation.kind,
        invitation.id,
        invitation.study_id,
        participant.id,
        participant.platform_user_id,
    )


async def record_failure(
    run: DispatchPass,
    invitation: Invitation,
    participant: Participant,
    study: Study,
    decision: FailedSend,
) -> None:
    assert invitation.id is not None and participant.id is not None
    async with run.database.session() as session:
        await scheduling_queries.record_failed_send(
            session,
            Invitation,
            invitation.id,
            worker=run.worker,
            retry_at=decision.retry_at,
            attempts=decision.attempts,
            error=decision.error,
            status_reason=decision.error,
        )
        if decision.unreachable_reason is not None:
            await _mark_unreachable(session, participant, decision.unreachable_reason)
            await _tell_unreachable(run, session, study, participant, decision)
        if decision.missing_permission is not None:
            await _alert_permission(run, session, study, participant.platform, decision)
        await session.commit()
    if decision.rate_limited:
        run.report.rate_limited += 1
    elif decision.retry_at is not None:
        run.report.retried += 1
        log.warning(
            "invitation %s will be retried at %s: %s (attempt %d of %d)",
            invitation.id,
            decision.retry_at.isoformat(timespec="seconds"),
            decision.error,
            decision.attempts,
            run.settings.max_attempts,
        )
    else:
        run.report.failed += 1
        if decision.missing_permission is None:
            log.warning(
                "invitation %s failed: %s (study=%s user=%s)",
                invitation.id,
                decision.error,
                study.id,
                participant.platform_user_id,
            )


async def _mark_unreachable(
    session: AsyncSession, participant: Participant, reason: str
) -> None:
    assert participant.id is not None
    stored = await session.get(Participant, participant.id)
    assert stored is not None
    stored.unreachable_reason = reason
    session.add(stored)
    cancelled = await scheduling_queries.cancel_pending(
        session, participant.id, reason=f"the participant cannot be reached: {reason}"
    )
    log.info(
        "participant %s unreachable (%s): %d pending messages cancelled",
        participant.id,
        reason,
        cancelled,
    )


async def _tell_unreachable(
    run: DispatchPass,
    session: AsyncSession,
    study: Study,
    participant: Participant,
    decision: FailedSend,
) -> None:
    """Tell the researcher once per participant who cannot be messaged."""
    who = participant.display_name or participant.platform_user_id
    why = _reason_words(decision.unreachable_reason)
    text = (
        f"{who} ({participant.platform} user {participant.platform_user_id}) could "
        f"not be invited to “{study.title}”: {why}. No more messages will be "
        "sent to them for this study."
    )
    await scheduling_queries.insert_once(
        session,
        notices.to_researcher(
            study,
            notices.NoticeKind.UNREACHABLE,
            text,
            now=run.now,
            dedupe_key=f"unreachable:{study.id}:{participant.id}",
        ),
    )


_REASON_WORDS = {
    "dms_closed": "they do not accept direct messages from the bot",
    "user_not_found": "the account does not exist",
    "unknown_user": "the account does not exist",
    "user_disabled": "the account is deactivated",
    "account_inactive": "the account is deactivated",
    "cannot_dm_bot": "it is a bot account",
}


def _reason_words(reason: str | None) -> str:
    return _REASON_WORDS.get(reason or "", reason or "unknown reason")


async def _alert_permission(
    run: DispatchPass,
    session: AsyncSession,
    study: Study,
    platform: str,
    decision: FailedSend,
) -> None:
    permission = decision.missing_permission or ""
    if (platform, permission) not in run.state.permission_logged:
        run.state.permission_logged.add((platform, permission))
        log.error(
            "the %s app lacks the permission %r, so invitations cannot be sent; "
            "add it to the app and invite the failed participants again "
            "(study=%s)",
            platform,
            permission,
            study.id,
        )
    text = (
        f"Invitations for “{study.title}” could not be sent on {platform}: the "
        f"app lacks the permission “{permission}”. Ask a workspace admin to add "
        "it, then invite the participants listed as failed in "
        f"`perspective status {study.id}` again."
    )
    await scheduling_queries.insert_once(
        session,
        notices.to_researcher(
            study,
            notices.NoticeKind.PERMISSION,
            text,
            now=run.now,
            dedupe_key=f"permission:{study.id}:{platform}:{permission}",
        ),
    )
