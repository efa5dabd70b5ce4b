"""Repairs after a stop: stale claims and rows that came due too long ago.

A row claimed by a process that stopped is released after the claim
timeout. A row that came due more than the grace period ago is marked
missed instead of being sent late, and the researcher gets one notice per
study listing how many, so that nothing is dropped without a word.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.config import SchedulerSettings
from bot.scheduling import notices
from storage import Database, Invitation, Notice, Study, scheduling_queries

log = logging.getLogger(__name__)


class RepairCounts(Protocol):
    missed: int
    released: int
    unconfirmed: int


def grace_period(settings: SchedulerSettings) -> timedelta:
    return timedelta(hours=settings.grace_period_hours)


async def recover_stale_claims(
    database: Database,
    settings: SchedulerSettings,
    *,
    now: datetime,
    report: RepairCounts,
) -> None:
    """Release or fail rows whose claim is older than the claim timeout."""
    claimed_before = now - timedelta(minutes=settings.claim_timeout_minutes)
    async with database.session() as session:
        released, unconfirmed = await scheduling_queries.release_stale_claims(
            session, Invitation, claimed_before=claimed_before
        )
        (
            released_notices,
            unconfirmed_notices,
        ) = await scheduling_queries.release_stale_claims(
            session, Notice, claimed_before=claimed_before
        )
        await session.commit()
    report.released += released + released_notices
    report.unconfirmed += len(unconfirmed)
    if released + released_notices:
        log.warning(
            "%d rows claimed by a stopped process rescheduled",
            released + released_notices,
        )
    if unconfirmed_notices:
        log.warning(
            "%d team notices were being sent when their process stopped; marked "
            "failed rather than sent twice",
            len(unconfirmed_notices),
        )
    if unconfirmed:
        log.warning(
            "%d invitations were being sent when their process stopped; they are "
            "marked failed rather than sent twice: %s",
            len(unconfirmed),
            ", ".join(str(row_id) for row_id, _study in unconfirmed),
        )
        await _report(
            database,
            unconfirmed,
            now=now,
            kind=notices.NoticeKind.UNCONFIRMED,
            explain=(
                "were being sent when the bot stopped, and it is not known "
                "whether they arrived, so they are not sent again"
            ),
        )


async def mark_missed(
    database: Database,
    platforms: Sequence[str],
    settings: SchedulerSettings,
    *,
    now: datetime,
    report: RepairCounts,
) -> None:
    """Mark rows due before the grace period as missed and tell the researcher."""
    hours = settings.grace_period_hours
    async with database.session() as session:
        rows = await scheduling_queries.mark_missed(
            session,
            due_before=now - grace_period(settings),
            platforms=platforms,
            reason=(f"came due more than {hours:g} hours before the bot could send it"),
        )
        await session.commit()
    if not rows:
        return
    report.missed += len(rows)
    log.warning("%d invitations older than the grace period marked missed", len(rows))
    await _report(
        database,
        rows,
        now=now,
        kind=notices.NoticeKind.MISSED,
        explain=(
            f"came due more than {hours:g} hours ago while the bot was not "
            "running, so they were not sent late"
        ),
    )


async def _report(
    database: Database,
    rows: list[tuple[int, int]],
    *,
    now: datetime,
    kind: notices.NoticeKind,
    explain: str,
) -> None:
    per_study = Counter(study_id for _row, study_id in rows)
    async with database.session() as session:
        for study_id, count in sorted(per_study.items()):
            study = await session.get(Study, study_id)
            if study is None:
                continue
            noun = "message" if count == 1 else "messages"
            text = (
                f"{count} {noun} to participants of “{study.title}” {explain}. "
                f"`perspective status {study_id}` lists them; invite those "
                "participants again if they should still hear from you."
            )
            session.add(notices.to_researcher(study, kind, text, now=now))
        await session.commit()
