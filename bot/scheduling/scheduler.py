"""Start and stop the scheduler that triggers dispatch, recurring runs and digests.

APScheduler's AsyncIOScheduler only triggers work; the database decides
it. Each scheduler keeps its own in-memory job store (never shared between
schedulers or processes): at start-up the jobs are registered from our
tables, with stable ids and replace_existing, and the dispatch job refreshes
them as studies change. `start_scheduler` and `stop_scheduler` may be called
more than once (Discord's on_ready fires again after a reconnect): a second
start returns the running scheduler and adds any new adapters to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from adapters.base import Adapter
from bot.config import SchedulerSettings
from bot.scheduling.jobs import catch_up_job, dispatch_job, sync_jobs
from bot.scheduling.runtime import (
    SchedulerRuntime,
    find_runtime,
    forget_runtime,
    register_runtime,
)
from storage import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

DISPATCH_JOB_ID = "dispatch"
CATCH_UP_JOB_ID = "catch-up"
DEFAULT_NAME = "default"
STOP_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TURNS = 10


async def start_scheduler(
    database: Database,
    adapters: Mapping[str, Adapter],
    settings: SchedulerSettings,
    *,
    name: str = DEFAULT_NAME,
    clock: Callable[[], datetime] = utcnow,
    run_now: bool = True,
) -> SchedulerRuntime:
    """Start the scheduler of this process, or return the one already running.

    Args:
        database: The shared database.
        adapters: The adapter of each platform this process serves, by
            platform name ("slack", "discord"). On a second call they are
            added to those of the running scheduler.
        settings: The scheduler section of the settings.
        name: Distinguishes several schedulers in one process (tests).
        clock: The time source of every job.
        run_now: Run a dispatch pass and the catch-up of recurring runs and
            digests right after start; False leaves every run to its
            trigger, so that tests call the job functions with their clock.
    """
    running = find_runtime(name)
    if running is not None and running.scheduler.running:
        running.adapters.update(adapters)
        log.info(
            "scheduler %r already running; platforms now %s",
            name,
            ", ".join(sorted(running.adapters)),
        )
        return running
    scheduler = AsyncIOScheduler(
        timezone=UTC,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            # Lateness is judged by our own grace period, not APScheduler's.
            "misfire_grace_time": None,
        },
    )
    runtime = SchedulerRuntime(
        name=name,
        database=database,
        adapters=dict(adapters),
        settings=settings,
        clock=clock,
        scheduler=scheduler,
    )
    register_runtime(runtime)
    # Without next_run_time the first run is one interval after start. (An
    # explicit None would add the job paused.)
    first_run = {"next_run_time": datetime.now(UTC)} if run_now else {}
    scheduler.add_job(
        dispatch_job,
        IntervalTrigger(seconds=settings.dispatch_interval_seconds, timezone=UTC),
        args=[name],
        id=DISPATCH_JOB_ID,
        name=DISPATCH_JOB_ID,
        replace_existing=True,
        **first_run,
    )
    await sync_jobs(runtime)
    if run_now:
        scheduler.add_job(
            catch_up_job,
            args=[name],
            id=CATCH_UP_JOB_ID,
            name=CATCH_UP_JOB_ID,
            replace_existing=True,
        )
    scheduler.start()
    log.info(
        "scheduler %r started: worker %s, platforms %s, %d jobs",
        name,
        runtime.worker,
        ", ".join(sorted(runtime.adapters)) or "none",
        len(scheduler.get_jobs()),
    )
    return runtime


async def stop_scheduler(
    name: str = DEFAULT_NAME, *, wait_seconds: float = STOP_TIMEOUT_SECONDS
) -> None:
    """Stop the named scheduler after its running jobs finish; idempotent.

    Jobs still running after `wait_seconds` are cancelled. A row being
    sent at that moment is recovered by the next start (see the dispatcher).
    """
    runtime = forget_runtime(name)
    if runtime is None:
        return
    runtime.stopping = True
    scheduler = runtime.scheduler
    if scheduler.running:
        scheduler.pause()
    if runtime.active:
        _done, pending = await asyncio.wait(set(runtime.active), timeout=wait_seconds)
        if pending:
            log.warning("%d scheduler jobs cancelled at stop", len(pending))
    if scheduler.running:
        scheduler.shutdown(wait=False)
    # AsyncIOScheduler finishes its shutdown in a callback on the event loop,
    # which runs on the next turn of the loop.
    for _turn in range(SHUTDOWN_TURNS):
        if not scheduler.running:
            break
        await asyncio.sleep(0)
    log.info("scheduler %r stopped", name)
