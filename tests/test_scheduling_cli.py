"""The scheduling commands: invite, preview, import, status, recurring, digest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(
        app,
        ["--database", "cli.db", *args],
        env={"COLUMNS": "200"},
        catch_exceptions=False,
    )


@pytest.fixture
def study(runner: CliRunner) -> str:
    created = invoke(
        runner, "study", "create", "How do escalations go?", "--title", "Esc"
    )
    assert created.exit_code == 0, created.output
    return "1"


def test_preview_then_invite(runner: CliRunner, study: str) -> None:
    options = [
        "--platform",
        "slack",
        "--user",
        "U1",
        "--user",
        "U2",
        "--segment",
        "support agent",
        "--template",
        "Hi {name}, {minutes} minutes for {study_title}?",
        "--at",
        "2030-01-07T08:00",
    ]
    preview = invoke(runner, "invite-preview", study, *options)
    assert preview.exit_code == 0, preview.output
    assert "Mon 2030-01-07 09:00 UTC" in preview.output
    assert "Hi there, 15 minutes for Esc?" in preview.output
    assert "Invitations would be scheduled: 2; skipped: 0." in preview.output
    empty = json.loads(invoke(runner, "status", study, "--json").output)
    assert empty["counts"]["scheduled"] == 0
    invited = invoke(runner, "invite", study, *options)
    assert "Invitations scheduled: 2; skipped: 0." in invited.output
    status = json.loads(invoke(runner, "status", study, "--json").output)
    assert status["counts"]["scheduled"] == 2
    assert status["next_due_at"] == "2030-01-07T09:00:00+00:00"
    again = invoke(runner, "invite", study, *options)
    assert "already has an invitation or reminder waiting" in again.output


def test_invite_rejects_bad_input(runner: CliRunner, study: str) -> None:
    bad_template = invoke(
        runner, "invite", study, "--platform", "slack", "--user", "U1",
        "--segment", "a", "--template", "Hi {first_name}",
    )  # fmt: skip
    assert bad_template.exit_code == 1
    assert "Unknown placeholder “{first_name}”" in bad_template.output
    both = invoke(
        runner, "invite", study, "--platform", "slack", "--user", "U1",
        "--at", "2030-01-07T09:00", "--days-after-resolution", "3",
    )  # fmt: skip
    assert both.exit_code == 1
    assert "not both" in both.output
    platform = invoke(runner, "invite", study, "--platform", "teams", "--user", "U1")
    assert "--platform must be slack or discord" in platform.output


def test_import_reports_lines(runner: CliRunner, study: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "\ufeffplatform,user_id,name,segment,time_zone\n"
        "slack,U1,Ana,agent,Europe/Berlin\n"
        "slack,,Bo,agent,\n"
        "slack,U3,Cy,agent,Not/AZone\n",
        encoding="utf-8",
    )
    result = invoke(runner, "participants", "import", study, str(csv_file))
    assert result.exit_code == 2
    assert "line 3: user_id is missing" in result.output
    assert "line 4: time_zone: Unknown time zone “Not/AZone”" in result.output
    assert "Participants imported: 1; updated: 0; rows rejected: 2." in result.output
    invited = invoke(
        runner, "invite", study, "--platform", "slack", "--segment", "agent"
    )
    assert "Ana" in invited.output
    assert "Europe/Berlin" in invited.output


def test_recurring_and_digest(runner: CliRunner, study: str) -> None:
    numeric = invoke(
        runner, "recurring", study, "--cron", "0 9 * * 1", "--audience", "saved"
    )
    assert numeric.exit_code == 1
    assert "Write weekdays by name" in numeric.output
    neither = invoke(runner, "recurring", study, "--cron", "0 9 * * MON")
    assert "exactly one of --audience saved and --resolved-within-days" in (
        neither.output
    )
    ok = invoke(
        runner, "recurring", study, "--cron", "0 9 * * MON",
        "--timezone", "Europe/Berlin", "--resolved-within-days", "7",
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "Next runs: Mon" in ok.output
    digest = invoke(
        runner, "digest", study, "--mode", "weekly", "--channel", "slack:C1",
        "--target", "20",
    )  # fmt: skip
    assert digest.exit_code == 0, digest.output
    status = invoke(runner, "status", study)
    assert "Recurring: 0 9 * * MON (Europe/Berlin), participants resolved within 7" in (
        status.output
    )
    assert "Digests: weekly to slack:C1" in status.output
    assert "Target: 20 completed interviews" in status.output
    stopped = invoke(runner, "recurring", study, "--off")
    assert "Recurring invitations stopped." in stopped.output
