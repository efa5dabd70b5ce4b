"""Two real bot processes on one SQLite file never send the same invitation."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

from sqlmodel import func, select

from bot.context import AppContext
from storage import Invitation, InvitationKind, InvitationStatus, Participant
from tests.scheduling_support import make_study
from tests.support import Clock

ROOT = Path(__file__).resolve().parents[1]
INVITATIONS = 200
PROCESS_TIMEOUT_SECONDS = 120


async def test_two_processes_send_each_once(
    context: AppContext, database_url: str, tmp_path: Path, clock: Clock
) -> None:
    study = await make_study(context)
    assert study.id is not None
    async with context.database.session() as session:
        for number in range(INVITATIONS):
            person = Participant(
                study_id=study.id, platform="slack", platform_user_id=f"U{number}"
            )
            session.add(person)
            await session.flush()
            assert person.id is not None
            session.add(
                Invitation(
                    study_id=study.id,
                    participant_id=person.id,
                    due_at=clock.now,
                    message="Would you take part?",
                )
            )
        await session.commit()

    sent_file = tmp_path / "sent.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.scheduling_worker",
            database_url,
            str(sent_file),
            name,
            clock.now.isoformat(),
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for name in ("first", "second")
    ]
    for worker in workers:
        assert worker.stdout is not None
        line = await asyncio.wait_for(worker.stdout.readline(), PROCESS_TIMEOUT_SECONDS)
        assert line.strip() == b"ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
    results = await asyncio.wait_for(
        asyncio.gather(*(worker.communicate() for worker in workers)),
        PROCESS_TIMEOUT_SECONDS,
    )
    for worker, (_out, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err.decode()

    lines = sent_file.read_text().split()
    senders = Counter(lines[0::2])
    recipients = Counter(lines[1::2])
    assert len(recipients) == INVITATIONS
    assert set(recipients.values()) == {1}
    assert senders["first"] > 0
    assert senders["second"] > 0
    async with context.database.session() as session:
        statuses = Counter(
            (
                await session.exec(
                    select(Invitation.status).where(
                        Invitation.kind == InvitationKind.INVITATION
                    )
                )
            ).all()
        )
        reminders = (
            await session.exec(
                select(func.count()).where(Invitation.kind == InvitationKind.REMINDER)
            )
        ).one()
    assert statuses == {InvitationStatus.SENT: INVITATIONS}
    assert reminders == 2 * INVITATIONS
