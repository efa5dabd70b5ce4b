"""Invite participants: who, with which text, and when.

`plan_invitations` computes everything without writing (the preview);
`invite` writes the participants and the invitation rows that the
dispatcher sends. A participant who opted out, cannot be reached, already
started, or already has an invitation waiting is reported and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.base import Adapter
from adapters.errors import DeliveryError
from bot.config import SchedulerSettings
from bot.errors import InvalidInputError
from bot.scheduling.send_times import SendTime, WorkingHours, send_time_for, zone_named
from bot.scheduling.templates import (
    DEFAULT_INVITATION,
    check_template,
    render,
    values_for,
)
from bot.services.participants import apply_fields
from storage import (
    Database,
    Invitation,
    InvitationKind,
    Participant,
    Study,
    outreach_queries,
    queries,
    scheduling_queries,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InviteRequest:
    """Whom to invite and how.

    With no `user_ids`, every participant of `segment` on `platform` who
    was never invited is invited (for example after a CSV import).
    """

    platform: str
    user_ids: Sequence[str] = ()
    segment: str | None = None
    workspace_id: str = ""
    case_type: str | None = None
    outcome: str | None = None
    resolved_at: datetime | None = None
    template: str | None = None
    send_time: SendTime = field(default_factory=SendTime)


@dataclass(frozen=True)
class PlannedInvitation:
    """One participant's invitation as planned, or why it is skipped."""

    user_id: str
    name: str
    time_zone: str
    message: str
    due_at: datetime | None = None
    skipped: str | None = None
    participant_id: int | None = None
    invitation_id: int | None = None

    @property
    def local_due_at(self) -> datetime | None:
        if self.due_at is None:
            return None
        return self.due_at.astimezone(ZoneInfo(self.time_zone))


async def _resolve_zone(
    participant: Participant,
    adapters: Mapping[str, Adapter],
    settings: SchedulerSettings,
) -> str:
    """Find the participant's time zone: stored, from the platform, or the default.

    A lookup that reports the user unreachable marks the participant so.
    """
    if participant.time_zone:
        return zone_named(participant.time_zone, settings.default_time_zone).key
    adapter = adapters.get(participant.platform)
    if adapter is not None:
        try:
            info = await adapter.lookup_user(participant.platform_user_id)
        except DeliveryError as error:
            log.warning(
                "user lookup failed, using the default time zone: platform=%s "
                "user=%s error=%s",
                participant.platform,
                participant.platform_user_id,
                error,
            )
        else:
            if not info.reachable:
                participant.unreachable_reason = info.reason or "cannot receive DMs"
            if info.display_name and not participant.display_name:
                participant.display_name = info.display_name
            if info.time_zone:
                participant.time_zone = info.time_zone
                return zone_named(info.time_zone, settings.default_time_zone).key
    return settings.default_time_zone


async def _participants_for(
    session: AsyncSession, study: Study, request: InviteRequest
) -> list[Participant]:
    """Find or build the participants named by the request (not yet stored)."""
    assert study.id is not None
    if not request.user_ids:
        if request.segment is None:
            raise InvalidInputError(
                "Name the users to invite, or a segment to invite everyone in it "
                "who was not invited yet."
            )
        invited = await outreach_queries.invited_participant_ids(session, study.id)
        found = await outreach_queries.participants_of(
            session, study.id, platform=request.platform, segment=request.segment
        )
        return [p for p in found if p.id not in invited]
    participants: list[Participant] = []
    for user_id in dict.fromkeys(u.strip() for u in request.user_ids if u.strip()):
        existing = await queries.find_participant(
            session, study.id, request.platform, request.workspace_id, user_id
        )
        participant = existing or Participant(
            study_id=study.id,
            platform=request.platform,
            workspace_id=request.workspace_id,
            platform_user_id=user_id,
        )
        apply_fields(
            participant,
            segment=request.segment,
            case_type=request.case_type,
            resolution_outcome=request.outcome,
            resolved_at=request.resolved_at,
        )
        participants.append(participant)
    return participants


async def _skip_reasons(
    session: AsyncSession, participants: Sequence[Participant]
) -> dict[int, str]:
    ids = [p.id for p in participants if p.id is not None]
    interviews = await scheduling_queries.latest_interviews(session, ids)
    pending = await outreach_queries.pending_participant_ids(session, ids)
    reasons: dict[int, str] = {}
    for participant_id in ids:
        if participant_id in interviews:
            reasons[participant_id] = "already started the interview"
        elif participant_id in pending:
            reasons[participant_id] = "already has an invitation or reminder waiting"
    return reasons


def _plan_one(
    study: Study,
    participant: Participant,
    *,
    template: str,
    send_time: SendTime,
    zone_name: str,
    skip: str | None,
    now: datetime,
    hours: WorkingHours,
) -> PlannedInvitation:
    values = values_for(study, participant)
    planned = PlannedInvitation(
        user_id=participant.platform_user_id,
        name=participant.display_name,
        time_zone=zone_name,
        message=render(template, values.as_dict()),
        participant_id=participant.id,
    )
    if participant.opted_out_at is not None:
        skip = "opted out"
    elif participant.unreachable_reason:
        skip = f"cannot be reached: {participant.unreachable_reason}"
    if skip is not None:
        return replace(planned, skipped=skip)
    try:
        due_at = send_time_for(
            send_time,
            now=now,
            zone=ZoneInfo(zone_name),
            hours=hours,
            resolved_at=participant.resolved_at,
        )
    except InvalidInputError as error:
        return replace(planned, skipped=str(error))
    return replace(planned, due_at=due_at)


async def plan_participants(
    session: AsyncSession,
    study: Study,
    participants: Sequence[Participant],
    settings: SchedulerSettings,
    *,
    template: str,
    send_time: SendTime,
    now: datetime,
    adapters: Mapping[str, Adapter],
) -> list[tuple[Participant, PlannedInvitation]]:
    """Plan each participant's invitation: text, send time or the skip reason."""
    skips = await _skip_reasons(session, participants)
    hours = WorkingHours.from_settings(settings)
    plans: list[tuple[Participant, PlannedInvitation]] = []
    for participant in participants:
        zone_name = await _resolve_zone(participant, adapters, settings)
        planned = _plan_one(
            study,
            participant,
            template=template,
            send_time=send_time,
            zone_name=zone_name,
            skip=skips.get(participant.id or 0),
            now=now,
            hours=hours,
        )
        plans.append((participant, planned))
    return plans


async def store_invitations(
    session: AsyncSession,
    study: Study,
    plans: Sequence[tuple[Participant, PlannedInvitation]],
    *,
    template: str,
    now: datetime,
    dedupe_prefix: str | None = None,
) -> list[PlannedInvitation]:
    """Store the participants and an invitation row for each plan not skipped."""
    assert study.id is not None
    results: list[PlannedInvitation] = []
    for participant, planned in plans:
        session.add(participant)
        await session.flush()
        assert participant.id is not None
        if planned.due_at is None:
            results.append(replace(planned, participant_id=participant.id))
            continue
        row = Invitation(
            study_id=study.id,
            participant_id=participant.id,
            kind=InvitationKind.INVITATION,
            due_at=planned.due_at,
            message=planned.message,
            template_data={
                "template": template,
                "values": values_for(study, participant).as_dict(),
            },
            dedupe_key=f"{dedupe_prefix}:{participant.id}" if dedupe_prefix else None,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        results.append(
            replace(planned, participant_id=participant.id, invitation_id=row.id)
        )
    return results


async def _plan(
    session: AsyncSession,
    study: Study,
    request: InviteRequest,
    settings: SchedulerSettings,
    *,
    now: datetime,
    adapters: Mapping[str, Adapter],
) -> tuple[str, list[tuple[Participant, PlannedInvitation]]]:
    template = check_template(request.template or DEFAULT_INVITATION)
    if not request.platform.strip():
        raise InvalidInputError("Name the platform of the users: slack or discord.")
    participants = await _participants_for(session, study, request)
    plans = await plan_participants(
        session,
        study,
        participants,
        settings,
        template=template,
        send_time=request.send_time,
        now=now,
        adapters=adapters,
    )
    return template, plans


async def plan_invitations(
    database: Database,
    study: Study,
    request: InviteRequest,
    settings: SchedulerSettings,
    *,
    now: datetime,
    adapters: Mapping[str, Adapter] | None = None,
) -> list[PlannedInvitation]:
    """Return what `invite` would do, without storing anything (the preview)."""
    async with database.session() as session:
        _template, plans = await _plan(
            session, study, request, settings, now=now, adapters=adapters or {}
        )
        await session.rollback()
    return [planned for _participant, planned in plans]


async def invite(
    database: Database,
    study: Study,
    request: InviteRequest,
    settings: SchedulerSettings,
    *,
    now: datetime,
    adapters: Mapping[str, Adapter] | None = None,
) -> list[PlannedInvitation]:
    """Store the participants and schedule an invitation for each one not skipped.

    Raises:
        InvalidInputError: The template or the request cannot be used.
    """
    async with database.session() as session:
        template, plans = await _plan(
            session, study, request, settings, now=now, adapters=adapters or {}
        )
        results = await store_invitations(
            session, study, plans, template=template, now=now
        )
        await session.commit()
    scheduled = sum(1 for r in results if r.invitation_id is not None)
    log.info(
        "study %s: %d invitations scheduled, %d skipped",
        study.id,
        scheduled,
        len(results) - scheduled,
    )
    return results
