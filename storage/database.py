"""The async engine, the session factory and schema migrations.

SQLite (through aiosqlite) is the default. Each connection turns on WAL so
that readers never wait for a writer, a busy timeout so that two processes
on one file wait for each other instead of failing at once, and foreign
keys. PostgreSQL (through asyncpg) uses the same tables unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


class DatabaseError(Exception):
    """Raised when the database cannot be opened or is not usable."""


class MigrationRequiredError(DatabaseError):
    """Raised when an existing database is behind the code's schema."""


def alembic_config(url: str | None = None) -> Config:
    """Build the Alembic configuration in code, so no alembic.ini is needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current_revision(connection: Connection) -> tuple[bool, str | None]:
    has_tables = bool(inspect(connection).get_table_names())
    revision = MigrationContext.configure(connection).get_current_revision()
    return has_tables, revision


class Database:
    """An async engine and session factory for one database URL.

    Args:
        url: A SQLAlchemy URL with an async driver, for example
            ``sqlite+aiosqlite:///perspective.db`` or
            ``postgresql+asyncpg://user@host/db``.
        echo: Log every SQL statement (for debugging).
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError as error:
            raise DatabaseError(
                f"Invalid database URL {url!r}. Use for example "
                "sqlite+aiosqlite:///perspective.db or "
                "postgresql+asyncpg://user:password@host/database."
            ) from error
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        connect_args: dict[str, Any] = {}
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                folder = Path(database).expanduser().parent
                if not folder.is_dir():
                    raise DatabaseError(
                        f"The folder {folder} for the database does not exist. "
                        "Create it first, or check the path for a typo."
                    )
            # aiosqlite's own timeout; busy_timeout above covers the C level.
            connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_MS / 1000
        try:
            self.engine: AsyncEngine = create_async_engine(
                url,
                echo=echo,
                connect_args=connect_args,
                pool_pre_ping=not self.is_sqlite,
            )
        except (ArgumentError, ImportError) as error:
            raise DatabaseError(
                f"Cannot use the database URL {self.safe_url}: {error}"
            ) from error
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _enable_sqlite_pragmas)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Open a session; the caller commits. Roll back on any error."""
        async with self._sessions() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise

    async def upgrade(self) -> None:
        """Apply every migration that this database has not had yet."""
        config = alembic_config(self.url)
        try:
            async with self.engine.begin() as connection:
                await connection.run_sync(_upgrade, config)
        except (SQLAlchemyError, CommandError) as error:
            raise DatabaseError(
                f"Migrating the database at {self.safe_url} failed: {error}"
            ) from error
        log.info("database migrated to the latest schema: %s", self.safe_url)

    async def prepare(self) -> None:
        """Migrate a new, empty database; refuse to run on an outdated one.

        A database with no tables at all is migrated automatically on first
        use. An existing one that is behind the code is left alone, because
        several bot processes may share it: the operator runs
        ``perspective db upgrade`` once instead.
        """
        scripts = ScriptDirectory.from_config(alembic_config())
        head = scripts.get_current_head()
        try:
            async with self.engine.connect() as connection:
                has_tables, revision = await connection.run_sync(_current_revision)
            if revision == head:
                return
            if not has_tables:
                log.info("new database, creating the schema: %s", self.safe_url)
                await self.upgrade()
                return
        except SQLAlchemyError as error:
            raise DatabaseError(
                f"Cannot open the database at {self.safe_url}: "
                f"{getattr(error, 'orig', None) or error}. Check that the path points "
                "to a Perspective database (SQLite) and that it is writable."
            ) from error
        known = {script.revision for script in scripts.walk_revisions()}
        if revision is None:
            raise MigrationRequiredError(
                f"The database at {self.safe_url} has tables but no schema version, "
                "so it was not created by Perspective. Use another database file."
            )
        if revision not in known:
            raise MigrationRequiredError(
                f"The database at {self.safe_url} was created by a newer version of "
                f"Perspective (schema {revision}). Upgrade the bot to use it."
            )
        raise MigrationRequiredError(
            f"The database at {self.safe_url} is at schema revision "
            f"{revision}, but this version of the bot needs {head}. "
            "Run `perspective db upgrade` once, then start the bot again."
        )

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for logs and messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    async def close(self) -> None:
        await self.engine.dispose()
