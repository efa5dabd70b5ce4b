"""The `perspective` command line, as a researcher uses it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app

QUESTION = (
    "How can we improve our escalation process so that complex cases are "
    "resolved faster and customers stay satisfied?"
)
ANSWERS = [
    {
        "id": f"r{n}",
        "segment": "support agent" if n % 2 else "escalated customer",
        "case_type": "billing",
        "text": (
            "I called support three times about my bill. Each time I was "
            "transferred to another team and had to explain my issue again. "
            "The supervisor promised a callback that never came. I waited two "
            "weeks for a refund and felt frustrated and ignored."
        ),
    }
    for n in range(6)
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str, input: str | None = None) -> Result:
    return runner.invoke(
        app,
        ["--database", "cli.db", *args],
        input=input,
        env={"COLUMNS": "200"},
        catch_exceptions=False,
    )


def create_study(runner: CliRunner) -> None:
    result = invoke(runner, "study", "create", QUESTION, "--title", "Escalations")
    assert result.exit_code == 0, result.output


def test_create_prints_plan(runner: CliRunner) -> None:
    result = invoke(runner, "study", "create", QUESTION, "--title", "Escalations")
    assert result.exit_code == 0
    assert "Research type" in result.output
    assert "Goals" in result.output
    assert "mandatory questions" in result.output  # advice: none yet
    listing = invoke(runner, "study", "list")
    assert "Escalations" in listing.output


def test_question_editing(runner: CliRunner) -> None:
    create_study(runner)
    added = invoke(runner, "questions", "add", "1", "Where did the case stall?")
    assert added.exit_code == 0
    invoke(runner, "questions", "add", "1", "What would you change first?")
    moved = invoke(runner, "questions", "move", "1", "2", "1")
    assert moved.exit_code == 0
    lines = [line for line in moved.output.splitlines() if "│" in line]
    first_row = next(line for line in lines if "│ 1 " in line)
    assert "What would you change first?" in first_row
    removed = invoke(runner, "questions", "remove", "1", "99")
    assert removed.exit_code == 1
    assert "no question 99" in removed.output


def test_plan_and_experience_edits(runner: CliRunner) -> None:
    create_study(runner)
    edited = invoke(
        runner,
        "study",
        "edit",
        "1",
        "--type",
        "discovery",
        "--add-goal",
        "Find quick wins",
    )
    assert edited.exit_code == 0
    assert "discovery" in edited.output
    assert "Find quick wins" in edited.output
    bad_type = invoke(runner, "study", "edit", "1", "--type", "astrology")
    assert bad_type.exit_code == 1
    assert "exploratory, discovery" in bad_type.output
    experience = invoke(
        runner, "experience", "set", "1", "--researcher-name", "Maya", "--no-thank-you"
    )
    assert experience.exit_code == 0
    assert '"researcher_name": "Maya"' in experience.output
    assert '"send_thank_you": false' in experience.output


def test_unknown_study_message(runner: CliRunner) -> None:
    result = invoke(runner, "study", "show", "42")
    assert result.exit_code == 1
    assert "No study is numbered or coded “42”" in result.output


def test_chat_pause_then_resume(runner: CliRunner) -> None:
    create_study(runner)
    first = invoke(runner, "chat", "1", "--name", "Ana", input="pause\n")
    assert first.exit_code == 0
    assert "Hi Ana!" in first.output
    assert "we can pause here" in first.output
    # A new process picks up the paused interview where it stopped.
    second = invoke(runner, "chat", "1", input="I'm back\n")
    assert "Resuming your interview" in second.output
    assert "Where we left off" in second.output


def test_chat_stop(runner: CliRunner) -> None:
    create_study(runner)
    result = invoke(runner, "chat", "1", input="stop\n")
    assert "opted out" in result.output
    again = invoke(runner, "chat", "1", input="")
    assert "Hi" in again.output  # starting again is an explicit opt-in


def test_simulate_summary_ask_export(runner: CliRunner, tmp_path: Path) -> None:
    create_study(runner)
    invoke(runner, "questions", "add", "1", "Where did the case stall, and why?")
    answers = tmp_path / "answers.jsonl"
    answers.write_text("\n".join(json.dumps(a) for a in ANSWERS) + "\n")
    simulated = invoke(runner, "simulate", "1", "--answers", str(answers))
    assert simulated.exit_code == 0, simulated.output
    assert "Completed 6 interviews" in simulated.output
    rerun = invoke(runner, "simulate", "1", "--answers", str(answers))
    assert "skipped 6 already done" in rerun.output

    summary = invoke(runner, "summary", "1")
    assert summary.exit_code == 0
    assert "6 of 6" in summary.output
    assert "were transferred or passed between teams" in summary.output
    segment = invoke(runner, "summary", "1", "--segment", "support agent")
    assert "3 completed interviews" in segment.output

    asked = invoke(runner, "ask", "1", "what about callbacks?")
    assert "callback" in asked.output

    for export_format in ("json", "csv", "md"):
        out = tmp_path / f"export.{export_format}"
        exported = invoke(
            runner, "export", "1", "--format", export_format, "--output", str(out)
        )
        assert exported.exit_code == 0
        assert out.stat().st_size > 0
    document = json.loads((tmp_path / "export.json").read_text())
    assert len(document["interviews"]) == 6
    assert document["summary"]["total"] == 6
    rows = list(csv.DictReader(io.StringIO((tmp_path / "export.csv").read_text())))
    assert {row["segment"] for row in rows} == {"support agent", "escalated customer"}
    assert "# Transcripts" in (tmp_path / "export.md").read_text()


def test_simulate_bad_file(runner: CliRunner, tmp_path: Path) -> None:
    create_study(runner)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "text": "fine answer here"}\nnot json\n')
    result = invoke(runner, "simulate", "1", "--answers", str(broken))
    assert result.exit_code == 1
    assert "Line 2" in result.output
    missing = invoke(runner, "simulate", "1", "--answers", str(tmp_path / "nope.jsonl"))
    assert "not found" in missing.output


def test_export_unknown_format(runner: CliRunner) -> None:
    create_study(runner)
    result = invoke(runner, "export", "1", "--format", "xml")
    assert result.exit_code == 2
    assert "use json, csv or md" in result.output


def test_config_file_and_bad_value(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[interview]\nmax_turns = "many"\n')
    result = runner.invoke(app, ["--config", str(config), "study", "list"])
    assert result.exit_code == 1
    assert "interview.max_turns" in result.output
    missing = runner.invoke(
        app, ["--config", str(tmp_path / "none.toml"), "study", "list"]
    )
    assert "Config file not found" in missing.output


def test_db_upgrade(runner: CliRunner) -> None:
    result = invoke(runner, "db", "upgrade")
    assert result.exit_code == 0
    assert "up to date" in result.output
