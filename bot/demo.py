"""The demo: a whole study on embedded defaults, in under a minute.

It creates a study, adds three mandatory questions, sets the participant
experience, interviews simulated participants from personas bundled with
the package (escalated customers, complex-case customers, support agents
and escalation specialists), and summarises the result. Nothing needs an
account or a network: SQLite and the offline provider.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bot.config import load_settings
from bot.context import app_context
from bot.errors import InvalidInputError
from bot.services.results import StoredSummary
from bot.services.studies import guide_of
from bot.simulate import FieldMap, SimulationReport, read_records, simulate
from interview_engine.providers.offline import OfflineProvider
from storage import Study

DEMO_QUESTION = (
    "How can we optimize our escalation process and complex case handling to "
    "improve resolution rates and customer satisfaction?"
)
DEMO_TITLE = "Escalations and complex cases"
DEMO_MANDATORY_QUESTIONS = (
    "Think of your most recent escalated or complex case. What happened from the "
    "moment it was escalated until it was resolved?",
    "At which point did the case stall, or need to be explained again, and why?",
    "What one change would have helped resolve the case faster or left the "
    "customer more satisfied?",
)
DEMO_EXPERIENCE = {
    "researcher_name": "Maya Chen",
    "researcher_title": "Escalations Lead",
    "researcher_bio": "Maya runs the escalation team and wants to hear where "
    "complex cases get stuck.",
    "call_to_action": "If anything else comes to mind later, reply here or write "
    "to the escalations team.",
    "contact": "escalations@example.com",
}


def personas_path() -> Path:
    return Path(str(resources.files("bot") / "data" / "personas.jsonl"))


def is_demo_database(path: Path) -> bool:
    """Tell whether a file holds only the demo's study, and may be replaced."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            titles = {row[0] for row in connection.execute("SELECT title FROM studies")}
    except sqlite3.Error:
        return False
    return titles <= {DEMO_TITLE}


def remove_database_files(path: Path) -> None:
    """Delete an earlier demo database, refusing any other file.

    Raises:
        InvalidInputError: The file exists and is not a demo database.
    """
    if path.exists() and not is_demo_database(path):
        raise InvalidInputError(
            f"{path} exists and is not a demo database, so the demo will not "
            "replace it. Choose another file with --database."
        )
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@dataclass
class DemoResult:
    study: Study
    simulation: SimulationReport
    summary: StoredSummary
    seconds: float


async def run_demo(
    database_path: Path,
    *,
    on_plan: Callable[[Study], None] | None = None,
    on_progress: Callable[[], None] | None = None,
) -> DemoResult:
    """Run the demo study in a fresh SQLite file and return what it produced."""
    started = time.perf_counter()
    remove_database_files(database_path)
    settings = load_settings(database={"url": f"sqlite+aiosqlite:///{database_path}"})
    async with app_context(settings, provider=OfflineProvider()) as context:
        study = await context.studies.create(DEMO_QUESTION, title=DEMO_TITLE)
        study_id = study.id or 0
        for question in DEMO_MANDATORY_QUESTIONS:
            study = await context.studies.add_question(study_id, question)
        study = await context.studies.set_experience(study_id, **DEMO_EXPERIENCE)
        if on_plan is not None:
            on_plan(study)
        records = read_records(personas_path(), FieldMap())
        simulation = await simulate(
            context.database,
            context.conversations,
            study,
            records,
            questions=[q.text for q in guide_of(study).questions],
            on_progress=on_progress,
        )
        summary = await context.results.summarise(study)
    return DemoResult(study, simulation, summary, time.perf_counter() - started)
