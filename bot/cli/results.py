"""`perspective summary`, `ask` and `export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markdown import Markdown

from adapters.console import summary_renderable
from adapters.markdown import answer_markdown
from bot.cli.common import console, fail, run, settings_for
from bot.cli.studies import StudyArg
from bot.context import app_context
from bot.export import FORMATS, ExportFormat, export_study
from bot.services.results import StoredSummary
from interview_engine.report import AnswerReport


def summary(
    ctx: typer.Context,
    study: StudyArg,
    segment: Annotated[
        str | None, typer.Option(help="Only interviews in this segment.")
    ] = None,
    cached: Annotated[
        bool, typer.Option("--cached", help="Show the latest stored summary instead.")
    ] = False,
) -> None:
    """Summarise the completed interviews: themes, counts, quotes, segments."""

    async def work() -> StoredSummary | None:
        async with app_context(settings_for(ctx)) as context:
            found = await context.studies.get(study)
            if cached:
                return await context.results.latest(found, segment=segment)
            return await context.results.summarise(found, segment=segment)

    stored = run(work())
    if stored is None:
        console.print("No stored summary yet: run without --cached to create one.")
        raise typer.Exit(1)
    console.print(summary_renderable(stored.report))


def ask(
    ctx: typer.Context,
    study: StudyArg,
    question: Annotated[str, typer.Argument(help="Your question, in quotes.")],
) -> None:
    """Ask a free-form question of the interview data."""
    if not question.strip():
        console.print("The question is empty: write it in quotes after the study.")
        raise typer.Exit(2)

    async def work() -> AnswerReport:
        async with app_context(settings_for(ctx)) as context:
            found = await context.studies.get(study)
            return await context.results.ask(found, question)

    console.print(Markdown(answer_markdown(run(work()))))


def export(
    ctx: typer.Context,
    study: StudyArg,
    export_format: Annotated[
        str, typer.Option("--format", help="json, csv or md.")
    ] = "json",
    output: Annotated[
        Path | None, typer.Option(help="File to write (default: study-N.FORMAT).")
    ] = None,
) -> None:
    """Export transcripts and the latest summary to a file."""
    if export_format not in FORMATS:
        console.print(f"Unknown format “{export_format}”: use json, csv or md.")
        raise typer.Exit(2)
    chosen: ExportFormat = next(f for f in FORMATS if f == export_format)

    async def work() -> tuple[int, str]:
        async with app_context(settings_for(ctx)) as context:
            found = await context.studies.get(study)
            return found.id or 0, await export_study(context.results, found, chosen)

    study_id, text = run(work())
    path = output or Path(f"study-{study_id}.{export_format}")
    if path.is_dir():
        fail(f"{path} is a folder; give a file name inside it.")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        fail(f"Could not write {path}: {error.strerror or error}. Choose another path.")
    console.print(f"Wrote {path} ({len(text.encode())} bytes).")
