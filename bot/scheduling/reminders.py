"""Reminders for participants who have not started, and nudges for paused ones.

Reminders are created when their invitation is sent, at the configured
offsets after it, and go out only while the participant has neither
started, opted out nor become unreachable: the conversation service cancels
them when an interview starts or a participant opts out, and the dispatcher
checks again just before sending. A paused interview gets one nudge, keyed
by the interview, however often the dispatcher runs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.config import SchedulerSettings
from bot.scheduling.send_times import WorkingHours, reminder_times, zone_named
from bot.scheduling.templates import (
    DEFAULT_INVITATION,
    DEFAULT_NUDGE,
    DEFAULT_REMINDER,
    render,
    values_for,
)
from storage import (
    Database,
    Invitation,
    InvitationKind,
    Participant,
    scheduling_queries,
)
from storage.types import utcnow

log = logging.getLogger(__name__)


def reminder_rows(
    invitation: Invitation,
    participant: Participant,
    settings: SchedulerSettings,
    *,
    sent_at: datetime,
) -> list[Invitation]:
    """Build the reminder rows that follow a sent invitation."""
    assert invitation.id is not None and participant.id is not None
    offsets = settings.reminder_offsets_days[: settings.max_reminders]
    zone = zone_named(participant.time_zone, settings.default_time_zone)
    times = reminder_times(
        sent_at, offsets, zone=zone, hours=WorkingHours.from_settings(settings)
    )
    values = dict(invitation.template_data.get("values", {}))
    rows: list[Invitation] = []
    for number, due_at in enumerate(times, start=1):
        rows.append(
            Invitation(
                study_id=invitation.study_id,
                participant_id=participant.id,
                kind=InvitationKind.REMINDER,
                reminder_number=number,
                due_at=due_at,
                message=render(DEFAULT_REMINDER, values),
                template_data={"template": DEFAULT_REMINDER, "values": values},
                dedupe_key=f"reminder:{invitation.id}:{number}",
                created_at=sent_at,
            )
        )
    return rows


def nudge_key(interview_id: int) -> str:
    return f"nudge:{interview_id}"


async def schedule_nudges(
    database: Database, settings: SchedulerSettings, *, now: datetime
) -> int:
    """Create the one nudge of each interview paused for `nudge_after_hours`."""
    paused_before = now - timedelta(hours=settings.nudge_after_hours)
    hours = WorkingHours.from_settings(settings)
    created = 0
    async with database.session() as session:
        rows = await scheduling_queries.paused_interviews(session, paused_before)
        keys = [nudge_key(interview.id or 0) for interview, _p, _s in rows]
        done = await scheduling_queries.existing_keys(session, Invitation, keys)
        for interview, participant, study in rows:
            assert interview.id is not None and participant.id is not None
            key = nudge_key(interview.id)
            if key in done:
                continue
            zone = zone_named(participant.time_zone, settings.default_time_zone)
            values = values_for(study, participant).as_dict()
            nudge = Invitation(
                study_id=interview.study_id,
                participant_id=participant.id,
                kind=InvitationKind.NUDGE,
                due_at=hours.next_opening(now, zone),
                message=render(DEFAULT_NUDGE, values),
                template_data={"template": DEFAULT_NUDGE, "values": values},
                dedupe_key=key,
                created_at=now,
            )
            if await scheduling_queries.insert_once(session, nudge):
                created += 1
                log.info(
                    "nudge scheduled: study=%s interview=%s participant=%s",
                    interview.study_id,
                    interview.id,
                    participant.id,
                )
        await session.commit()
    return created


def fallback_message(invitation: Invitation, values: dict[str, str]) -> str:
    """Render the default text of the row's kind, for rows stored without one."""
    template = {
        InvitationKind.REMINDER: DEFAULT_REMINDER,
        InvitationKind.NUDGE: DEFAULT_NUDGE,
    }.get(InvitationKind(invitation.kind), DEFAULT_INVITATION)
    return render(template, values)


async def opt_out(
    database: Database, participant_id: int, *, now: datetime | None = None
) -> int:
    """Record that a participant opted out and cancel every pending row of theirs.

    Adapters call this when someone who has not started answers an
    invitation with "stop"; inside an interview the conversation service
    does the same. Returns the number of rows cancelled.
    """
    async with database.session() as session:
        participant = await session.get(Participant, participant_id)
        if participant is None:
            return 0
        participant.opted_out_at = participant.opted_out_at or now or utcnow()
        session.add(participant)
        cancelled = await scheduling_queries.cancel_pending(
            session, participant_id, reason="the participant opted out"
        )
        await session.commit()
    log.info(
        "participant %s opted out: %d pending messages cancelled",
        participant_id,
        cancelled,
    )
    return cancelled
