"""Alembic environment: runs migrations on a connection the bot passes in.

`storage.database.Database.upgrade` opens an async connection and hands its
synchronous face to Alembic through ``config.attributes["connection"]``.
Run on its own (for example ``alembic revision --autogenerate`` with
``-x url=...``), this file opens an async engine itself.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("No database URL: pass -x url=sqlite+aiosqlite:///file.db")
    asyncio.run(_run_with_own_engine(url))


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported.")
main()
