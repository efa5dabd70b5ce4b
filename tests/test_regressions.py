"""Problems found by trying to break the product, each pinned by a test."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.base import InboundMessage
from adapters.markdown import safe
from bot.cli import app
from bot.context import AppContext
from bot.errors import InvalidInputError
from interview_engine import start_interview, take_message
from interview_engine.intents import Intent, detect_intent
from interview_engine.models import Guide, InterviewSettings, Phase, Status, TurnKind
from interview_engine.providers.base import InterviewText
from interview_engine.providers.offline import OfflineProvider
from interview_engine.providers.offline_analysis import code_signals
from interview_engine.text import looks_like_injection, salient_phrase
from tests.support import Clock, long_answers, run_interview

QUESTION = "How can we improve our escalation process for complex cases?"


def invoke(*args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(
        app, ["--database", "r.db", *args], input=input, env={"COLUMNS": "200"}
    )
    return result.output


def test_chat_answers_stay_in_their_study() -> None:
    invoke("study", "create", QUESTION)
    invoke("study", "create", "What makes refunds slow for card customers?")
    invoke("chat", "1", input="Tier 1 owned it for two weeks, then billing.\n")
    invoke("chat", "2", input="Refunds took 20 days and nobody called back.\n")
    invoke("chat", "1", input="stop\n")
    listing = invoke("study", "list")
    rows = [line for line in listing.splitlines() if "│" in line]
    study_one = next(r for r in rows if r.split("│")[1].strip() == "1")
    study_two = next(r for r in rows if r.split("│")[1].strip() == "2")
    assert study_one.split("│")[-2].strip() == "1"  # opted out
    assert study_two.split("│")[-2].strip() == "0"
    assert study_two.split("│")[-3].strip() == "1"  # still open


@pytest.mark.parametrize(
    "reply", ["No, please don't contact me again", "stop", "no thanks"]
)
async def test_contact_refusal_keeps_interview(guide: Guide, reply: str) -> None:
    transcript = await run_interview(
        guide, OfflineProvider(), long_answers(40) + ["yes"] * 3, until=Phase.CONTACT
    )
    state = transcript.last.state
    assert state.phase == Phase.CONTACT
    turn = await take_message(
        guide, state, reply, transcript.history, OfflineProvider(), now=Clock().now
    )
    assert turn.state.status == Status.COMPLETED
    assert turn.state.contact_ok is False


@pytest.mark.parametrize(
    "text",
    [
        "I never had to explain my issue again because the first agent had the notes.",
        "I was not transferred to anyone.",
        "There was no delay and the refund came the same day.",
        "The case was never escalated.",
        "Nobody promised me a callback because the case was solved on the spot.",
        "Our invoices showed charges for seats we had removed months ago.",
    ],
)
def test_negated_problems_not_counted(text: str) -> None:
    codes = code_signals([InterviewText(interview_id=1, answers=[("q", text)])])
    assert codes[1] == []


def test_real_problems_counted() -> None:
    text = "I was transferred three times and waited weeks for a callback."
    codes = code_signals([InterviewText(interview_id=1, answers=[("q", text)])])
    assert set(codes[1]) == {"signal:transfers", "signal:waiting", "signal:callbacks"}


def test_demo_refuses_other_files(tmp_path: Path) -> None:
    thesis = tmp_path / "thesis.txt"
    thesis.write_text("my thesis")
    result = CliRunner().invoke(app, ["demo", "--database", str(thesis)])
    assert result.exit_code == 1
    assert "not a demo database" in result.output
    assert thesis.read_text() == "my thesis"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("no me escribas más", Intent.STOP),
        ("Hör bitte auf mir zu schreiben", Intent.STOP),
        ("ne m'écrivez plus", Intent.STOP),
        ("pare de me mandar mensagens", Intent.STOP),
        ("¿podemos seguir más tarde?", Intent.PAUSE),
        ("können wir später weitermachen?", Intent.PAUSE),
        ("on peut continuer plus tard ?", Intent.PAUSE),
        ("podemos continuar depois?", Intent.PAUSE),
        ("saltar", Intent.SKIP),
        ("passer", Intent.SKIP),
        ("prefiro não responder", Intent.SKIP),
        ("I'm done", Intent.FINISH),
        ("They told me to stop calling", None),
    ],
)
def test_control_words_in_five_languages(text: str, intent: Intent | None) -> None:
    assert detect_intent(text) == intent


async def test_correction_is_asked_for(guide: Guide) -> None:
    transcript = await run_interview(
        guide, OfflineProvider(), long_answers(40), until=Phase.CONFIRMING
    )
    state = transcript.last.state
    assert state.phase == Phase.CONFIRMING
    clock = Clock()
    asked = await take_message(
        guide,
        state,
        "I'd like to correct something",
        [],
        OfflineProvider(),
        now=clock.now,
    )
    assert "What should I correct" in asked.messages[0].text
    assert asked.state.phase == Phase.CONFIRMING
    fixed = await take_message(
        guide,
        asked.state,
        "It was two weeks, not three days.",
        [],
        OfflineProvider(),
        now=clock.now,
    )
    assert fixed.state.recap_correction == "It was two weeks, not three days."
    assert fixed.state.phase == Phase.CONTACT


async def test_resume_phrase_not_stored_as_answer(guide: Guide) -> None:
    clock = Clock()
    turn = await start_interview(guide, now=clock.now)
    paused = await take_message(
        guide, turn.state, "pause", [], OfflineProvider(), now=clock.now
    )
    resumed = await take_message(
        guide, paused.state, "ok let's continue", [], OfflineProvider(), now=clock.now
    )
    assert "Where we left off" in resumed.messages[0].text
    assert not resumed.state.progress_of("m1").answered


async def test_closed_study_lets_open_interview_finish(context: AppContext) -> None:
    study = await context.studies.create(QUESTION)
    participant = await context.participants.ensure(
        study, platform="console", workspace_id="local", user_id="u"
    )
    await context.conversations.start(study, participant, channel_id="c")
    closed = await context.studies.set_status(study.id or 0, "closed")  # type: ignore[arg-type]
    again = await context.conversations.start(closed, participant, channel_id="c")
    assert again.status == "resumed"


async def test_exports_are_inert(context: AppContext) -> None:
    from bot.export import export_study

    study = await context.studies.create(QUESTION)
    participant = await context.participants.ensure(
        study,
        platform="console",
        workspace_id="local",
        user_id="u",
        display_name="Dana",
    )
    await context.conversations.start(study, participant, channel_id="c")
    attack = '=HYPERLINK("http://evil.example","x") <img src=x> ![a](http://evil/p.png)'
    accepted = await context.conversations.accept(
        InboundMessage("console", "local", "u", "c", attack, message_id="1")
    )
    await context.conversations.respond(accepted.interview_id or 0)
    rows = list(
        csv.DictReader(io.StringIO(await export_study(context.results, study, "csv")))
    )
    cells = [row["text"] for row in rows]
    assert "'" + attack in cells
    assert all("Dana" not in cell for cell in cells)
    markdown = await export_study(context.results, study, "md")
    assert "<img" not in markdown
    assert "![a]" not in markdown
    document = json.loads(await export_study(context.results, study, "json"))
    assert "contact_ok" in document["interviews"][0]


def test_safe_markdown_drops_escape_codes() -> None:
    assert safe("\x1b[31mred\x1b[0m") == "[31mred[0m"


def test_export_to_missing_folder(tmp_path: Path) -> None:
    invoke("study", "create", QUESTION)
    output = invoke("export", "1", "--output", str(tmp_path / "nope" / "x.json"))
    assert "Could not write" in output


def test_infinite_budget_rejected() -> None:
    with pytest.raises(ValueError):
        InterviewSettings(max_minutes=float("inf"))
    output = invoke("study", "create", QUESTION)
    assert "Error" not in output
    rejected = invoke("interview-settings", "1", "--max-minutes", "inf")
    assert "max_minutes" in rejected


@pytest.mark.parametrize(
    "answer",
    [
        "Our system prompt in the IVR kept sending me to the wrong queue.",
        "You are now the third person I've explained this to.",
    ],
)
def test_real_answers_not_taken_as_injection(answer: str) -> None:
    assert not looks_like_injection(answer)


def test_config_typo_and_broken_file(tmp_path: Path) -> None:
    typo = tmp_path / "typo.toml"
    typo.write_text('[llm]\nmodle = "gpt"\n')
    output = CliRunner().invoke(app, ["--config", str(typo), "study", "list"]).output
    assert "llm.modle" in output
    broken = tmp_path / "broken.toml"
    broken.write_bytes(b"\xef\xbb\xbf[llm\n")
    output = CliRunner().invoke(app, ["--config", str(broken), "study", "list"]).output
    assert "not valid TOML" in output
    assert "byte-order mark" in output


async def test_silent_interviews_not_counted(context: AppContext) -> None:
    from datetime import UTC, datetime

    from interview_engine import summarise

    interviews = [
        InterviewText(
            interview_id=1, answers=[("q", "I waited weeks for a callback.")]
        ),
        InterviewText(interview_id=2, answers=[]),
    ]
    result = await summarise(
        QUESTION,
        interviews,
        OfflineProvider(),
        study_id=1,
        study_title="t",
        now=datetime.now(UTC),
    )
    assert result.report.total == 1
    assert any("no answers" in note for note in result.report.notes)


async def test_bot_question_answered(guide: Guide) -> None:
    clock = Clock()
    turn = await start_interview(guide, now=clock.now)
    reply = await take_message(
        guide, turn.state, "Are you a bot?", [], OfflineProvider(), now=clock.now
    )
    assert reply.messages[0].kind == TurnKind.NOTICE
    assert "AI interviewer" in reply.messages[0].text
    assert not reply.state.progress_of("m1").answered


@pytest.mark.parametrize(
    "text", ["Tier 1 owned it, then billing.", '=HYPERLINK("http://evil.example")']
)
def test_reflection_quotes_words_written_together(text: str) -> None:
    phrase = salient_phrase(text)
    assert phrase is None or phrase in text


def test_participant_labels_limited() -> None:
    invoke("study", "create", QUESTION)
    output = invoke("chat", "1", "--name", "x" * 500, input="")
    assert "at most 100" in output


def test_simulate_rejects_zero_limit(tmp_path: Path) -> None:
    invoke("study", "create", QUESTION)
    answers = tmp_path / "a.jsonl"
    answers.write_text(
        '\ufeff{"id": "a", "text": "I waited weeks."}\n', encoding="utf-8"
    )
    assert "--limit must be 1 or more" in invoke(
        "simulate", "1", "--answers", str(answers), "--limit", "0"
    )
    assert "Completed 1 interviews" in invoke(
        "simulate", "1", "--answers", str(answers)
    )


def test_unknown_segment_lists_segments(tmp_path: Path) -> None:
    invoke("study", "create", QUESTION)
    answers = tmp_path / "a.jsonl"
    answers.write_text(
        json.dumps({"id": "a", "segment": "support agent", "text": "I waited weeks."})
        + "\n"
    )
    invoke("simulate", "1", "--answers", str(answers))
    assert "1 completed interviews" in invoke(
        "summary", "1", "--segment", "Support Agent"
    )
    output = invoke("summary", "1", "--segment", "customers")
    assert "The segments are: support agent" in output


def test_huge_study_number_not_found() -> None:
    assert "No study is numbered" in invoke("study", "show", "9" * 30)


def test_invalid_input_error_is_perspective_error() -> None:
    assert issubclass(InvalidInputError, Exception)
