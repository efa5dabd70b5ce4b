"""Shared fixtures: a fresh database per test, providers, the fake OpenAI."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import SchedulerSettings, Settings, load_settings
from bot.context import AppContext, open_context
from interview_engine.models import Guide, InterviewSettings, Question
from interview_engine.providers.offline import OfflineProvider
from interview_engine.providers.openai import OpenAIProvider, OpenAISettings
from tests.fakes.openai_server import FakeOpenAI
from tests.recording_adapter import RecordingAdapter
from tests.support import Clock

ROOT = Path(__file__).resolve().parents[1]
COMPLAINTS = ROOT.parent / "shared" / "data" / "complaints_sample.jsonl"


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Run each test in its own folder with no PERSPECTIVE_ settings leaking in."""
    kept = {"PERSPECTIVE_TEST_POSTGRES_URL", "PERSPECTIVE_SPECS_DIR"}
    for name in list(os.environ):
        if name.startswith("PERSPECTIVE_") and name not in kept:
            monkeypatch.delenv(name)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(database={"url": database_url})


@pytest.fixture
async def context(settings: Settings) -> AsyncIterator[AppContext]:
    app = await open_context(settings, provider=OfflineProvider())
    yield app
    await app.close()


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def openai_provider(fake_openai: FakeOpenAI) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(
        OpenAISettings(
            model="fake-model",
            api_key="test-key",
            base_url=fake_openai.base_url,
            timeout_seconds=2.0,
            max_retries=1,
        )
    )
    yield provider
    await provider.close()
    # Every request our provider sent must match OpenAI's published schema.
    assert fake_openai.validation_errors == []


def make_guide(**settings: object) -> Guide:
    return Guide(
        study_title="Escalations",
        research_question="How can we improve escalations?",
        goals=["Understand escalations"],
        questions=[
            Question(
                id="m1",
                text="What happened when your case was escalated?",
                mandatory=True,
            ),
            Question(id="m2", text="Where did the case stall?", mandatory=True),
            Question(id="m3", text="What one change would help most?", mandatory=True),
            Question(id="o1", text="What worked well?"),
            Question(id="o2", text="How did you feel about the outcome?"),
        ],
        settings=InterviewSettings.model_validate(settings),
    )


@pytest.fixture
def guide() -> Guide:
    return make_guide()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def scheduler_settings() -> SchedulerSettings:
    return SchedulerSettings()


@pytest.fixture
def recording(clock: Clock) -> RecordingAdapter:
    """A Slack-like adapter that records sends, timed by the test clock."""
    return RecordingAdapter(platform="slack", clock=lambda: clock.now)
