"""Recurring studies: invite an audience again on a cron schedule.

The schedule lives in our own table and is evaluated in the study's time
zone. APScheduler only wakes `run_recurring` up; the function itself finds
the latest scheduled time that has passed and records a run under (study,
scheduled time). A second fire for the same time, from this process or
another, fails to insert that key and does nothing, and fire times missed
while the bot was stopped collapse into one run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from apscheduler.triggers.cron import CronTrigger
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.base import Adapter
from bot.config import SchedulerSettings
from bot.errors import InvalidInputError
from bot.scheduling import notices
from bot.scheduling.invitations import plan_participants, store_invitations
from bot.scheduling.missed import grace_period
from bot.scheduling.send_times import SendTime, check_zone
from bot.scheduling.templates import DEFAULT_INVITATION, check_template
from storage import (
    Database,
    Notice,
    Participant,
    RecurringRun,
    RecurringSchedule,
    Study,
    outreach_queries,
    scheduling_queries,
)

log = logging.getLogger(__name__)

AUDIENCES = ("saved", "cohort")
# Fire times searched after the last run. An hourly schedule stopped for
# more than a year still ends in one run, at the latest time found.
MAX_FIRE_TIMES = 10_000
_ONE_MICROSECOND = timedelta(microseconds=1)


def check_cron(expression: str, time_zone: str) -> CronTrigger:
    """Parse a five-field crontab expression in the given time zone.

    APScheduler 3 numbers weekdays from 0 = Monday, unlike cron's 0 =
    Sunday, so numbers in the weekday field are rejected in favour of names.

    Raises:
        InvalidInputError: The expression or the time zone is not valid.
    """
    check_zone(time_zone)
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidInputError(
            f"The schedule “{expression}” has {len(fields)} fields; a cron "
            "schedule has 5: minute hour day-of-month month weekday, for example "
            "“0 9 * * MON”."
        )
    if any(character.isdigit() for character in fields[4]):
        raise InvalidInputError(
            f"Write weekdays by name (MON, TUE-FRI), not number: “{fields[4]}” is "
            "ambiguous because cron counts from Sunday and APScheduler from Monday."
        )
    try:
        return CronTrigger.from_crontab(expression, timezone=time_zone)
    except ValueError as error:
        raise InvalidInputError(
            f"The schedule “{expression}” is not a valid cron expression: {error}"
        ) from error


def next_fire_times(trigger: CronTrigger, now: datetime, count: int) -> list[datetime]:
    times: list[datetime] = []
    previous: datetime | None = None
    moment = now
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        times.append(fire)
        previous = moment = fire
    return times


def latest_fire_time(
    trigger: CronTrigger, after: datetime, now: datetime
) -> tuple[datetime | None, int]:
    """Return the latest fire time in (after, now] and how many it hides."""
    fire = trigger.get_next_fire_time(None, after + _ONE_MICROSECOND)
    latest: datetime | None = None
    found = 0
    while fire is not None and fire <= now and found < MAX_FIRE_TIMES:
        latest = fire
        found += 1
        fire = trigger.get_next_fire_time(fire, fire)
    return latest, max(0, found - 1)


async def set_recurring(
    database: Database,
    study: Study,
    *,
    cron: str,
    time_zone: str,
    audience: Literal["saved", "cohort"],
    resolved_within_days: int | None = None,
    segment: str | None = None,
    template: str | None = None,
    now: datetime,
) -> RecurringSchedule:
    """Create or replace a study's recurring schedule.

    Raises:
        InvalidInputError: The schedule, time zone, audience or template is
            not valid.
    """
    assert study.id is not None
    check_cron(cron, time_zone)
    if audience == "cohort" and (resolved_within_days or 0) < 1:
        raise InvalidInputError(
            "A cohort needs --resolved-within-days of 1 or more, for example 7."
        )
    if template is not None:
        template = check_template(template)
    async with database.session() as session:
        schedule = await outreach_queries.recurring_schedule(session, study.id)
        schedule = schedule or RecurringSchedule(study_id=study.id, cron=cron)
        schedule.cron = " ".join(cron.split())
        schedule.audience = audience
        schedule.resolved_within_days = (
            resolved_within_days if audience == "cohort" else None
        )
        schedule.segment = segment
        schedule.template = template
        schedule.enabled = True
        # Times before this change never count as missed runs.
        schedule.updated_at = now
        stored_study = await session.get(Study, study.id)
        assert stored_study is not None
        stored_study.time_zone = time_zone
        session.add_all([schedule, stored_study])
        await session.commit()
        await session.refresh(schedule)
    log.info("study %s recurs on %r in %s", study.id, cron, time_zone)
    return schedule


async def disable_recurring(database: Database, study_id: int) -> bool:
    """Stop a study's recurring runs; return False if it had no schedule."""
    async with database.session() as session:
        schedule = await outreach_queries.recurring_schedule(session, study_id)
        if schedule is None:
            return False
        schedule.enabled = False
        session.add(schedule)
        await session.commit()
    return True


@dataclass(frozen=True)
class RecurringOutcome:
    status: Literal["no_schedule", "not_due", "already_ran", "ran", "missed"]
    scheduled_for: datetime | None = None
    invited: int = 0
    skipped_fire_times: int = 0


async def _audience(
    session: AsyncSession, schedule: RecurringSchedule, now: datetime
) -> list[Participant]:
    participants = await outreach_queries.participants_of(
        session, schedule.study_id, segment=schedule.segment
    )
    if schedule.audience != "cohort":
        return list(participants)
    since = now - timedelta(days=schedule.resolved_within_days or 0)
    invited = await outreach_queries.invited_participant_ids(session, schedule.study_id)
    return [
        p
        for p in participants
        if p.id not in invited
        and p.resolved_at is not None
        and since <= p.resolved_at <= now
    ]


async def run_recurring(
    database: Database,
    settings: SchedulerSettings,
    study_id: int,
    *,
    now: datetime,
    worker: str,
    adapters: Mapping[str, Adapter] | None = None,
) -> RecurringOutcome:
    """Run the study's latest scheduled time that has passed, once."""
    async with database.session() as session:
        schedule = await outreach_queries.recurring_schedule(session, study_id)
        study = await session.get(Study, study_id)
        if schedule is None or not schedule.enabled or study is None:
            return RecurringOutcome("no_schedule")
        trigger = check_cron(schedule.cron, study.time_zone or "UTC")
        last = await outreach_queries.latest_run(session, study_id)
        after = schedule.updated_at
        if last is not None:
            after = max(after, last.scheduled_for)
        fire, skipped = latest_fire_time(trigger, after, now)
        if fire is None:
            return RecurringOutcome("not_due")
        missed = now - fire > grace_period(settings)
        run = RecurringRun(
            study_id=study_id,
            scheduled_for=fire,
            status="missed" if missed else "done",
            skipped_fire_times=skipped,
            worker=worker,
            created_at=now,
        )
        if not await scheduling_queries.insert_once(session, run):
            await session.rollback()
            return RecurringOutcome("already_ran", fire)
        if missed:
            session.add(_missed_notice(study, fire, settings, now))
            await session.commit()
            log.warning("recurring run of study %s at %s missed", study_id, fire)
            return RecurringOutcome("missed", fire, 0, skipped)
        invited = await _invite_audience(
            session, study, schedule, run, settings, now, adapters or {}
        )
        run.invited = invited
        session.add(run)
        await session.commit()
    log.info(
        "recurring run of study %s for %s: %d invited, %d earlier times skipped",
        study_id,
        fire.isoformat(),
        invited,
        skipped,
    )
    return RecurringOutcome("ran", fire, invited, skipped)


async def _invite_audience(
    session: AsyncSession,
    study: Study,
    schedule: RecurringSchedule,
    run: RecurringRun,
    settings: SchedulerSettings,
    now: datetime,
    adapters: Mapping[str, Adapter],
) -> int:
    template = schedule.template or DEFAULT_INVITATION
    plans = await plan_participants(
        session,
        study,
        await _audience(session, schedule, now),
        settings,
        template=template,
        send_time=SendTime(),
        now=now,
        adapters=adapters,
    )
    stored = await store_invitations(
        session,
        study,
        plans,
        template=template,
        now=now,
        dedupe_prefix=f"recurring:{run.id}",
    )
    return sum(1 for planned in stored if planned.invitation_id is not None)


def _missed_notice(
    study: Study, fire: datetime, settings: SchedulerSettings, now: datetime
) -> Notice:
    text = (
        f"The recurring invitations of “{study.title}” scheduled for "
        f"{fire.isoformat(timespec='minutes')} did not go out: the bot was not "
        f"running within {settings.grace_period_hours:g} hours of that time. The "
        "next scheduled run goes ahead as usual."
    )
    return notices.to_researcher(
        study, notices.NoticeKind.RECURRING_MISSED, text, now=now
    )
