"""Storage: migrations, SQLite settings, time stamps, de-duplication, races.

The same checks run on PostgreSQL when PERSPECTIVE_TEST_POSTGRES_URL names
a server (`.ci/run` starts one); without it those cases are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage import (
    Database,
    DatabaseError,
    Interview,
    MigrationRequiredError,
    Participant,
    Study,
    queries,
)
from storage.types import utcnow

POSTGRES_URL = os.environ.get("PERSPECTIVE_TEST_POSTGRES_URL")


async def _fresh_postgres_database() -> str:
    """Create an empty database on the test server and return its URL."""
    assert POSTGRES_URL is not None
    name = f"perspective_test_{uuid.uuid4().hex[:12]}"
    admin = Database(POSTGRES_URL)
    async with admin.engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.close()
    return (
        make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    )


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
async def database(
    request: pytest.FixtureRequest, database_url: str
) -> AsyncIterator[Database]:
    if request.param == "postgresql":
        if POSTGRES_URL is None:
            pytest.skip("PERSPECTIVE_TEST_POSTGRES_URL is not set (`.ci/run` sets it)")
        url = await _fresh_postgres_database()
    else:
        url = database_url
    db = Database(url)
    await db.prepare()
    yield db
    await db.close()


async def _study(db: Database) -> Study:
    study = Study(title="t", research_question="q?", join_code=uuid.uuid4().hex[:6])
    async with db.session() as session:
        session.add(study)
        await session.commit()
        await session.refresh(study)
    return study


async def test_new_database_migrated(database: Database) -> None:
    async with database.engine.connect() as connection:
        version = (
            await connection.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar()
    assert version is not None
    await database.prepare()  # a second start changes nothing


async def test_sqlite_connection_settings(database_url: str) -> None:
    db = Database(database_url)
    await db.prepare()
    async with db.engine.connect() as connection:
        journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
        timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
        foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
    await db.close()
    assert journal == "wal"
    assert timeout == 10_000
    assert foreign_keys == 1


async def test_foreign_database_refused(database_url: str) -> None:
    db = Database(database_url)
    async with db.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE studies (id INTEGER PRIMARY KEY)"))
    with pytest.raises(MigrationRequiredError, match="not created by Perspective"):
        await db.prepare()
    await db.close()


async def test_newer_database_refused(database_url: str) -> None:
    db = Database(database_url)
    await db.prepare()
    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num='9999'"))
    with pytest.raises(MigrationRequiredError, match="newer version"):
        await db.prepare()
    await db.close()


@pytest.mark.parametrize(
    ("make_url", "message"),
    [
        (lambda folder: "not a url at all", "Invalid database URL"),
        (lambda folder: f"sqlite+aiosqlite:///{folder}/missing/x.db", "does not exist"),
    ],
)
async def test_bad_database_location(
    tmp_path: Path, make_url: Any, message: str
) -> None:
    with pytest.raises(DatabaseError, match=message):
        Database(make_url(tmp_path))


async def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "thesis.txt"
    path.write_text("my thesis, not a database\n" * 100)
    db = Database(f"sqlite+aiosqlite:///{path}")
    with pytest.raises(DatabaseError, match="Cannot open the database"):
        await db.prepare()
    await db.close()
    assert path.read_text().startswith("my thesis")


async def test_times_read_back_aware(database: Database) -> None:
    study = await _study(database)
    async with database.session() as session:
        stored = await session.get(Study, study.id)
    assert stored is not None
    assert stored.created_at.tzinfo is not None
    assert abs((stored.created_at - utcnow()).total_seconds()) < 60


async def test_naive_time_rejected(database: Database) -> None:
    study = await _study(database)
    async with database.session() as session:
        stored = await session.get(Study, study.id)
        assert stored is not None
        stored.updated_at = datetime(2026, 1, 1)
        session.add(stored)
        with pytest.raises(Exception, match="aware datetime"):
            await session.commit()


async def test_event_recorded_once(database: Database) -> None:
    async with database.session() as session:
        assert await queries.record_event(session, "slack", "event:Ev1")
        assert not await queries.record_event(session, "slack", "event:Ev1")
        assert await queries.record_event(session, "discord", "event:Ev1")
        await session.commit()


async def test_version_bump_has_one_winner(database: Database) -> None:
    study = await _study(database)
    assert study.id is not None
    async with database.session() as session:
        participant = Participant(
            study_id=study.id, platform="console", platform_user_id="u"
        )
        session.add(participant)
        await session.flush()
        assert participant.id is not None
        interview = Interview(
            study_id=study.id, participant_id=participant.id, platform="x"
        )
        session.add(interview)
        await session.commit()
        await session.refresh(interview)
    async with database.session() as session:
        first = await queries.bump_interview_version(
            session, interview, {"language": "en"}
        )
        await session.commit()
    async with database.session() as session:
        second = await queries.bump_interview_version(
            session, interview, {"language": "de"}
        )
        await session.commit()
    assert first is True
    assert second is False


async def test_outdated_database_needs_upgrade(database_url: str) -> None:
    from alembic import command

    from storage.database import alembic_config

    db = Database(database_url)
    await db.prepare()
    config = alembic_config(database_url)

    def downgrade(connection: Any) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")

    async with db.engine.begin() as connection:
        await connection.run_sync(downgrade)
    with pytest.raises(MigrationRequiredError, match="perspective db upgrade"):
        await db.prepare()
    await db.upgrade()
    await db.prepare()
    await db.close()


async def test_one_open_interview_per_participant(database: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    study = await _study(database)
    assert study.id is not None
    async with database.session() as session:
        participant = Participant(
            study_id=study.id, platform="console", platform_user_id="u"
        )
        session.add(participant)
        await session.commit()
        await session.refresh(participant)
    assert participant.id is not None
    async with database.session() as session:
        session.add(
            Interview(study_id=study.id, participant_id=participant.id, platform="x")
        )
        await session.commit()
    with pytest.raises(IntegrityError):
        async with database.session() as session:
            session.add(
                Interview(
                    study_id=study.id, participant_id=participant.id, platform="x"
                )
            )
            await session.commit()
    async with database.session() as session:
        session.add(
            Interview(
                study_id=study.id,
                participant_id=participant.id,
                platform="x",
                status="completed",
            )
        )
        await session.commit()
