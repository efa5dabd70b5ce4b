"""Slack acknowledgement latency during whole interviews, both modes.

Runs complete interviews against the fake Slack on 127.0.0.1, once over
Socket Mode and once over HTTP mode, with the offline provider, then a
`/perspective summary`, and reports the time between the fake sending each
delivery (event, command, button click) and receiving the bot's
acknowledgement. Slack's limit is 3 seconds.

Run: .venv/bin/python -m bench.ack_latency
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path

from bot.config import load_settings
from bot.context import open_context
from interview_engine.providers.offline import OfflineProvider
from tests.fakes.slack import FakeSlack
from tests.slack_support import RESEARCHER, TEAM_CHANNEL, populate, running_bot
from tests.support import long_answers

INTERVIEWS_PER_MODE = 3


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index]


async def measure(mode: str, folder: Path) -> list[float]:
    settings = load_settings(
        database={"url": f"sqlite+aiosqlite:///{folder / mode}.db"}
    )
    context = await open_context(settings, provider=OfflineProvider())
    async with FakeSlack() as slack:
        users = populate(slack, participants=INTERVIEWS_PER_MODE)
        async with running_bot(context, slack, mode) as harness:  # type: ignore[arg-type]
            study = await context.studies.create(
                "How can we improve our escalation process for complex cases?",
                owner_platform="slack",
                owner_id=RESEARCHER,
            )
            await context.studies.set_experience(
                study.id or 0, require_known_participants=False
            )
            for user in users:
                await harness.start_interview(user, study.join_code)
                for answer in long_answers(16) + ["yes", "yes"]:
                    await harness.dm(user, answer)
                    await harness.settle()
            await harness.command(RESEARCHER, TEAM_CHANNEL, f"summary {study.id}")
            await harness.settle()
        latencies = [ack.latency for ack in slack.acks]
    await context.close()
    return latencies


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("socket", "http"):
            latencies = await measure(mode, Path(folder))
            print(
                f"{mode:>6}: {len(latencies)} acknowledgements, "
                f"p50 {statistics.median(latencies) * 1000:.1f} ms, "
                f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
                f"max {max(latencies) * 1000:.1f} ms"
            )


if __name__ == "__main__":
    asyncio.run(main())
