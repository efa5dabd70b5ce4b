"""A dispatcher process for the two-process test, run as `python -m`.

Usage: python -m tests.scheduling_worker DATABASE_URL SENT_FILE NAME NOW

It prints "ready", waits for a line on standard input (so that both
processes start dispatching together), then runs one-batch dispatcher
passes at NOW until nothing is left to claim. Each send appends
"NAME USER_ID" to SENT_FILE with O_APPEND, which writes a line this short
whole even when both processes append at once.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path

from adapters.base import Reply, UserInfo
from bot.config import SchedulerSettings
from bot.scheduling.dispatch import dispatch_due
from storage import Database

BATCH_SIZE = 5


class FileRecordingAdapter:
    """Appends each direct message's recipient to a file shared by processes."""

    platform = "slack"

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name

    async def send_direct_message(self, user_id: str, reply: Reply) -> list[str]:
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(descriptor, f"{self.name} {user_id}\n".encode())
        finally:
            os.close(descriptor)
        await asyncio.sleep(0)
        return [user_id]

    async def post_to_channel(self, channel_id: str, reply: Reply) -> list[str]:
        return await self.send_direct_message(channel_id, reply)

    async def lookup_user(self, user_id: str) -> UserInfo:
        return UserInfo(user_id=user_id, display_name=user_id)


async def main(url: str, sent: Path, name: str, now: datetime) -> None:
    database = Database(url)
    adapter = FileRecordingAdapter(sent, name)
    settings = SchedulerSettings(batch_size=BATCH_SIZE)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    try:
        while True:
            report = await dispatch_due(
                database,
                {"slack": adapter},
                settings,
                now=now,
                worker=name,
                max_batches=1,
            )
            if report.claimed == 0:
                break
    finally:
        await database.close()


if __name__ == "__main__":
    url, sent, name, now = sys.argv[1:5]
    asyncio.run(main(url, Path(sent), name, datetime.fromisoformat(now)))
