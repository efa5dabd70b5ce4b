"""The state of one running scheduler, found by name from job functions.

APScheduler jobs take only plain values (a runtime name and a study id),
so that every job function is importable by reference and no database or
adapter object is stored inside a job. The job looks its runtime up here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adapters.base import Adapter
from bot.config import SchedulerSettings
from bot.scheduling.outcomes import DispatchState
from storage import Database

log = logging.getLogger(__name__)


def new_worker_name() -> str:
    """Return a name unique to this process, stored on the rows it claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class SchedulerRuntime:
    """Everything the job functions of one scheduler need."""

    name: str
    database: Database
    adapters: dict[str, Adapter]
    settings: SchedulerSettings
    clock: Callable[[], datetime]
    scheduler: Any  # apscheduler.schedulers.asyncio.AsyncIOScheduler
    worker: str = field(default_factory=new_worker_name)
    state: DispatchState = field(default_factory=DispatchState)
    # Signature (cron and time zone) of each registered study job, by job id.
    job_signatures: dict[str, str] = field(default_factory=dict)
    stopping: bool = False
    active: set[asyncio.Task[Any]] = field(default_factory=set)

    @contextmanager
    def track(self) -> Iterator[None]:
        """Count the current task as a running job until the block ends."""
        task = asyncio.current_task()
        if task is not None:
            self.active.add(task)
        try:
            yield
        finally:
            if task is not None:
                self.active.discard(task)


_RUNTIMES: dict[str, SchedulerRuntime] = {}


def find_runtime(name: str) -> SchedulerRuntime | None:
    return _RUNTIMES.get(name)


def register_runtime(runtime: SchedulerRuntime) -> None:
    _RUNTIMES[runtime.name] = runtime


def forget_runtime(name: str) -> SchedulerRuntime | None:
    return _RUNTIMES.pop(name, None)
