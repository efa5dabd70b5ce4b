"""Settings: one typed object loaded from a TOML file and the environment.

Precedence, highest first: environment variables (``PERSPECTIVE_`` prefix,
``__`` between section and key, for example ``PERSPECTIVE_LLM__MODEL``),
then the TOML file (``perspective.toml`` in the working directory, or the
path in ``PERSPECTIVE_CONFIG`` or ``--config``), then the defaults here.
Secrets are never stored in settings: a setting names the environment
variable that holds each token or key.
"""

from __future__ import annotations

import os
import tomllib
from datetime import time
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.errors import ConfigError
from interview_engine.models import InterviewSettings

DEFAULT_CONFIG_FILE = "perspective.toml"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///perspective.db"


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = DEFAULT_DATABASE_URL
    echo: bool = False


class LLMSettings(BaseModel):
    """The model provider and how to reach it.

    `provider = "auto"` picks `openai` when `base_url` is set and `offline`
    otherwise, so a fresh install needs no account and no network.
    """

    model_config = ConfigDict(extra="forbid")

    provider: Literal["auto", "offline", "openai"] = "auto"
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    # Each turn waits at most about timeout x (retries + 1) before the offline
    # rules answer instead, so these stay short: a participant is waiting.
    timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    max_retries: int = Field(default=1, ge=0, le=10)
    output_mode: Literal["auto", "json_schema", "json_object", "text"] = "auto"
    temperature: float | None = 0.3
    max_output_tokens: int = Field(default=800, ge=64)


class SlackSettings(BaseModel):
    """The Slack app: connection mode, where its secrets are, Web API address.

    `enabled = None` turns Slack on when the bot token's variable is set.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    mode: Literal["socket", "http"] = "socket"
    bot_token_env: str = "SLACK_BOT_TOKEN"
    app_token_env: str = "SLACK_APP_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    api_url: str = "https://slack.com/api/"
    # HTTP mode only. Behind a load balancer, set http_host to "0.0.0.0".
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=3000, ge=0, le=65535)
    http_path: str = "/slack/events"
    rate_limit_retries: int = Field(default=3, ge=0)
    # Seconds to wait after a participant's message before answering, so
    # that a thought typed as several quick messages is one answer.
    reply_delay_seconds: float = Field(default=1.5, ge=0, le=30)


class DiscordSettings(BaseModel):
    """The Discord bot: its token's variable, API addresses, research roles.

    `enabled = None` turns Discord on when the token's variable is set.
    `api_base` and `gateway_url` default to Discord's own; they exist for a
    proxy or a stand-in server and apply to the whole process.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    bot_token_env: str = "DISCORD_BOT_TOKEN"
    api_base: str | None = None
    gateway_url: str | None = None
    # Servers where /perspective research commands work. Empty is fine while
    # the bot is in one server; in several, list them, because Manage Server
    # in one server must not open the studies of another.
    guild_ids: list[int] = Field(default_factory=list)
    # Members with Manage Server, or with one of these role ids, are researchers.
    researcher_role_ids: list[int] = Field(default_factory=list)
    manage_server_is_researcher: bool = True
    reply_delay_seconds: float = Field(default=1.5, ge=0, le=30)


class AccessSettings(BaseModel):
    """The people who may run research commands; everyone else is a participant.

    The owner of a study may always manage it. On Slack, researchers are
    the listed user ids, members of the user group, and (when
    `workspace_admins` is true) workspace admins and owners.
    """

    model_config = ConfigDict(extra="forbid")

    workspace_admins: bool = True
    researcher_ids: list[str] = Field(default_factory=list)
    researcher_usergroup: str | None = None


WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


class SchedulerSettings(BaseModel):
    """When invitations, reminders and nudges are sent, and how failures retry.

    Working hours apply in each participant's own time zone; a participant
    whose time zone is unknown gets `default_time_zone`.
    """

    model_config = ConfigDict(extra="forbid")

    dispatch_interval_seconds: float = Field(default=10.0, gt=0)
    batch_size: int = Field(default=50, ge=1, le=1000)
    grace_period_hours: float = Field(default=24.0, ge=0)
    working_hours_start: time = time(9, 0)
    working_hours_end: time = time(17, 0)
    working_days: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    default_time_zone: str = "UTC"
    reminder_offsets_days: list[float] = Field(default_factory=lambda: [2.0, 5.0])
    max_reminders: int = Field(default=2, ge=0)
    nudge_after_hours: float = Field(default=24.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_seconds: float = Field(default=60.0, gt=0)
    max_backoff_seconds: float = Field(default=3600.0, gt=0)
    claim_timeout_minutes: float = Field(default=10.0, gt=0)

    @field_validator("working_days")
    @classmethod
    def _known_days(cls, days: list[str]) -> list[str]:
        upper = [day.strip().upper()[:3] for day in days]
        unknown = [day for day in upper if day not in WEEKDAYS]
        if unknown or not upper:
            raise ValueError(
                f"expected day names from {', '.join(WEEKDAYS)}, got {days}"
            )
        return upper

    @field_validator("default_time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
            ) from error
        return name

    @field_validator("reminder_offsets_days")
    @classmethod
    def _increasing_offsets(cls, offsets: list[float]) -> list[float]:
        if any(offset <= 0 for offset in offsets) or offsets != sorted(offsets):
            raise ValueError(
                f"expected positive offsets in increasing order, got {offsets}"
            )
        return offsets

    @model_validator(mode="after")
    def _window_not_empty(self) -> SchedulerSettings:
        if self.working_hours_start >= self.working_hours_end:
            raise ValueError(
                "working_hours_start must be earlier than working_hours_end, got "
                f"{self.working_hours_start} and {self.working_hours_end}"
            )
        return self


class Settings(BaseSettings):
    """All settings of the bot."""

    model_config = SettingsConfigDict(
        env_prefix="PERSPECTIVE_",
        env_nested_delimiter="__",
        extra="forbid",
    )
    _toml_path: ClassVar[Path | None] = None

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    interview: InterviewSettings = Field(default_factory=InterviewSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    log_level: str = "WARNING"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_path is not None:
            sources.append(
                TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_path)
            )
        return tuple(sources)


def _check_toml(path: Path) -> None:
    """Parse the file once to turn a syntax error into a readable message."""
    try:
        data = path.read_bytes()
        tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {error.start}). Save it as UTF-8."
        ) from error
    except tomllib.TOMLDecodeError as error:
        hint = ""
        if data.startswith(b"\xef\xbb\xbf"):
            hint = (
                " The file starts with a byte-order mark: save it as UTF-8 without BOM."
            )
        raise ConfigError(f"{path} is not valid TOML: {error}.{hint}") from error
    except OSError as error:
        raise ConfigError(f"Cannot read {path}: {error.strerror or error}") from error


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from the TOML file and the environment.

    Raises:
        ConfigError: The named file is missing, or a value is invalid.
    """
    explicit = config_path or (
        Path(os.environ["PERSPECTIVE_CONFIG"])
        if os.environ.get("PERSPECTIVE_CONFIG")
        else None
    )
    path = explicit or Path(DEFAULT_CONFIG_FILE)
    if explicit is not None and not explicit.is_file():
        raise ConfigError(
            f"Config file not found: {explicit}. Copy config.example.toml "
            "to that path, or leave it out to use the defaults."
        )
    Settings._toml_path = path if path.is_file() else None
    if Settings._toml_path is not None:
        _check_toml(path)
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(
            f"Invalid settings in {path} or the environment: {problems}"
        ) from error
    finally:
        Settings._toml_path = None
