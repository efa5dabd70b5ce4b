"""`perspective demo` runs a whole study offline and shows each part."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app


def test_demo_shows_plan_transcript_summary(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    result = CliRunner().invoke(
        app, ["demo", "--database", str(database)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    output = result.output
    assert "1. The research plan" in output
    assert "Interview guide (in asking order)" in output
    assert "16 interviews completed" in output
    assert "3. One transcript" in output
    assert "Interviewer:" in output
    assert "Participant:" in output
    assert "4. The summary" in output
    assert "16 completed interviews" in output
    assert "Improvement opportunities" in output
    assert "Segment comparisons" in output
    assert database.exists()


def test_demo_reruns_from_scratch(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["demo", "--database", str(database)])
        assert result.exit_code == 0
    listing = runner.invoke(
        app, ["--database", str(database), "study", "list"], env={"COLUMNS": "200"}
    )
    assert listing.output.count("Escalations and complex cases") == 1
