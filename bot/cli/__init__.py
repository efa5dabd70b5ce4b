"""The `perspective` command line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from bot.cli import interviews, results, scheduling
from bot.cli.common import (
    GlobalOptions,
    configure_logging,
    console,
    options,
    run,
    settings_for,
)
from bot.cli.studies import (
    experience_app,
    interview_settings_command,
    questions_app,
    study_app,
)
from bot.runner import run_until_stopped, sync_discord_commands
from storage import Database

app = typer.Typer(
    help=(
        "Perspective runs AI-led research interviews in Slack, Discord and the "
        "terminal. Start with `perspective demo`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
discord_app = typer.Typer(help="Discord set-up.", no_args_is_help=True)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            help="TOML settings file (default: ./perspective.toml if present)."
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(help="Database URL or SQLite file path (overrides settings)."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress.")
    ] = False,
) -> None:
    ctx.obj = GlobalOptions(config=config, database=database, verbose=verbose)
    configure_logging(verbose, "WARNING")


@app.command("run")
def run_command(ctx: typer.Context) -> None:
    """Run the bot on every configured platform (Slack, Discord) until stopped."""
    settings = settings_for(ctx)
    configure_logging(options(ctx).verbose, settings.log_level)
    if not options(ctx).verbose and settings.log_level.upper() == "WARNING":
        logging.getLogger().setLevel(logging.INFO)
    run(run_until_stopped(settings))


@discord_app.command("sync")
def discord_sync(
    ctx: typer.Context,
    guild: Annotated[
        int | None,
        typer.Option(help="Sync to one server only (instant), instead of globally."),
    ] = None,
) -> None:
    """Register the /perspective commands with Discord (run once per change)."""
    names = run(sync_discord_commands(settings_for(ctx), guild))
    where = f"server {guild}" if guild else "every server"
    console.print(f"Synced {', '.join(names) or 'no commands'} to {where}.")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending schema migrations to the configured database."""
    settings = settings_for(ctx)

    async def work() -> None:
        database = Database(settings.database.url)
        try:
            await database.upgrade()
        finally:
            await database.close()

    run(work())
    console.print("The database schema is up to date.")


app.add_typer(study_app, name="study")
app.add_typer(questions_app, name="questions")
app.add_typer(experience_app, name="experience")
app.add_typer(db_app, name="db")
app.add_typer(discord_app, name="discord")
app.command("interview-settings")(interview_settings_command)
app.command("chat")(interviews.chat)
app.command("simulate")(interviews.simulate_command)
app.command("transcript")(interviews.transcript)
app.command("demo")(interviews.demo)
app.command("summary")(results.summary)
app.command("ask")(results.ask)
app.command("export")(results.export)
app.command("invite")(scheduling.invite)
app.command("invite-preview")(scheduling.invite_preview)
app.add_typer(scheduling.participants_app, name="participants")
app.command("status")(scheduling.status)
app.command("recurring")(scheduling.recurring)
app.command("digest")(scheduling.digest)


def main() -> None:
    app()
