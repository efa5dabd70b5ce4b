"""Invitations, reminders, nudges, recurring studies, digests and status.

The database is the source of truth: every message due to a participant or
to the research team is a row with a due time and a status, and
APScheduler only triggers the functions that act on those rows.

    templates            placeholders and the default texts
    send_times           now / at a time / days after resolution, in working hours
    invitations          plan (preview) and schedule invitations
    participants_import  CSV import with row-level errors
    reminders            reminders after an invitation, nudges, opt-out
    dispatch             claim due rows and send them through the adapters
    delivery, missed     retry rules; repairs after downtime
    notices              researcher DMs and team channel posts
    recurring            cron schedules and runs keyed by study and time
    digests, digest_runs per-interview notes, daily or weekly digests, target
    redaction            personal details removed from channel posts
    status               a study's outreach status as plain data
    runtime, jobs        the job functions APScheduler calls, by reference
    scheduler            start_scheduler / stop_scheduler
    service              SchedulingService, the facade for CLI and chat commands

Thank-you messages: the interview engine already ends every completed
interview with the study's thank-you message (when `send_thank_you` is on)
in its farewell turn, after a closing turn that carries the call to action
and the contact. That farewell is stored and redelivered like any
interviewer turn, so the scheduler sends no second thank-you.
"""

from bot.scheduling.invitations import InviteRequest, PlannedInvitation
from bot.scheduling.scheduler import start_scheduler, stop_scheduler
from bot.scheduling.send_times import SendTime
from bot.scheduling.service import SchedulingService
from bot.scheduling.status import StudyStatusReport

__all__ = [
    "InviteRequest",
    "PlannedInvitation",
    "SchedulingService",
    "SendTime",
    "StudyStatusReport",
    "start_scheduler",
    "stop_scheduler",
]
