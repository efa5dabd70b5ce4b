"""A study's outreach status as plain data, for the CLI and chat commands.

`study_status` returns dataclasses of numbers and strings only, so that
`perspective status` and the Slack and Discord `/perspective status`
commands render the same facts, each in their own format.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from storage import (
    Database,
    Invitation,
    InvitationStatus,
    RecurringSchedule,
    Study,
    outreach_queries,
    queries,
    scheduling_queries,
)

# The headline counts, in the order they are shown.
HEADLINE = (
    "scheduled",
    "sent",
    "failed",
    "missed",
    "cancelled",
    "started",
    "completed",
    "opted_out",
    "unreachable",
)


@dataclass(frozen=True)
class Reason:
    """How many rows or participants are in one state for one reason."""

    status: str
    reason: str
    count: int


@dataclass(frozen=True)
class PendingNotice:
    kind: str
    status: str
    text: str
    last_error: str | None


@dataclass(frozen=True)
class StudyStatusReport:
    """Counts of a study's messages and interviews, with the reasons behind them.

    `counts` has the keys in HEADLINE: messages to participants scheduled
    (including those being sent now), sent, failed, missed and cancelled;
    interviews started and completed; participants opted out and
    unreachable. `by_kind` splits the message counts into invitations,
    reminders and nudges.
    """

    study_id: int
    title: str
    participants: int
    counts: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    reasons: list[Reason]
    next_due_at: datetime | None
    recurring: dict[str, Any] | None
    digest: dict[str, Any]
    unsent_notices: list[PendingNotice] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["next_due_at"] = self.next_due_at.isoformat() if self.next_due_at else None
        return data


def _message_counts(
    raw: dict[tuple[str, str], int],
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    totals = {status.value: 0 for status in InvitationStatus}
    by_kind: dict[str, dict[str, int]] = {}
    for (kind, status), count in raw.items():
        totals[status] = totals.get(status, 0) + count
        by_kind.setdefault(kind, {})[status] = count
    totals["scheduled"] += totals.pop(InvitationStatus.CLAIMED.value, 0)
    return totals, by_kind


async def study_status(database: Database, study_id: int) -> StudyStatusReport:
    """Collect the outreach status of one study."""
    async with database.session() as session:
        study = await session.get(Study, study_id)
        assert study is not None, f"study {study_id} not found"
        raw = await outreach_queries.invitation_counts(session, study_id)
        reasons = await outreach_queries.invitation_reasons(session, study_id)
        total, opted_out, unreachable = await outreach_queries.participant_reasons(
            session, study_id
        )
        interviews = await queries.interview_counts(session, study_id)
        next_due = await scheduling_queries.earliest_due(session, Invitation, study_id)
        schedule = await outreach_queries.recurring_schedule(session, study_id)
        notices = await outreach_queries.unsent_notices(session, study_id)
    totals, by_kind = _message_counts(raw)
    counts = {
        "scheduled": totals["scheduled"],
        "sent": totals["sent"],
        "failed": totals["failed"],
        "missed": totals["missed"],
        "cancelled": totals["cancelled"],
        "started": sum(interviews.values()),
        "completed": interviews.get("completed", 0),
        "opted_out": opted_out,
        "unreachable": sum(count for _reason, count in unreachable),
    }
    all_reasons = [Reason(status, text, count) for status, text, count in reasons]
    all_reasons += [Reason("unreachable", text, count) for text, count in unreachable]
    return StudyStatusReport(
        study_id=study_id,
        title=study.title,
        participants=total,
        counts=counts,
        by_kind=by_kind,
        reasons=all_reasons,
        next_due_at=next_due,
        recurring=_recurring_info(schedule),
        digest={
            "mode": study.digest_mode,
            "channel": (
                f"{study.team_platform}:{study.team_channel}"
                if study.team_channel
                else None
            ),
            "schedule": study.digest_cron,
            "time_zone": study.time_zone,
            "target": study.target_completions,
        },
        unsent_notices=[
            PendingNotice(n.kind, n.status, n.text, n.last_error) for n in notices
        ],
    )


def _recurring_info(schedule: RecurringSchedule | None) -> dict[str, Any] | None:
    if schedule is None:
        return None
    return {
        "cron": schedule.cron,
        "audience": schedule.audience,
        "resolved_within_days": schedule.resolved_within_days,
        "segment": schedule.segment,
        "enabled": schedule.enabled,
    }
