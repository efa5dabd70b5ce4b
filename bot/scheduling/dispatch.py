"""The dispatcher: claim due invitations, reminders and nudges, and send them.

One pass (`dispatch_due`) first repairs what a stop left behind: claims of
a stopped process are released, and rows that came due longer ago than the
grace period are marked missed and reported to the researcher. Then it
claims due rows in batches, sends each through the adapter of the
participant's platform, and records the outcome. Platforms are served
concurrently, and each platform's rows in due order. A platform with no
adapter in this process keeps its rows scheduled for a process that has one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime

from adapters.base import Adapter, InvitationReply, Reply, TextReply
from bot.config import SchedulerSettings
from bot.scheduling import missed, notices, outcomes
from bot.scheduling.delivery import decide_after_error
from bot.scheduling.outcomes import DispatchPass, DispatchReport, DispatchState
from bot.scheduling.reminders import fallback_message, schedule_nudges
from bot.scheduling.send_times import WorkingHours, zone_named
from bot.scheduling.templates import values_for
from storage import (
    Database,
    Interview,
    InterviewStatus,
    Invitation,
    InvitationKind,
    InvitationStatus,
    Participant,
    Study,
    StudyStatus,
    scheduling_queries,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCHES = 20


async def dispatch_due(
    database: Database,
    adapters: Mapping[str, Adapter],
    settings: SchedulerSettings,
    *,
    now: datetime,
    worker: str,
    max_batches: int = DEFAULT_MAX_BATCHES,
    state: DispatchState | None = None,
) -> DispatchReport:
    """Run one dispatcher pass at time `now` and return what it did.

    Args:
        database: The shared database.
        adapters: The adapter of each platform this process serves.
        settings: Working hours, grace period, batch size and retry rules.
        now: The current time; every due time is compared with it.
        worker: A name unique to this process, stored on claimed rows.
        max_batches: At most this many batches of `settings.batch_size`.
        state: Log-once memory of the calling process, if it keeps one.
    """
    run = DispatchPass(
        database=database,
        adapters=adapters,
        settings=settings,
        worker=worker,
        now=now,
        state=state or DispatchState(),
        report=DispatchReport(),
        hours=WorkingHours.from_settings(settings),
    )
    await missed.recover_stale_claims(
        run.database, settings, now=now, report=run.report
    )
    await missed.mark_missed(
        run.database, list(adapters), settings, now=now, report=run.report
    )
    run.report.nudges = await schedule_nudges(database, settings, now=now)
    await _note_waiting_platforms(run)
    blocked: set[str] = set()
    for _batch in range(max_batches):
        platforms = [p for p in adapters if p not in blocked]
        async with database.session() as session:
            ids = await scheduling_queries.claim_due(
                session,
                Invitation,
                platforms=platforms,
                worker=worker,
                now=now,
                limit=settings.batch_size,
            )
            await session.commit()
        if not ids:
            break
        run.report.claimed += len(ids)
        limited = await _send_batch(run, ids)
        blocked.update(limited)
    sent_notices = await notices.deliver_notices(
        database, adapters, settings, now=now, worker=worker
    )
    run.report.notices_sent = sent_notices.sent
    return run.report


async def _note_waiting_platforms(run: DispatchPass) -> None:
    async with run.database.session() as session:
        due = await scheduling_queries.due_platforms(session, run.now)
    waiting = due - set(run.adapters)
    run.report.waiting_platforms = waiting
    for platform in sorted(waiting - run.state.waiting_logged):
        log.warning(
            "invitations for %s are due but this process has no %s adapter; "
            "they stay scheduled for a process that has one",
            platform,
            platform,
        )
        run.state.waiting_logged.add(platform)


async def _send_batch(run: DispatchPass, ids: list[int]) -> set[str]:
    """Send claimed rows, one task per platform; return rate-limited platforms."""
    async with run.database.session() as session:
        rows = await scheduling_queries.invitations_with_context(session, ids)
        interviews = await scheduling_queries.latest_interviews(
            session, [participant.id or 0 for _i, participant, _s in rows]
        )
    by_platform: dict[str, list[tuple[Invitation, Participant, Study]]] = {}
    for row in rows:
        by_platform.setdefault(row[1].platform, []).append(row)
    results = await asyncio.gather(
        *(
            _send_platform(run, platform, platform_rows, interviews)
            for platform, platform_rows in by_platform.items()
        )
    )
    return {platform for platform, limited in results if limited}


async def _send_platform(
    run: DispatchPass,
    platform: str,
    rows: list[tuple[Invitation, Participant, Study]],
    interviews: dict[int, Interview],
) -> tuple[str, bool]:
    for position, (invitation, participant, study) in enumerate(rows):
        interview = interviews.get(participant.id or 0)
        retry_at = await _deliver(run, invitation, participant, study, interview)
        if retry_at is not None:
            # NOTE: RateLimitedError does not say whether the limit was per
            # channel or per workspace, so one channel's limit delays them all.
            rest = [row[0].id or 0 for row in rows[position + 1 :]]
            async with run.database.session() as session:
                await scheduling_queries.release(
                    session, Invitation, rest, worker=run.worker, due_at=retry_at
                )
                await session.commit()
            log.info(
                "%s rate limited: %d more rows wait until %s",
                platform,
                len(rest),
                retry_at.isoformat(timespec="seconds"),
            )
            return platform, True
    return platform, False


def _cancel_reason(
    invitation: Invitation,
    participant: Participant,
    study: Study,
    interview: Interview | None,
) -> str | None:
    if participant.opted_out_at is not None:
        return "the participant opted out"
    if participant.unreachable_reason:
        return f"the participant cannot be reached: {participant.unreachable_reason}"
    if study.status == StudyStatus.CLOSED:
        return "the study is closed"
    if invitation.kind == InvitationKind.NUDGE:
        if interview is None or interview.status != InterviewStatus.PAUSED:
            return "the interview is no longer paused"
    elif interview is not None:
        return "the participant already started the interview"
    return None


def _reply(invitation: Invitation, participant: Participant, study: Study) -> Reply:
    text = invitation.message or fallback_message(
        invitation, values_for(study, participant).as_dict()
    )
    if invitation.kind == InvitationKind.NUDGE:
        return TextReply(text)
    assert study.id is not None
    return InvitationReply(text=text, study_id=study.id, join_code=study.join_code)


async def _deliver(
    run: DispatchPass,
    invitation: Invitation,
    participant: Participant,
    study: Study,
    interview: Interview | None,
) -> datetime | None:
    """Send one claimed row; return a time if the platform asked to wait."""
    assert invitation.id is not None
    reason = _cancel_reason(invitation, participant, study, interview)
    if reason is not None:
        await outcomes.record_final(
            run, invitation, status=InvitationStatus.CANCELLED, reason=reason
        )
        run.report.cancelled += 1
        return None

    zone = zone_named(participant.time_zone, run.settings.default_time_zone)
    if not run.hours.contains(run.now, zone):
        # A row due inside the window can reach here outside it after a stop.
        opening = run.hours.next_opening(run.now, zone)
        async with run.database.session() as session:
            await scheduling_queries.release(
                session, Invitation, [invitation.id], worker=run.worker, due_at=opening
            )
            await session.commit()
        run.report.deferred += 1
        return None

    async with run.database.session() as session:
        started = await scheduling_queries.start_sending(
            session, Invitation, invitation.id, run.worker, run.now
        )
        await session.commit()
    if not started:
        log.info("invitation %s was cancelled or taken over; skipped", invitation.id)
        return None

    # NOTE: adapters are keyed by platform only and get no workspace id, so
    # a Slack app installed in several workspaces must route by user id.
    adapter = run.adapters[participant.platform]
    try:
        await adapter.send_direct_message(
            participant.platform_user_id, _reply(invitation, participant, study)
        )
    except Exception as error:
        decision = decide_after_error(
            error,
            attempts_before=invitation.attempts,
            now=run.now,
            settings=run.settings,
        )
        await outcomes.record_failure(run, invitation, participant, study, decision)
        return decision.retry_at if decision.rate_limited else None
    await outcomes.record_sent(run, invitation, participant)
    return None
