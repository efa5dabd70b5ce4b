"""One object with the scheduling functions the CLI and the chat commands call.

Each method is a thin call into its module with the database and settings
filled in and `now` defaulting to the current time. Adapters pass their
own `adapters` mapping so that time zones come from the platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from typing import Literal

from adapters.base import Adapter
from bot.config import SchedulerSettings
from bot.scheduling import digests, invitations, recurring, reminders
from bot.scheduling.invitations import InviteRequest, PlannedInvitation
from bot.scheduling.participants_import import ImportReport, import_participants
from bot.scheduling.status import StudyStatusReport, study_status
from storage import Database, DigestMode, RecurringSchedule, Study
from storage.types import utcnow


class SchedulingService:
    """Invitations, imports, recurring schedules, digests and status of studies."""

    def __init__(self, database: Database, settings: SchedulerSettings) -> None:
        self.database = database
        self.settings = settings

    async def invite(
        self,
        study: Study,
        request: InviteRequest,
        *,
        adapters: Mapping[str, Adapter] | None = None,
        now: datetime | None = None,
    ) -> list[PlannedInvitation]:
        """Schedule invitations; see `bot.scheduling.invitations.invite`."""
        return await invitations.invite(
            self.database,
            study,
            request,
            self.settings,
            now=now or utcnow(),
            adapters=adapters,
        )

    async def preview(
        self,
        study: Study,
        request: InviteRequest,
        *,
        adapters: Mapping[str, Adapter] | None = None,
        now: datetime | None = None,
    ) -> list[PlannedInvitation]:
        """Return the invitations `invite` would schedule, storing nothing."""
        return await invitations.plan_invitations(
            self.database,
            study,
            request,
            self.settings,
            now=now or utcnow(),
            adapters=adapters,
        )

    async def import_participants(self, study: Study, text: str) -> ImportReport:
        return await import_participants(self.database, study, text)

    async def status(self, study: Study) -> StudyStatusReport:
        assert study.id is not None
        return await study_status(self.database, study.id)

    async def set_recurring(
        self,
        study: Study,
        *,
        cron: str,
        time_zone: str,
        audience: Literal["saved", "cohort"],
        resolved_within_days: int | None = None,
        segment: str | None = None,
        template: str | None = None,
        now: datetime | None = None,
    ) -> RecurringSchedule:
        return await recurring.set_recurring(
            self.database,
            study,
            cron=cron,
            time_zone=time_zone,
            audience=audience,
            resolved_within_days=resolved_within_days,
            segment=segment,
            template=template,
            now=now or utcnow(),
        )

    async def disable_recurring(self, study: Study) -> bool:
        assert study.id is not None
        return await recurring.disable_recurring(self.database, study.id)

    async def set_digest(
        self,
        study: Study,
        *,
        mode: DigestMode,
        channel: str | None,
        target: int | None = None,
        time_zone: str | None = None,
        at: time = time(9, 0),
        weekday: str = "MON",
        now: datetime | None = None,
    ) -> Study:
        return await digests.set_digest(
            self.database,
            study,
            mode=mode,
            channel=channel,
            target=target,
            time_zone=time_zone,
            at=at,
            weekday=weekday,
            now=now or utcnow(),
        )

    async def opt_out(self, participant_id: int) -> int:
        """Opt a participant out and cancel their pending messages."""
        return await reminders.opt_out(self.database, participant_id)
