"""Team channel digests, per-interview notes and the target notice.

A study posts either a short note per completed interview or a daily or
weekly digest (completions and themes not seen before), always with
participants' details redacted. Each post is a notice row whose unique key
names the study and the interview or period, so it is posted once however
often the jobs run. The researcher gets one direct message when the study
reaches its target number of completed interviews.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, time, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.errors import InvalidInputError
from bot.scheduling import notices
from bot.scheduling.recurring import check_cron
from bot.scheduling.redaction import redact
from bot.services.results import answers_of
from interview_engine.providers.base import InterviewText
from interview_engine.text import shorten
from storage import (
    Database,
    DigestMode,
    Interview,
    Message,
    Notice,
    Participant,
    Study,
    outreach_queries,
    queries,
    scheduling_queries,
)

log = logging.getLogger(__name__)

KEY_POINT_CHARS = 280
# Per-interview notes look back this far on each pass; older completions
# were handled by earlier passes.
NOTE_LOOKBACK = timedelta(days=7)


def digest_cron(mode: DigestMode, at: time, weekday: str) -> str | None:
    if mode == DigestMode.DAILY:
        return f"{at.minute} {at.hour} * * *"
    if mode == DigestMode.WEEKLY:
        return f"{at.minute} {at.hour} * * {weekday.upper()[:3]}"
    return None


async def set_digest(
    database: Database,
    study: Study,
    *,
    mode: DigestMode,
    channel: str | None,
    target: int | None = None,
    time_zone: str | None = None,
    at: time = time(9, 0),
    weekday: str = "MON",
    now: datetime,
) -> Study:
    """Configure where and how often a study reports to its team.

    Args:
        channel: "PLATFORM:CHANNEL", for example "slack:C0123"; required
            unless `mode` is off.
        target: The number of completed interviews at which the researcher
            gets a direct message.

    Raises:
        InvalidInputError: The channel, time zone or weekday is not valid.
    """
    platform, channel_id = _split_channel(channel, mode)
    if target is not None and target < 1:
        raise InvalidInputError(f"The target must be 1 or more, got {target}.")
    async with database.session() as session:
        stored = await session.get(Study, study.id)
        assert stored is not None
        zone = time_zone or stored.time_zone or "UTC"
        cron = digest_cron(mode, at, weekday)
        if cron is not None:
            check_cron(cron, zone)
        if stored.digest_mode != mode or stored.digest_since is None:
            stored.digest_since = now
        stored.digest_mode = mode
        stored.digest_cron = cron
        stored.time_zone = zone
        if channel_id is not None:
            stored.team_platform, stored.team_channel = platform, channel_id
        if target is not None:
            stored.target_completions = target
        session.add(stored)
        await session.commit()
        await session.refresh(stored)
    log.info("study %s digests: %s to %s", study.id, mode.value, channel)
    return stored


def _split_channel(
    channel: str | None, mode: DigestMode
) -> tuple[str | None, str | None]:
    if not channel:
        if mode != DigestMode.OFF:
            raise InvalidInputError(
                "Name the team channel as PLATFORM:CHANNEL, for example "
                "slack:C0123ABCD, to post digests."
            )
        return None, None
    platform, _, channel_id = channel.partition(":")
    if platform not in ("slack", "discord") or not channel_id:
        raise InvalidInputError(
            f"The channel “{channel}” is not PLATFORM:CHANNEL with platform slack "
            "or discord, for example slack:C0123ABCD."
        )
    return platform, channel_id


async def interview_texts(
    session: AsyncSession, rows: Sequence[tuple[Interview, Participant]]
) -> list[InterviewText]:
    ids = [interview.id for interview, _p in rows if interview.id is not None]
    grouped: dict[int, list[Message]] = {i: [] for i in ids}
    for message in await queries.messages_of_interviews(session, ids):
        grouped[message.interview_id].append(message)
    return [
        InterviewText(
            interview_id=interview.id or 0,
            segment=participant.segment,
            answers=answers_of(grouped[interview.id or 0]),
        )
        for interview, participant in rows
    ]


def interview_note(
    interview: Interview,
    participant: Participant,
    text: InterviewText,
    names: list[str],
) -> str:
    """Write the redacted note about one completed interview."""
    recap = str(interview.state.get("recap") or "").strip()
    point = recap or (text.answers[0][1] if text.answers else "")
    point = shorten(redact(point, names), KEY_POINT_CHARS)
    segment = participant.segment or "no segment"
    line = f"Interview {interview.id} completed ({segment})."
    return f"{line} Key point: {point}" if point else line


async def queue_interview_notes(database: Database, *, now: datetime) -> int:
    """Create the team-channel note of each newly completed interview."""
    created = 0
    async with database.session() as session:
        for study in await outreach_queries.studies_with_digests(session):
            if study.digest_mode != DigestMode.PER_INTERVIEW or study.id is None:
                continue
            since = max(study.digest_since or now, now - NOTE_LOOKBACK)
            rows = await outreach_queries.completed_since(session, study.id, since, now)
            keys = {f"note:{interview.id}": (interview, p) for interview, p in rows}
            done = await scheduling_queries.existing_keys(session, Notice, list(keys))
            fresh = [pair for key, pair in keys.items() if key not in done]
            if not fresh:
                continue
            names = await _participant_names(session, study.id)
            for (interview, participant), text in zip(
                fresh, await interview_texts(session, fresh), strict=True
            ):
                notice = notices.to_team_channel(
                    study,
                    notices.NoticeKind.INTERVIEW_NOTE,
                    interview_note(interview, participant, text, names),
                    now=now,
                    dedupe_key=f"note:{interview.id}",
                )
                if notice and await scheduling_queries.insert_once(session, notice):
                    created += 1
        await session.commit()
    return created


async def _participant_names(session: AsyncSession, study_id: int) -> list[str]:
    participants = await outreach_queries.participants_of(session, study_id)
    return [p.display_name for p in participants if p.display_name]


async def check_targets(database: Database, *, now: datetime) -> int:
    """Tell each researcher, once, that their study reached its target."""
    created = 0
    async with database.session() as session:
        for study in await outreach_queries.studies_with_digests(session):
            target = study.target_completions
            if target is None or study.id is None:
                continue
            key = f"target:{study.id}:{target}"
            if await scheduling_queries.existing_keys(session, Notice, [key]):
                continue
            counts = await queries.interview_counts(session, study.id)
            completed = counts.get("completed", 0)
            if completed < target:
                continue
            text = (
                f"“{study.title}” has reached its target: {completed} completed "
                f"interviews (target {target}). Run `perspective summary {study.id}` "
                "for the results, or close the study when you have enough."
            )
            notice = notices.to_researcher(
                study, notices.NoticeKind.TARGET_REACHED, text, now=now, dedupe_key=key
            )
            if await scheduling_queries.insert_once(session, notice):
                created += 1
                log.info("study %s reached its target of %d", study.id, target)
        await session.commit()
    return created
