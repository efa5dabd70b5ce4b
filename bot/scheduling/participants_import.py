"""Import participants from a CSV file, keeping the valid rows.

The first line names the columns: platform, user_id, name, segment,
case_type, outcome, resolved_at, time_zone and consent (only platform and
user_id are required; workspace_id is optional). Consent (yes or no) says
whether the person agreed to be contacted directly, which Discord requires
before the bot may send an unsolicited direct message. Other columns are stored as
participant attributes. Each invalid row is reported with its line number
and left out; every other row is imported or updates the stored
participant.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bot.errors import InvalidInputError
from bot.scheduling.send_times import check_zone
from bot.services.participants import apply_fields
from storage import Database, Participant, Study, outreach_queries

log = logging.getLogger(__name__)

PLATFORMS = ("slack", "discord", "console")
REQUIRED = ("platform", "user_id")
_ALIASES = {
    "user": "user_id",
    "userid": "user_id",
    "display_name": "name",
    "resolution_outcome": "outcome",
    "resolved": "resolved_at",
    "timezone": "time_zone",
    "tz": "time_zone",
    "workspace": "workspace_id",
}
_KNOWN = frozenset(
    REQUIRED
    + (
        "name",
        "segment",
        "case_type",
        "outcome",
        "resolved_at",
        "time_zone",
        "workspace_id",
        "consent",
    )
)
_YES = frozenset({"yes", "y", "true", "1", "x"})
_NO = frozenset({"no", "n", "false", "0", ""})


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    line: int
    key: tuple[str, str, str]
    fields: dict[str, Any]
    attributes: dict[str, str]


def _column_name(header: str) -> str:
    name = header.strip().lower().replace("-", "_").replace(" ", "_")
    return _ALIASES.get(name, name)


def parse_resolved_at(text: str, zone_name: str | None) -> datetime:
    """Read a date or an ISO date and time; a naive value is local time."""
    zone = ZoneInfo(zone_name) if zone_name else UTC
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(text), time(0, 0))
        except ValueError as error:
            raise InvalidInputError(
                f"resolved_at “{text}” is not a date; write it as 2026-03-02 or "
                "2026-03-02T14:30"
            ) from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _parse_row(line: int, values: dict[str, str]) -> _Row:
    platform = values.get("platform", "").lower()
    user_id = values.get("user_id", "")
    if not platform:
        raise InvalidInputError("platform is missing")
    if platform not in PLATFORMS:
        raise InvalidInputError(
            f"platform “{platform}” is unknown; use one of {', '.join(PLATFORMS)}"
        )
    if not user_id:
        raise InvalidInputError("user_id is missing")
    zone_name = values.get("time_zone") or None
    if zone_name is not None:
        try:
            check_zone(zone_name)
        except InvalidInputError as error:
            raise InvalidInputError(f"time_zone: {error}") from error
    resolved = values.get("resolved_at")
    consent = values.get("consent", "").strip().lower()
    if consent not in _YES | _NO:
        raise InvalidInputError(f"consent “{consent}” is not yes or no")
    fields: dict[str, Any] = {
        "display_name": values.get("name", ""),
        "segment": values.get("segment") or None,
        "case_type": values.get("case_type") or None,
        "resolution_outcome": values.get("outcome") or None,
        "resolved_at": parse_resolved_at(resolved, zone_name) if resolved else None,
        "time_zone": zone_name,
        # Only a yes counts; an empty cell keeps what is stored.
        "consent": True if consent in _YES else None,
    }
    attributes = {k: v for k, v in values.items() if k not in _KNOWN and v}
    key = (platform, values.get("workspace_id", ""), user_id)
    return _Row(line, key, fields, attributes)


def parse_csv(text: str) -> tuple[list[_Row], list[RowError]]:
    """Parse the file's rows; return the valid ones and the errors by line."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration as error:
        raise InvalidInputError("The CSV file is empty.") from error
    columns = [_column_name(h) for h in header]
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise InvalidInputError(
            f"The CSV header lacks {', '.join(missing)}; the first line must name "
            "the columns, for example: platform,user_id,name,segment,case_type,"
            "outcome,resolved_at,time_zone"
        )
    rows: list[_Row] = []
    errors: list[RowError] = []
    first_line: dict[tuple[str, str, str], int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        values = {
            name: cell.strip() for name, cell in zip(columns, cells, strict=False)
        }
        try:
            row = _parse_row(line, values)
        except InvalidInputError as error:
            errors.append(RowError(line, str(error)))
            continue
        if row.key in first_line:
            errors.append(
                RowError(line, f"duplicate of line {first_line[row.key]}, left out")
            )
            continue
        first_line[row.key] = line
        rows.append(row)
    return rows, errors


async def import_participants(
    database: Database, study: Study, text: str
) -> ImportReport:
    """Import the CSV text into the study; return counts and the row errors."""
    assert study.id is not None
    rows, errors = parse_csv(text)
    report = ImportReport(errors=errors)
    async with database.session() as session:
        stored = {
            (p.platform, p.workspace_id, p.platform_user_id): p
            for p in await outreach_queries.participants_of(session, study.id)
        }
        for row in rows:
            participant = stored.get(row.key)
            if participant is None:
                platform, workspace_id, user_id = row.key
                participant = Participant(
                    study_id=study.id,
                    platform=platform,
                    workspace_id=workspace_id,
                    platform_user_id=user_id,
                )
                report.imported += 1
            else:
                report.updated += 1
            apply_fields(participant, attributes=row.attributes, **row.fields)
            session.add(participant)
        await session.commit()
    log.info(
        "study %s: %d participants imported, %d updated, %d rows rejected",
        study.id,
        report.imported,
        report.updated,
        len(report.errors),
    )
    return report
