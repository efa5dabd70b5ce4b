"""`perspective study`, `questions`, `experience` and `interview-settings`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.markdown import Markdown
from rich.table import Table

from adapters.markdown import plan_markdown
from bot.cli.common import console, run, settings_for
from bot.context import app_context
from bot.services.studies import experience_of, plan_of, questions_of, settings_of
from interview_engine import plans
from interview_engine.models import AccessLevel, Question
from storage import Study, StudyStatus

study_app = typer.Typer(
    help="Create, list, show and edit studies.", no_args_is_help=True
)
questions_app = typer.Typer(
    help="List and edit a study's interview guide.", no_args_is_help=True
)
experience_app = typer.Typer(
    help="What participants see: welcome, researcher, closing, privacy.",
    no_args_is_help=True,
)

StudyArg = Annotated[str, typer.Argument(help="Study number or join code.")]


def print_plan(study: Study) -> None:
    console.print(
        Markdown(
            plan_markdown(
                study.title,
                study.research_question,
                plan_of(study),
                questions_of(study),
            )
        )
    )
    advice = plans.mandatory_advice(questions_of(study))
    if advice:
        console.print(f"[yellow]{advice}[/yellow]")
    console.print(
        f"[dim]Study {study.id} · join code {study.join_code} · {study.status}[/dim]"
    )


@study_app.command("create")
def create(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The research question, in quotes.")],
    title: Annotated[
        str | None, typer.Option(help="A short title for the study.")
    ] = None,
) -> None:
    """Draft a research plan for QUESTION and store it as a new study."""

    async def work() -> Study:
        async with app_context(settings_for(ctx)) as context:
            return await context.studies.create(question, title=title)

    print_plan(run(work()))


@study_app.command("list")
def list_studies(ctx: typer.Context) -> None:
    """List the studies with their interview counts."""

    async def work() -> list[tuple[Study, dict[str, int]]]:
        async with app_context(settings_for(ctx)) as context:
            studies = await context.studies.all()
            return [(s, await context.studies.counts(s)) for s in studies]

    rows = run(work())
    if not rows:
        console.print(
            'No studies yet. Create one with: perspective study create "QUESTION"'
        )
        return
    table = Table("#", "Title", "Status", "Code", "Completed", "Open", "Opted out")
    for study, counts in rows:
        table.add_row(
            str(study.id),
            study.title,
            study.status,
            study.join_code,
            str(counts.get("completed", 0)),
            str(counts.get("active", 0) + counts.get("paused", 0)),
            str(counts.get("opted_out", 0)),
        )
    console.print(table)


@study_app.command("show")
def show(ctx: typer.Context, study: StudyArg) -> None:
    """Show a study's plan, guide and participant experience."""

    async def work() -> Study:
        async with app_context(settings_for(ctx)) as context:
            return await context.studies.get(study)

    found = run(work())
    print_plan(found)
    console.print_json(data=experience_of(found).model_dump(mode="json"))


@study_app.command("edit")
def edit(
    ctx: typer.Context,
    study: StudyArg,
    title: Annotated[str | None, typer.Option(help="New title.")] = None,
    research_type: Annotated[
        str | None,
        typer.Option(
            "--type", help="exploratory, discovery, evaluative or generative."
        ),
    ] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    target: Annotated[
        str | None, typer.Option(help="Target participant profile.")
    ] = None,
    add_goal: Annotated[
        list[str] | None, typer.Option(help="Add a goal (repeatable).")
    ] = None,
    remove_goal: Annotated[
        int | None, typer.Option(help="Remove goal number N.")
    ] = None,
) -> None:
    """Edit the plan: title, research type, description, target, goals."""

    async def work() -> Study:
        async with app_context(settings_for(ctx)) as context:
            return await context.studies.edit_plan(
                study,
                title=title,
                research_type=research_type,
                description=description,
                target_participants=target,
                add_goals=add_goal or [],
                remove_goal=remove_goal,
            )

    print_plan(run(work()))


def _set_status(ctx: typer.Context, study: str, status: StudyStatus) -> None:
    async def work() -> Study:
        async with app_context(settings_for(ctx)) as context:
            return await context.studies.set_status(study, status)

    found = run(work())
    console.print(f"Study {found.id} is now {found.status}.")


@study_app.command("close")
def close(ctx: typer.Context, study: StudyArg) -> None:
    """Close a study: no new interviews start; open ones may finish."""
    _set_status(ctx, study, StudyStatus.CLOSED)


@study_app.command("reopen")
def reopen(ctx: typer.Context, study: StudyArg) -> None:
    """Reopen a closed study."""
    _set_status(ctx, study, StudyStatus.ACTIVE)


def _print_questions(found: Study) -> None:
    table = Table("#", "Question", "Mandatory")
    for number, question in enumerate(questions_of(found), start=1):
        table.add_row(str(number), question.text, "yes" if question.mandatory else "")
    console.print(table)
    advice = plans.mandatory_advice(questions_of(found))
    if advice:
        console.print(f"[yellow]{advice}[/yellow]")


def _edit_questions(
    ctx: typer.Context, study: str, edit: Callable[[list[Question]], list[Question]]
) -> None:
    async def work() -> Study:
        async with app_context(settings_for(ctx)) as context:
            return await context.studies.change_questions(study, edit)

    _print_questions(run(work()))


@questions_app.command("list")
def questions_list(ctx: typer.Context, study: StudyArg) -> None:
    """List the guide in asking order; mandatory questions come first."""

    async def work() -> Study:
        async with app_context(settings_for(ctx)) as context:
            return await context.studies.get(study)

    _print_questions(run(work()))


@questions_app.command("add")
def questions_add(
    ctx: typer.Context,
    study: StudyArg,
    text: Annotated[str, typer.Argument(help="The question, in quotes.")],
    optional: Annotated[
        bool, typer.Option("--optional", help="Add as an optional question.")
    ] = False,
    position: Annotated[
        int | None,
        typer.Option(help="Position among questions of its kind (1 = first)."),
    ] = None,
) -> None:
    """Add a question; it is mandatory unless --optional is given."""

    async def work() -> Study:
        async with app_context(settings_for(ctx)) as context:
            return await context.studies.add_question(
                study, text, mandatory=not optional, position=position
            )

    _print_questions(run(work()))


@questions_app.command("remove")
def questions_remove(
    ctx: typer.Context, study: StudyArg, number: Annotated[int, typer.Argument()]
) -> None:
    """Remove question NUMBER (as numbered by `questions list`)."""
    _edit_questions(ctx, study, lambda qs: plans.remove_question(qs, number))


@questions_app.command("move")
def questions_move(
    ctx: typer.Context,
    study: StudyArg,
    number: Annotated[int, typer.Argument(help="The question to move.")],
    to: Annotated[int, typer.Argument(help="New position among its kind.")],
) -> None:
    """Reorder: move question NUMBER to position TO among its kind."""
    _edit_questions(ctx, study, lambda qs: plans.move_question(qs, number, to))


@questions_app.command("edit")
def questions_edit(
    ctx: typer.Context,
    study: StudyArg,
    number: Annotated[int, typer.Argument()],
    text: Annotated[str, typer.Argument(help="The new wording.")],
) -> None:
    """Reword question NUMBER."""
    _edit_questions(ctx, study, lambda qs: plans.edit_question(qs, number, text))


@questions_app.command("mandatory")
def questions_mandatory(
    ctx: typer.Context,
    study: StudyArg,
    number: Annotated[int, typer.Argument()],
    off: Annotated[
        bool, typer.Option("--off", help="Make it optional instead.")
    ] = False,
) -> None:
    """Make question NUMBER mandatory (or optional with --off)."""

    async def work() -> Study:
        async with app_context(settings_for(ctx)) as context:
            found = await context.studies.get(study)
            limits = settings_of(found)
            return await context.studies.change_questions(
                study, lambda qs: plans.set_mandatory(qs, number, not off, limits)
            )

    _print_questions(run(work()))


@experience_app.command("show")
def experience_show(ctx: typer.Context, study: StudyArg) -> None:
    """Show the participant experience settings."""

    async def work() -> Study:
        async with app_context(settings_for(ctx)) as context:
            return await context.studies.get(study)

    console.print_json(data=experience_of(run(work())).model_dump(mode="json"))


@experience_app.command("set")
def experience_set(
    ctx: typer.Context,
    study: StudyArg,
    title: Annotated[str | None, typer.Option(help="Conversation title.")] = None,
    welcome: Annotated[str | None, typer.Option(help="Welcome message.")] = None,
    researcher_name: Annotated[
        str | None, typer.Option(help="Researcher's name.")
    ] = None,
    researcher_title: Annotated[
        str | None, typer.Option(help="Researcher's job title.")
    ] = None,
    researcher_bio: Annotated[str | None, typer.Option(help="A one-line bio.")] = None,
    call_to_action: Annotated[
        str | None, typer.Option(help="Closing call to action.")
    ] = None,
    contact: Annotated[str | None, typer.Option(help="Contact for the close.")] = None,
    thank_you: Annotated[
        bool | None,
        typer.Option("--thank-you/--no-thank-you", help="Send a thank-you."),
    ] = None,
    thank_you_message: Annotated[
        str | None, typer.Option(help="Thank-you text.")
    ] = None,
    require_known: Annotated[
        bool | None,
        typer.Option(
            "--require-known/--open-join",
            help="Only invited participants, or anyone with the join link.",
        ),
    ] = None,
    access: Annotated[
        AccessLevel | None, typer.Option(help="Who may see results.")
    ] = None,
) -> None:
    """Set what participants see and who may see results."""
    fields: dict[str, Any] = {
        "conversation_title": title,
        "welcome_message": welcome,
        "researcher_name": researcher_name,
        "researcher_title": researcher_title,
        "researcher_bio": researcher_bio,
        "call_to_action": call_to_action,
        "contact": contact,
        "send_thank_you": thank_you,
        "thank_you_message": thank_you_message,
        "require_known_participants": require_known,
        "access_level": access,
    }
    changes = {k: v for k, v in fields.items() if v is not None}
    if not changes:
        console.print("Nothing to change: pass at least one option (see --help).")
        raise typer.Exit(2)

    async def work() -> Study:
        async with app_context(settings_for(ctx)) as context:
            return await context.studies.set_experience(study, **changes)

    console.print_json(data=experience_of(run(work())).model_dump(mode="json"))


def interview_settings_command(
    ctx: typer.Context,
    study: StudyArg,
    max_minutes: Annotated[
        float | None, typer.Option(help="Time budget per interview, in minutes.")
    ] = None,
    max_turns: Annotated[
        int | None, typer.Option(help="Interviewer turns per interview.")
    ] = None,
    max_probes: Annotated[
        int | None, typer.Option(help="Follow-ups per question.")
    ] = None,
    confirm: Annotated[
        bool | None,
        typer.Option(
            "--confirm/--no-confirm", help="Recap and ask to confirm at the end."
        ),
    ] = None,
) -> None:
    """Set the interview budget and whether the close confirms a recap."""
    fields = {
        "max_minutes": max_minutes,
        "max_turns": max_turns,
        "max_probes_per_question": max_probes,
        "confirm_understanding": confirm,
    }
    changes = {k: v for k, v in fields.items() if v is not None}

    async def work() -> Study:
        async with app_context(settings_for(ctx)) as context:
            if not changes:
                return await context.studies.get(study)
            return await context.studies.set_interview_settings(study, **changes)

    console.print_json(data=settings_of(run(work())).model_dump(mode="json"))
