"""Wiring: build the database, the provider and the services from settings."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.config import LLMSettings, Settings
from bot.errors import ConfigError
from bot.scheduling.service import SchedulingService
from bot.services.conversation import ConversationService
from bot.services.participants import ParticipantService
from bot.services.results import ResultsService
from bot.services.studies import StudyService
from interview_engine.providers.base import Provider
from interview_engine.providers.offline import OfflineProvider
from interview_engine.providers.openai import OpenAIProvider, OpenAISettings
from storage import Database

log = logging.getLogger(__name__)

# Local servers such as Ollama and vLLM accept any key, but the openai
# package refuses to start without one.
PLACEHOLDER_API_KEY = "not-needed"


def build_provider(settings: LLMSettings) -> Provider:
    """Create the configured provider; offline unless an endpoint is set."""
    use_openai = settings.provider == "openai" or (
        settings.provider == "auto" and settings.base_url is not None
    )
    if not use_openai:
        return OfflineProvider()
    api_key = os.environ.get(settings.api_key_env, "")
    if not api_key:
        if settings.base_url is None:
            raise ConfigError(
                f"llm.provider is openai but the environment variable "
                f"{settings.api_key_env} is empty. Set it to your API key, or set "
                "llm.base_url to a local server such as Ollama."
            )
        api_key = PLACEHOLDER_API_KEY
    return OpenAIProvider(
        OpenAISettings(
            model=settings.model,
            api_key=api_key,
            base_url=settings.base_url,
            timeout_seconds=settings.timeout_seconds,
            max_retries=settings.max_retries,
            output_mode=settings.output_mode,
            temperature=settings.temperature,
            max_output_tokens=settings.max_output_tokens,
        )
    )


@dataclass
class AppContext:
    """The services of one bot process, sharing a database and a provider."""

    settings: Settings
    database: Database
    provider: Provider
    studies: StudyService
    conversations: ConversationService
    participants: ParticipantService
    results: ResultsService
    scheduling: SchedulingService

    async def close(self) -> None:
        close = getattr(self.provider, "close", None)
        if close is not None:
            await close()
        await self.database.close()


async def open_context(
    settings: Settings, *, provider: Provider | None = None
) -> AppContext:
    """Open the database (migrating a new one) and build the services."""
    database = Database(settings.database.url, echo=settings.database.echo)
    try:
        await database.prepare()
    except Exception:
        await database.close()
        raise
    provider = provider or build_provider(settings.llm)
    log.info("provider: %s, database: %s", provider.name, database.safe_url)
    studies = StudyService(database, provider, settings.interview)
    return AppContext(
        settings=settings,
        database=database,
        provider=provider,
        studies=studies,
        conversations=ConversationService(database, provider),
        participants=ParticipantService(database),
        results=ResultsService(database, provider),
        scheduling=SchedulingService(database, settings.scheduler),
    )


@asynccontextmanager
async def app_context(
    settings: Settings, *, provider: Provider | None = None
) -> AsyncIterator[AppContext]:
    context = await open_context(settings, provider=provider)
    try:
        yield context
    finally:
        await context.close()
