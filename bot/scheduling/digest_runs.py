"""Daily and weekly digests, posted once per study and period.

The digest job finds the latest scheduled digest time that has passed (in
the study's time zone) and inserts a notice keyed by study and that time.
A second run for the same time, after a restart or from another process,
finds the key and posts nothing. After a stop, one digest covers every
completion since the previous one.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.scheduling import notices
from bot.scheduling.digests import interview_texts
from bot.scheduling.recurring import check_cron, latest_fire_time
from bot.scheduling.send_times import add_local_days, zone_named
from interview_engine.providers.offline_analysis import SIGNALS, code_signals
from storage import (
    Database,
    DigestMode,
    Notice,
    Study,
    outreach_queries,
    scheduling_queries,
)

log = logging.getLogger(__name__)

_PERIOD_DAYS = {DigestMode.DAILY: 1, DigestMode.WEEKLY: 7}
_SIGNAL_LABELS = {signal.key: signal.label for signal in SIGNALS}
_KEY_PREFIX = "digest"


def digest_key(study_id: int, fire: datetime) -> str:
    return f"{_KEY_PREFIX}:{study_id}:{fire.isoformat()}"


async def _previous_fire(database: Database, study_id: int) -> datetime | None:
    async with database.session() as session:
        result = await session.exec(
            select(Notice.dedupe_key)
            .where(Notice.study_id == study_id, Notice.kind == "digest")
            .order_by(col(Notice.id).desc())
        )
        key = result.first()
    if key is None:
        return None
    return datetime.fromisoformat(key.split(":", 2)[2])


async def run_digest(
    database: Database, study_id: int, *, now: datetime
) -> datetime | None:
    """Post the study's latest due digest if it was not posted yet.

    Returns the scheduled time of the digest posted, or None.
    """
    async with database.session() as session:
        study = await session.get(Study, study_id)
    if study is None or study.digest_cron is None or study.id is None:
        return None
    if study.digest_mode not in _PERIOD_DAYS:
        return None
    zone = zone_named(study.time_zone, "UTC")
    trigger = check_cron(study.digest_cron, zone.key)
    previous = await _previous_fire(database, study_id)
    after = (
        max(filter(None, [previous, study.digest_since]))
        if (previous or study.digest_since)
        else now - timedelta(days=_PERIOD_DAYS[DigestMode(study.digest_mode)])
    )
    fire, _hidden = latest_fire_time(trigger, after, now)
    if fire is None:
        return None
    days = _PERIOD_DAYS[DigestMode(study.digest_mode)]
    start = previous or add_local_days(fire, -days, zone)
    text = await digest_text(database, study, start, fire)
    notice = notices.to_team_channel(
        study,
        notices.NoticeKind.DIGEST,
        text,
        now=now,
        dedupe_key=digest_key(study.id, fire),
    )
    if notice is None:
        log.warning("study %s has digests on but no team channel", study_id)
        return None
    async with database.session() as session:
        inserted = await scheduling_queries.insert_once(session, notice)
        await session.commit()
    if not inserted:
        return None
    log.info("digest of study %s for %s queued", study_id, fire.isoformat())
    return fire


async def digest_text(
    database: Database, study: Study, start: datetime, end: datetime
) -> str:
    """Write the digest of completions in (start, end] and the new themes."""
    assert study.id is not None
    async with database.session() as session:
        period = await outreach_queries.completed_since(session, study.id, start, end)
        earlier = await outreach_queries.completed_since(session, study.id, None, start)
        period_texts = await interview_texts(session, period)
        earlier_texts = await interview_texts(session, earlier)
    zone = zone_named(study.time_zone, "UTC")
    first_day = start.astimezone(zone).date().isoformat()
    last_day = end.astimezone(zone).date().isoformat()
    total = len(period) + len(earlier)
    lines = [
        f"{study.digest_mode.capitalize()} digest of “{study.title}”, "
        f"{first_day} to {last_day}:"
    ]
    segments = Counter(
        participant.segment or "no segment" for _i, participant in period
    )
    by_segment = ", ".join(f"{name} {count}" for name, count in segments.most_common())
    completed = f"{len(period)} interviews completed"
    if by_segment:
        completed += f" ({by_segment})"
    target = (
        f" of a target of {study.target_completions}"
        if study.target_completions
        else ""
    )
    lines.append(f"• {completed}; {total} in all{target}.")
    seen_before = {key for keys in code_signals(earlier_texts).values() for key in keys}
    new_counts = Counter(
        key
        for keys in code_signals(period_texts).values()
        for key in keys
        if key not in seen_before
    )
    if new_counts:
        themes = ", ".join(
            f"{_SIGNAL_LABELS[key]} ({count})"
            for key, count in new_counts.most_common()
        )
        lines.append(f"• New themes: participants {themes}.")
    else:
        lines.append("• No new themes.")
    return "\n".join(lines)
