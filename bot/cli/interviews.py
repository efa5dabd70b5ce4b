"""`perspective chat`, `simulate`, `transcript` and `demo`."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.markdown import Markdown
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from adapters.base import InboundMessage, InterviewReply
from adapters.console import ConsoleAdapter, local_user_id, summary_renderable
from adapters.markdown import transcript_markdown
from bot.cli.common import console, fail, options, run, settings_for
from bot.cli.studies import StudyArg, print_plan
from bot.config import Settings, load_settings
from bot.context import AppContext, app_context
from bot.demo import DemoResult, personas_path, run_demo
from bot.services.conversation import StoredReply
from bot.services.studies import guide_of
from bot.simulate import FieldMap, SimulationReport, read_records, simulate
from interview_engine.models import TurnKind
from storage import Study

_FINAL_KINDS = frozenset({TurnKind.FAREWELL, TurnKind.OPTED_OUT})


async def _show(
    context: AppContext, adapter: ConsoleAdapter, replies: list[StoredReply]
) -> bool:
    """Print replies and mark them delivered; return True when the interview ended."""
    ended = False
    for reply in replies:
        ids = await adapter.send_direct_message("local", InterviewReply(reply.message))
        await context.conversations.mark_delivered(reply.message_id, ids)
        ended = ended or reply.message.kind in _FINAL_KINDS
    return ended


class LineReader:
    """Read terminal lines in a daemon thread, as bytes decoded leniently.

    A daemon thread lets Ctrl-C end the program at once (a thread blocked in
    input() would keep it alive until Enter), and decoding with replacement
    means bytes that are not UTF-8 arrive as U+FFFD instead of crashing.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = getattr(sys.stdin, "buffer", None)
        while True:
            raw = stream.readline() if stream is not None else sys.stdin.readline()
            if not raw:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, None)
                return
            line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            self._loop.call_soon_threadsafe(self._queue.put_nowait, line.rstrip("\r\n"))

    async def next_line(self) -> str | None:
        """Return the next line, or None at end of input (Ctrl-D)."""
        return await self._queue.get()


def console_channel(study: Study) -> str:
    """Each study gets its own terminal channel, so answers cannot cross over."""
    return f"console-study-{study.id}"


async def chat_session(
    context: AppContext,
    study_reference: str,
    *,
    name: str | None,
    segment: str | None,
    adapter: ConsoleAdapter,
) -> None:
    """Interview the person at the terminal; Ctrl-D leaves it to resume later."""
    study = await context.studies.get(study_reference)
    user_id = local_user_id()
    channel = console_channel(study)
    existing = await context.participants.find(study, "console", "local", user_id)
    participant = await context.participants.ensure(
        study,
        platform="console",
        workspace_id="local",
        user_id=user_id,
        display_name=name or "",
        segment=segment,
    )
    started = await context.conversations.start(study, participant, channel_id=channel)
    if started.status == "study_closed":
        fail(f"Study {study.id} is closed. Reopen it with `perspective study reopen`.")
    if started.status == "already_completed":
        console.print("You have already completed this interview. Thank you!")
        return
    if started.status == "started" and existing is not None and existing.opted_out_at:
        console.print(
            "[dim]You opted out earlier; answering now opts you back in.[/dim]"
        )
    if started.status == "resumed" and started.interview_id is not None:
        console.print("[dim]Resuming your interview where you left off.[/dim]")
        last = await context.conversations.last_interviewer_message(
            started.interview_id
        )
        if last is not None:
            adapter.render(InterviewReply(last))
        pending = await context.conversations.respond(started.interview_id)
        if await _show(context, adapter, pending):
            return
    if await _show(context, adapter, started.replies):
        return
    reader = LineReader()
    while True:
        console.print("[bold]you>[/bold] ", end="")
        line = await reader.next_line()
        if line is None:
            console.print(
                "\nYour answers are saved. "
                f"Run `perspective chat {study.id}` to continue."
            )
            return
        accepted = await context.conversations.accept(
            InboundMessage(
                platform="console",
                workspace_id="local",
                user_id=user_id,
                channel_id=channel,
                text=line,
                message_id=uuid.uuid4().hex,
            )
        )
        if accepted.interview_id is None:
            console.print("This interview has ended.")
            return
        replies = await context.conversations.respond(accepted.interview_id)
        if await _show(context, adapter, replies):
            return


def chat(
    ctx: typer.Context,
    study: StudyArg,
    name: Annotated[
        str | None, typer.Option(help="The name the interviewer uses.")
    ] = None,
    segment: Annotated[str | None, typer.Option(help="Your segment label.")] = None,
) -> None:
    """Be interviewed in the terminal (stop, pause and skip work here too)."""
    if not options(ctx).verbose:
        # Provider warnings would land in the middle of the conversation.
        logging.getLogger("interview_engine").setLevel(logging.ERROR)

    async def work() -> None:
        async with app_context(settings_for(ctx)) as context:
            await chat_session(
                context,
                study,
                name=name,
                segment=segment,
                adapter=ConsoleAdapter(console),
            )

    run(work())


def simulate_command(
    ctx: typer.Context,
    study: StudyArg,
    answers: Annotated[
        Path, typer.Option("--answers", help="JSONL file, one participant per line.")
    ],
    text_field: Annotated[
        str, typer.Option(help="Field with the participant's text.")
    ] = "text",
    id_field: Annotated[str, typer.Option(help="Field with a unique id.")] = "id",
    segment_field: Annotated[
        str, typer.Option(help="Field with the segment.")
    ] = "segment",
    case_type_field: Annotated[
        str, typer.Option(help="Field with the case type.")
    ] = "case_type",
    outcome_field: Annotated[
        str, typer.Option(help="Field with the resolution outcome.")
    ] = "resolution_outcome",
    resolved_at_field: Annotated[
        str, typer.Option(help="Field with the resolution date (ISO).")
    ] = "resolved_at",
    limit: Annotated[
        int | None, typer.Option(help="Use only the first N records.")
    ] = None,
) -> None:
    """Run one simulated interview per record of a JSONL file."""
    fields = FieldMap(
        text=text_field,
        id=id_field,
        segment=segment_field,
        case_type=case_type_field,
        outcome=outcome_field,
        resolved_at=resolved_at_field,
    )

    async def work() -> SimulationReport:
        records = read_records(answers, fields, limit=limit)
        async with app_context(settings_for(ctx)) as context:
            found = await context.studies.get(study)
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("Interviewing", total=len(records))
                return await simulate(
                    context.database,
                    context.conversations,
                    found,
                    records,
                    questions=[q.text for q in guide_of(found).questions],
                    on_progress=lambda: progress.advance(task),
                )

    report = run(work())
    console.print(
        f"Completed {report.completed} interviews"
        + (f", skipped {report.skipped} already done" if report.skipped else "")
        + (f", {report.unfinished} did not finish" if report.unfinished else "")
        + "."
    )


async def _print_transcript(
    context: AppContext, study: Study, interview_id: int | None
) -> None:
    transcripts = await context.results.transcripts(study)
    for interview, participant, messages in transcripts:
        if interview_id is None or interview.id == interview_id:
            console.print(
                Markdown(
                    transcript_markdown(
                        interview.id or 0,
                        participant.segment,
                        interview.status,
                        [(m.role, m.text) for m in messages if m.deleted_at is None],
                    )
                )
            )
            return
    fail(f"Study {study.id} has no interview {interview_id}.")


def transcript(
    ctx: typer.Context,
    study: StudyArg,
    interview: Annotated[int, typer.Argument(help="Interview number.")],
) -> None:
    """Print one interview's transcript."""

    async def work() -> None:
        async with app_context(settings_for(ctx)) as context:
            await _print_transcript(
                context, await context.studies.get(study), interview
            )

    run(work())


def demo(
    ctx: typer.Context,
    database: Annotated[
        Path | None,
        typer.Option(
            help="SQLite file for the demo (default perspective-demo.db); an "
            "earlier demo file is replaced, any other file is left alone."
        ),
    ] = None,
) -> None:
    """Run a whole study offline: plan, simulated interviews, summary."""
    global_database = options(ctx).database
    if database is None and global_database and "://" not in global_database:
        database = Path(global_database)
    database = database or Path("perspective-demo.db")
    console.rule(
        "Perspective demo: one research study, offline, in a local SQLite file"
    )
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    personas = len(read_records(personas_path(), FieldMap()))
    task = progress.add_task("Interviewing simulated participants", total=personas)

    def on_plan(study: Study) -> None:
        console.rule("1. The research plan")
        print_plan(study)
        console.rule("2. Interviews")
        progress.start()

    result: DemoResult = run(
        run_demo(database, on_plan=on_plan, on_progress=lambda: progress.advance(task))
    )
    progress.stop()
    console.print(
        f"{result.simulation.completed} interviews completed "
        "(simulated participants answer from bundled persona texts)."
    )

    async def first_transcript() -> None:
        settings = settings_for_demo(database)
        async with app_context(settings) as context:
            await _print_transcript(context, result.study, None)

    console.rule("3. One transcript")
    run(first_transcript())
    console.rule("4. The summary")
    console.print(summary_renderable(result.summary.report))
    console.rule()
    console.print(
        f"Demo finished in {result.seconds:.1f} s. The data is in {database}; "
        f"explore it with, for example:\n"
        f"  .venv/bin/perspective --database {database} study show {result.study.id}\n"
        f"  .venv/bin/perspective --database {database} ask {result.study.id} "
        '"what did agents say about notes?"\n'
        f"  .venv/bin/perspective --database {database} chat {result.study.id}"
    )


def settings_for_demo(database: Path) -> Settings:
    return load_settings(database={"url": f"sqlite+aiosqlite:///{database}"})
