"""Scheduling storage on SQLite and PostgreSQL: the claim race, migration 0002."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage import Database, Invitation, Participant, Study, scheduling_queries
from storage.database import alembic_config
from tests.test_storage import POSTGRES_URL, _fresh_postgres_database

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ROWS = 300


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def database_url_for(request: pytest.FixtureRequest, database_url: str) -> str:
    if request.param == "postgresql":
        if POSTGRES_URL is None:
            pytest.skip("PERSPECTIVE_TEST_POSTGRES_URL is not set (`.ci/run` sets it)")
        return await _fresh_postgres_database()
    return database_url


@pytest.fixture
async def prepared(database_url_for: str) -> AsyncIterator[str]:
    database = Database(database_url_for)
    await database.prepare()
    async with database.session() as session:
        study = Study(title="t", research_question="q?", join_code=uuid.uuid4().hex[:6])
        session.add(study)
        await session.flush()
        assert study.id is not None
        for number in range(ROWS):
            person = Participant(
                study_id=study.id, platform="slack", platform_user_id=f"U{number}"
            )
            session.add(person)
            await session.flush()
            assert person.id is not None
            session.add(
                Invitation(study_id=study.id, participant_id=person.id, due_at=NOW)
            )
        await session.commit()
    await database.close()
    yield database_url_for


async def _claim_all(url: str, worker: str) -> list[int]:
    database = Database(url)
    claimed: list[int] = []
    try:
        while True:
            async with database.session() as session:
                ids = await scheduling_queries.claim_due(
                    session,
                    Invitation,
                    platforms=["slack"],
                    worker=worker,
                    now=NOW,
                    limit=7,
                )
                await session.commit()
            if not ids:
                return claimed
            claimed.extend(ids)
            await asyncio.sleep(0)
    finally:
        await database.close()


async def test_concurrent_claims_disjoint(prepared: str) -> None:
    results = await asyncio.gather(
        *(_claim_all(prepared, f"worker-{number}") for number in range(4))
    )
    everything = [row for claimed in results for row in claimed]
    assert len(everything) == ROWS
    assert len(set(everything)) == ROWS


def _schema_difference(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


def _migrate(connection: Connection, url: str, action: str, revision: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


async def test_migration_0002_keeps_rows(database_url_for: str) -> None:
    database = Database(database_url_for)
    url = database_url_for
    async with database.engine.begin() as connection:
        await connection.run_sync(_migrate, url, "upgrade", "0001")
        await connection.execute(
            text(
                "INSERT INTO studies (title, research_question, plan, questions, "
                "experience, interview_settings, owner_platform, owner_id, status, "
                "join_code, created_at, updated_at) VALUES ('t', 'q', '{}', '[]', "
                "'{}', '{}', 'console', 'local', 'active', 'abc', :now, :now)"
            ),
            {"now": NOW.replace(tzinfo=None)},
        )
    for action, revision in [
        ("upgrade", "head"),
        ("downgrade", "0001"),
        ("upgrade", "head"),
    ]:
        async with database.engine.begin() as connection:
            await connection.run_sync(_migrate, url, action, revision)
    async with database.engine.connect() as connection:
        mode = (await connection.execute(text("SELECT digest_mode FROM studies"))).one()
        difference = await connection.run_sync(_schema_difference)
    await database.close()
    assert mode == ("off",)
    assert difference == []
