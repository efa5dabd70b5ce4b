"""Send times: now, a date and time, or days after a case was resolved,
moved into the participant's local working hours.

All arithmetic in days happens on the local calendar: "2 days later" keeps
the local time of day across a daylight-saving change, so a daily message
lands once per local day. Times are returned as aware UTC datetimes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import WEEKDAYS, SchedulerSettings
from bot.errors import InvalidInputError

log = logging.getLogger(__name__)

# A window with at least one working day has an opening within 7 days.
_DAYS_SEARCHED = 8


@dataclass(frozen=True)
class WorkingHours:
    """A daily window on some weekdays, in the participant's local time."""

    start: time
    end: time
    days: frozenset[int]  # 0 is Monday, as in datetime.weekday()

    @classmethod
    def from_settings(cls, settings: SchedulerSettings) -> WorkingHours:
        return cls(
            start=settings.working_hours_start,
            end=settings.working_hours_end,
            days=frozenset(WEEKDAYS.index(day) for day in settings.working_days),
        )

    def contains(self, moment: datetime, zone: ZoneInfo) -> bool:
        local = moment.astimezone(zone)
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_opening(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """Return `moment` if it is inside the window, else the next opening."""
        if self.contains(moment, zone):
            return moment.astimezone(UTC)
        local = moment.astimezone(zone)
        for offset in range(_DAYS_SEARCHED):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opening = _local_time(day, self.start, zone)
            if opening > moment:
                return opening
        raise AssertionError("a window with a working day opens within a week")

    def opening_after_day(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """Return the first opening on a local day after the day of `moment`."""
        local = moment.astimezone(zone)
        next_day = datetime.combine(
            local.date() + timedelta(days=1), time(0, 0), tzinfo=zone
        )
        return self.next_opening(next_day, zone)


def _local_time(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of a local wall-clock time.

    A wall time inside a spring-forward gap does not exist; zoneinfo then
    uses the offset from before the gap, which is an instant after it.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def zone_named(name: str | None, default: str) -> ZoneInfo:
    """Return the named time zone, or the default one if it is missing or invalid."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("unknown time zone %r, using %s", name, default)
    return ZoneInfo(default)


def check_zone(name: str) -> str:
    """Return `name` if it is a known IANA time zone, else raise InvalidInputError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidInputError(
            f"Unknown time zone “{name}”: use an IANA name such as "
            "Europe/Berlin or America/Los_Angeles."
        ) from error
    return name


def add_local_days(moment: datetime, days: float, zone: ZoneInfo) -> datetime:
    """Add days on the local calendar, keeping the local time of day."""
    local = moment.astimezone(zone)
    whole = int(days)
    shifted = local + timedelta(days=whole)  # wall-clock arithmetic in `zone`
    shifted = shifted + timedelta(days=days - whole)
    return shifted.astimezone(UTC)


@dataclass(frozen=True)
class SendTime:
    """When a researcher asked an invitation to go out.

    Exactly one of `at` and `days_after_resolution` is set, or neither for
    "now". A naive `at` is read in each participant's own time zone, so
    "09:30" means 09:30 for everyone; an aware one is one instant for all.
    """

    at: datetime | None = None
    days_after_resolution: float | None = None

    def __post_init__(self) -> None:
        if self.at is not None and self.days_after_resolution is not None:
            raise InvalidInputError(
                "Give either a send time or a number of days after resolution, "
                "not both."
            )
        if self.days_after_resolution is not None and self.days_after_resolution < 0:
            raise InvalidInputError(
                "The number of days after resolution must be 0 or more, got "
                f"{self.days_after_resolution}."
            )

    def describe(self) -> str:
        if self.at is not None:
            return f"at {self.at.isoformat(timespec='minutes')}"
        if self.days_after_resolution is not None:
            return f"{self.days_after_resolution:g} days after resolution"
        return "now"


def requested_time(
    send_time: SendTime,
    *,
    now: datetime,
    zone: ZoneInfo,
    resolved_at: datetime | None,
) -> datetime:
    """Return the instant asked for, before working hours apply.

    Raises:
        InvalidInputError: Days after resolution were asked for, but the
            participant has no resolution date.
    """
    if send_time.at is not None:
        at = send_time.at
        if at.tzinfo is None:
            at = at.replace(tzinfo=zone)
        return max(at.astimezone(UTC), now)
    if send_time.days_after_resolution is not None:
        if resolved_at is None:
            raise InvalidInputError(
                "no resolution date is stored for this participant, so "
                "“days after resolution” cannot be computed"
            )
        target = add_local_days(resolved_at, send_time.days_after_resolution, zone)
        return max(target, now)
    return now


def send_time_for(
    send_time: SendTime,
    *,
    now: datetime,
    zone: ZoneInfo,
    hours: WorkingHours,
    resolved_at: datetime | None = None,
) -> datetime:
    """Return when to send: the requested time moved into working hours."""
    requested = requested_time(send_time, now=now, zone=zone, resolved_at=resolved_at)
    return hours.next_opening(requested, zone)


def reminder_times(
    sent_at: datetime,
    offsets_days: list[float],
    *,
    zone: ZoneInfo,
    hours: WorkingHours,
) -> list[datetime]:
    """Return the send time of each reminder, at most one per local day.

    Each reminder is its offset after `sent_at` on the local calendar, moved
    into working hours; one that would share a local day with the message
    before it moves to the next working day.
    """
    times: list[datetime] = []
    previous = sent_at
    for offset in offsets_days:
        due = hours.next_opening(add_local_days(sent_at, offset, zone), zone)
        if due.astimezone(zone).date() <= previous.astimezone(zone).date():
            due = hours.opening_after_day(previous, zone)
        times.append(due)
        previous = due
    return times


def as_utc(moment: datetime) -> datetime:
    """Return an aware datetime in UTC; naive input is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
