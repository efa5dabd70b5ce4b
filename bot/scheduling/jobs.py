"""The functions APScheduler runs, one per kind of job.

Each takes plain values (the runtime's name, a study id), looks up its
runtime, and reads the time from the runtime's clock, so that tests call
the same functions with a controlled clock. A job whose runtime has
stopped does nothing. Errors are logged with the ids involved and not
raised, so one failing study does not stop the scheduler's other jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from bot.errors import InvalidInputError
from bot.scheduling.digest_runs import run_digest
from bot.scheduling.digests import check_targets, queue_interview_notes
from bot.scheduling.dispatch import DEFAULT_MAX_BATCHES, dispatch_due
from bot.scheduling.recurring import check_cron, run_recurring
from bot.scheduling.runtime import SchedulerRuntime, find_runtime
from storage import DigestMode, RecurringSchedule, Study, outreach_queries

log = logging.getLogger(__name__)

# Passes per job run; each pass takes a fresh time from the clock.
MAX_PASSES = 10


def _runtime(name: str) -> SchedulerRuntime | None:
    runtime = find_runtime(name)
    if runtime is None or runtime.stopping:
        log.debug("scheduler %r is not running; job skipped", name)
        return None
    return runtime


async def dispatch_job(runtime_name: str) -> None:
    """Send what is due, then queue interview notes and target notices."""
    runtime = _runtime(runtime_name)
    if runtime is None:
        return
    with runtime.track():
        try:
            await _dispatch(runtime)
        except Exception:
            log.exception("dispatch failed: scheduler=%s", runtime_name)
        try:
            await sync_jobs(runtime)
        except Exception:
            log.exception("job refresh failed: scheduler=%s", runtime_name)


async def _dispatch(runtime: SchedulerRuntime) -> None:
    full_pass = runtime.settings.batch_size * DEFAULT_MAX_BATCHES
    for _pass in range(MAX_PASSES):
        now = runtime.clock()
        await queue_interview_notes(runtime.database, now=now)
        await check_targets(runtime.database, now=now)
        report = await dispatch_due(
            runtime.database,
            runtime.adapters,
            runtime.settings,
            now=now,
            worker=runtime.worker,
            state=runtime.state,
        )
        if report.claimed:
            log.info(
                "dispatch: %d claimed, %d sent, %d failed, %d retried, %d deferred",
                report.claimed,
                report.sent,
                report.failed,
                report.retried + report.rate_limited,
                report.deferred,
            )
        if report.claimed < full_pass or runtime.stopping:
            return


async def recurring_job(runtime_name: str, study_id: int) -> None:
    """Run the study's recurring invitations for the time that just passed."""
    runtime = _runtime(runtime_name)
    if runtime is None:
        return
    with runtime.track():
        try:
            await run_recurring(
                runtime.database,
                runtime.settings,
                study_id,
                now=runtime.clock(),
                worker=runtime.worker,
                adapters=runtime.adapters,
            )
        except Exception:
            log.exception("recurring run failed: study=%s", study_id)


async def digest_job(runtime_name: str, study_id: int) -> None:
    """Queue the study's digest for the period that just ended."""
    runtime = _runtime(runtime_name)
    if runtime is None:
        return
    with runtime.track():
        try:
            await run_digest(runtime.database, study_id, now=runtime.clock())
        except Exception:
            log.exception("digest failed: study=%s", study_id)


async def catch_up_job(runtime_name: str) -> None:
    """Run each recurring study and digest once, for times passed while stopped."""
    runtime = _runtime(runtime_name)
    if runtime is None:
        return
    async with runtime.database.session() as session:
        schedules = await outreach_queries.enabled_schedules(session)
        digest_studies = await outreach_queries.studies_with_digests(session)
    for schedule, _study in schedules:
        await recurring_job(runtime_name, schedule.study_id)
    for study in digest_studies:
        if study.id is not None and study.digest_cron:
            await digest_job(runtime_name, study.id)


STUDY_JOB_PREFIXES = ("recurring:", "digest:")


def _wanted_jobs(
    runtime: SchedulerRuntime,
    schedules: Sequence[tuple[RecurringSchedule, Study]],
    digest_studies: Sequence[Study],
) -> dict[str, tuple[str, str, Callable[..., Any]]]:
    """Map each study job id to its cron, time zone and job function."""
    wanted: dict[str, tuple[str, str, Callable[..., Any]]] = {}
    for schedule, study in schedules:
        wanted[f"recurring:{study.id}"] = (
            schedule.cron,
            study.time_zone or "UTC",
            recurring_job,
        )
    for study in digest_studies:
        if study.digest_cron and study.digest_mode != DigestMode.PER_INTERVIEW:
            wanted[f"digest:{study.id}"] = (
                study.digest_cron,
                study.time_zone or "UTC",
                digest_job,
            )
    return wanted


async def sync_jobs(runtime: SchedulerRuntime) -> None:
    """Register, replace or remove the recurring and digest jobs from our tables.

    A job is replaced only when its cron or time zone changed, so a running
    trigger keeps its next fire time.
    """
    async with runtime.database.session() as session:
        schedules = await outreach_queries.enabled_schedules(session)
        digest_studies = await outreach_queries.studies_with_digests(session)
    wanted = _wanted_jobs(runtime, schedules, digest_studies)
    scheduler = runtime.scheduler
    for job_id, (cron, zone, function) in wanted.items():
        signature = f"{cron}|{zone}"
        known = runtime.job_signatures.get(job_id) == signature
        if known and scheduler.get_job(job_id) is not None:
            continue
        try:
            trigger = check_cron(cron, zone)
        except InvalidInputError as error:
            log.error("job %s not registered: %s", job_id, error)
            continue
        study_id = int(job_id.split(":", 1)[1])
        scheduler.add_job(
            function,
            trigger,
            args=[runtime.name, study_id],
            id=job_id,
            name=job_id,
            replace_existing=True,
        )
        runtime.job_signatures[job_id] = signature
        log.info("job %s registered: %r in %s", job_id, cron, zone)
    for job in scheduler.get_jobs():
        if job.id.startswith(STUDY_JOB_PREFIXES) and job.id not in wanted:
            job.remove()
            runtime.job_signatures.pop(job.id, None)
            log.info("job %s removed", job.id)
