"""Shared pieces of the command line: settings, error handling, output."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from bot.config import Settings, load_settings
from bot.errors import PerspectiveError
from storage import DatabaseError

T = TypeVar("T")

console = Console()
error_console = Console(stderr=True)


@dataclass
class GlobalOptions:
    config: Path | None = None
    database: str | None = None
    verbose: bool = False


def options(ctx: typer.Context) -> GlobalOptions:
    found = ctx.find_root().obj
    return found if isinstance(found, GlobalOptions) else GlobalOptions()


def database_url(value: str) -> str:
    """Accept a URL or a plain file path for --database."""
    if "://" in value:
        return value
    return f"sqlite+aiosqlite:///{Path(value).expanduser()}"


def settings_for(ctx: typer.Context) -> Settings:
    chosen = options(ctx)
    overrides: dict[str, Any] = {}
    if chosen.database:
        overrides["database"] = {"url": database_url(chosen.database)}
    try:
        return load_settings(chosen.config, **overrides)
    except PerspectiveError as error:
        fail(str(error))


def configure_logging(verbose: bool, level: str) -> None:
    logging.basicConfig(
        level=logging.INFO
        if verbose
        else getattr(logging, level.upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # Alembic announces each migration at INFO; the first run is not news.
        logging.getLogger("alembic").setLevel(logging.WARNING)


def fail(message: str, code: int = 1) -> NoReturn:
    error_console.print(f"[bold red]Error:[/bold red] {message}", highlight=False)
    raise typer.Exit(code)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; show our errors as messages, not tracebacks."""
    try:
        return asyncio.run(coroutine)
    except (PerspectiveError, DatabaseError) as error:
        fail(str(error))
    except KeyboardInterrupt:
        error_console.print("Interrupted.")
        raise typer.Exit(130) from None
