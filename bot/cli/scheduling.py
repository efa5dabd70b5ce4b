"""`perspective invite`, `invite-preview`, `participants import`, `status`,
`recurring` and `digest`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from bot.cli.common import console, fail, run, settings_for
from bot.cli.studies import StudyArg
from bot.context import app_context
from bot.errors import InvalidInputError
from bot.scheduling.invitations import InviteRequest, PlannedInvitation
from bot.scheduling.participants_import import ImportReport, parse_resolved_at
from bot.scheduling.recurring import check_cron, next_fire_times
from bot.scheduling.send_times import SendTime
from bot.scheduling.status import HEADLINE, StudyStatusReport
from storage import DigestMode
from storage.types import utcnow

participants_app = typer.Typer(
    help="Add participants to a study in bulk.", no_args_is_help=True
)

PlatformOpt = Annotated[
    str, typer.Option(help="The users' platform: slack or discord.")
]
UsersOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--user",
        help="A platform user id; repeat for several. Leave out to invite every "
        "participant of --segment who was not invited yet.",
    ),
]
SegmentOpt = Annotated[
    str | None, typer.Option(help="Segment label, for example “support agent”.")
]


def _send_time(at: str | None, days_after_resolution: float | None) -> SendTime:
    if at is None:
        return SendTime(days_after_resolution=days_after_resolution)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        fail(
            f"--at “{at}” is not a date and time; write it as 2026-03-10T09:30 "
            "(each participant's local time) or 2026-03-10T09:30+01:00."
        )
    return SendTime(at=moment, days_after_resolution=days_after_resolution)


def _print_plans(plans: list[PlannedInvitation], *, preview: bool) -> None:
    if not plans:
        console.print("Nobody to invite: every participant named was invited already.")
        return
    table = Table("User", "Name", "Sends at (their time)", "UTC", "Note")
    for plan in plans:
        local = plan.local_due_at
        table.add_row(
            plan.user_id,
            plan.name or "-",
            f"{local:%a %Y-%m-%d %H:%M} {plan.time_zone}" if local else "-",
            f"{plan.due_at:%Y-%m-%d %H:%M}" if plan.due_at else "-",
            f"skipped: {plan.skipped}" if plan.skipped else "",
        )
    console.print(table)
    for text in dict.fromkeys(plan.message for plan in plans if not plan.skipped):
        console.print(f"[dim]Message:[/dim] {text}", highlight=False)
    scheduled = sum(1 for plan in plans if not plan.skipped)
    verb = "would be scheduled" if preview else "scheduled"
    console.print(
        f"Invitations {verb}: {scheduled}; skipped: {len(plans) - scheduled}."
    )


def _invite_command(preview: bool) -> Callable[..., None]:
    def command(
        ctx: typer.Context,
        study: StudyArg,
        platform: PlatformOpt,
        users: UsersOpt = None,
        segment: SegmentOpt = None,
        workspace: Annotated[
            str, typer.Option(help="Slack team or Discord guild id, if any.")
        ] = "",
        case_type: Annotated[str | None, typer.Option(help="Case type.")] = None,
        outcome: Annotated[str | None, typer.Option(help="Resolution outcome.")] = None,
        resolved_at: Annotated[
            str | None,
            typer.Option(help="When the case was resolved: 2026-03-02 (UTC)."),
        ] = None,
        template: Annotated[
            str | None,
            typer.Option(
                help="Message text with {name}, {study_title}, {researcher_name} "
                "and {minutes}."
            ),
        ] = None,
        at: Annotated[
            str | None,
            typer.Option(
                help="Send time, ISO 8601; without an offset it is each "
                "participant's local time."
            ),
        ] = None,
        days_after_resolution: Annotated[
            float | None,
            typer.Option(help="Send this many days after the case was resolved."),
        ] = None,
    ) -> None:
        if platform not in ("slack", "discord"):
            fail(f"--platform must be slack or discord, got “{platform}”.")
        try:
            request = InviteRequest(
                platform=platform,
                user_ids=users or [],
                segment=segment,
                workspace_id=workspace,
                case_type=case_type,
                outcome=outcome,
                resolved_at=(
                    parse_resolved_at(resolved_at, None) if resolved_at else None
                ),
                template=template,
                send_time=_send_time(at, days_after_resolution),
            )
        except InvalidInputError as error:
            fail(str(error))

        async def work() -> list[PlannedInvitation]:
            async with app_context(settings_for(ctx)) as context:
                found = await context.studies.get(study)
                if preview:
                    return await context.scheduling.preview(found, request)
                return await context.scheduling.invite(found, request)

        _print_plans(run(work()), preview=preview)

    command.__doc__ = (
        "Show the invitations `invite` would schedule, without storing anything."
        if preview
        else "Schedule personal invitations; reminders follow if nobody starts."
    )
    return command


invite = _invite_command(preview=False)
invite_preview = _invite_command(preview=True)


@participants_app.command("import")
def import_command(
    ctx: typer.Context,
    study: StudyArg,
    file: Annotated[Path, typer.Argument(help="CSV file with a header line.")],
) -> None:
    """Import participants: platform,user_id,name,segment,case_type,outcome,
    resolved_at,time_zone."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"Cannot read {file}: {error}")

    async def work() -> ImportReport:
        async with app_context(settings_for(ctx)) as context:
            found = await context.studies.get(study)
            return await context.scheduling.import_participants(found, text)

    report = run(work())
    for row_error in report.errors:
        console.print(f"line {row_error.line}: {row_error.message}", highlight=False)
    console.print(
        f"Participants imported: {report.imported}; updated: {report.updated}; "
        f"rows rejected: {len(report.errors)}."
    )
    if report.errors:
        raise typer.Exit(2)


def status(
    ctx: typer.Context,
    study: StudyArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show scheduled, sent, failed and missed messages and interview progress."""

    async def work() -> StudyStatusReport:
        async with app_context(settings_for(ctx)) as context:
            return await context.scheduling.status(await context.studies.get(study))

    report = run(work())
    if as_json:
        console.print_json(json.dumps(report.as_dict(), default=str))
        return
    _print_status(report)


def _print_status(report: StudyStatusReport) -> None:
    console.print(
        f"[bold]{report.title}[/bold] (study {report.study_id}, "
        f"{report.participants} participants)"
    )
    table = Table("State", "Count", "Details")
    for name in HEADLINE:
        details = [
            f"{reason.count} {reason.reason or 'no reason given'}"
            for reason in report.reasons
            if reason.status == name
        ]
        table.add_row(
            name.replace("_", " "), str(report.counts[name]), "; ".join(details)
        )
    console.print(table)
    for kind, counts in sorted(report.by_kind.items()):
        parts = ", ".join(f"{count} {state}" for state, count in counts.items())
        console.print(f"{kind}s: {parts}", highlight=False)
    if report.next_due_at:
        console.print(f"Next message due: {report.next_due_at:%Y-%m-%d %H:%M} UTC")
    schedule = report.recurring
    if schedule and schedule["enabled"]:
        audience = (
            f"participants resolved within {schedule['resolved_within_days']} days"
            if schedule["audience"] == "cohort"
            else "the saved participant list"
        )
        console.print(
            f"Recurring: {schedule['cron']} ({report.digest['time_zone']}), {audience}",
            highlight=False,
        )
    digest_info = report.digest
    if digest_info["mode"] != "off":
        console.print(
            f"Digests: {digest_info['mode']} to {digest_info['channel']}",
            highlight=False,
        )
    if digest_info["target"]:
        console.print(f"Target: {digest_info['target']} completed interviews")
    for notice in report.unsent_notices:
        console.print(
            f"[yellow]Undelivered {notice.kind} notice ({notice.status}):[/yellow] "
            f"{notice.text}",
            highlight=False,
        )


def recurring(
    ctx: typer.Context,
    study: StudyArg,
    cron: Annotated[
        str | None,
        typer.Option(help="Crontab schedule with weekday names: “0 9 * * MON”."),
    ] = None,
    timezone: Annotated[
        str, typer.Option(help="IANA time zone of the schedule.")
    ] = "UTC",
    audience: Annotated[
        str | None,
        typer.Option(help="“saved”: the study's participant list, again."),
    ] = None,
    resolved_within_days: Annotated[
        int | None,
        typer.Option(help="Invite participants resolved within this many days."),
    ] = None,
    segment: SegmentOpt = None,
    template: Annotated[str | None, typer.Option(help="Invitation text.")] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop the schedule.")] = False,
) -> None:
    """Re-invite a saved audience or a new cohort on a cron schedule."""
    chosen = _audience(audience, resolved_within_days, off, cron)

    async def work() -> str:
        async with app_context(settings_for(ctx)) as context:
            found = await context.studies.get(study)
            if off:
                stopped = await context.scheduling.disable_recurring(found)
                return (
                    "Recurring invitations stopped."
                    if stopped
                    else (f"Study {found.id} has no recurring schedule.")
                )
            assert cron is not None
            await context.scheduling.set_recurring(
                found,
                cron=cron,
                time_zone=timezone,
                audience=chosen,
                resolved_within_days=resolved_within_days,
                segment=segment,
                template=template,
            )
            upcoming = next_fire_times(check_cron(cron, timezone), utcnow(), 3)
            return "Next runs: " + ", ".join(
                f"{t:%a %Y-%m-%d %H:%M %Z}" for t in upcoming
            )

    console.print(run(work()), highlight=False)


def _audience(
    audience: str | None, days: int | None, off: bool, cron: str | None
) -> Literal["saved", "cohort"]:
    if off:
        return "saved"
    if cron is None:
        fail('Give --cron, for example --cron "0 9 * * MON", or --off.')
    if (audience == "saved") == (days is not None):
        fail("Give exactly one of --audience saved and --resolved-within-days N.")
    return "saved" if audience == "saved" else "cohort"


def digest(
    ctx: typer.Context,
    study: StudyArg,
    mode: Annotated[
        DigestMode, typer.Option(help="per-interview, daily, weekly or off.")
    ],
    channel: Annotated[
        str | None, typer.Option(help="Team channel as PLATFORM:CHANNEL.")
    ] = None,
    target: Annotated[
        int | None,
        typer.Option(help="Tell the researcher at this many completed interviews."),
    ] = None,
    at: Annotated[str, typer.Option(help="Digest time of day, HH:MM.")] = "09:00",
    day: Annotated[str, typer.Option(help="Weekday of weekly digests.")] = "MON",
    timezone: Annotated[
        str | None, typer.Option(help="IANA time zone (default: the study's).")
    ] = None,
) -> None:
    """Post to the team channel per interview, daily or weekly."""
    try:
        at_time = time.fromisoformat(at)
    except ValueError:
        fail(f"--at “{at}” is not a time of day; write it as 09:00.")

    async def work() -> str:
        async with app_context(settings_for(ctx)) as context:
            found = await context.studies.get(study)
            stored = await context.scheduling.set_digest(
                found,
                mode=mode,
                channel=channel,
                target=target,
                time_zone=timezone,
                at=at_time,
                weekday=day,
            )
        where = f" to {stored.team_platform}:{stored.team_channel}"
        return f"Digests: {stored.digest_mode}{where if channel else ''}" + (
            f"; target {stored.target_completions}" if stored.target_completions else ""
        )

    console.print(run(work()), highlight=False)
