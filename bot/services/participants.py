"""Participants: who takes part in a study, in which segment, with which case."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bot.errors import InvalidInputError
from storage import Database, Participant, Study, queries

log = logging.getLogger(__name__)

MAX_LABEL_CHARS = 100


def apply_fields(
    participant: Participant,
    *,
    display_name: str = "",
    attributes: dict[str, Any] | None = None,
    **values: Any,
) -> None:
    """Update a participant with the values given; None, and an empty name,
    keep what is stored."""
    if display_name:
        participant.display_name = display_name
    for name, value in values.items():
        if value is not None:
            setattr(participant, name, value)
    if attributes:
        participant.attributes = {**participant.attributes, **attributes}


class ParticipantService:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def pending(
        self, platform: str, workspace_id: str, user_id: str
    ) -> list[tuple[Participant, Study]]:
        """The user's invitations to active studies that they have not started."""
        async with self.database.session() as session:
            return list(
                await queries.pending_participations(
                    session, platform, workspace_id, user_id
                )
            )

    async def find(
        self, study: Study, platform: str, workspace_id: str, user_id: str
    ) -> Participant | None:
        assert study.id is not None
        async with self.database.session() as session:
            return await queries.find_participant(
                session, study.id, platform, workspace_id, user_id
            )

    async def open_studies(self, platform: str) -> list[Study]:
        """Active studies that anyone may join without an invitation, among
        those run from this platform (a Discord customer is not offered a
        study of Slack staff, and the other way round)."""
        async with self.database.session() as session:
            studies = await queries.open_studies(session)
        return [
            s
            for s in studies
            if not s.experience.get("require_known_participants", True)
            and s.owner_platform == platform
        ]

    async def past(
        self, platform: str, workspace_id: str, user_id: str
    ) -> tuple[bool, bool]:
        """Whether the user ever opted out, and ever completed an interview."""
        async with self.database.session() as session:
            return await queries.past_participation(
                session, platform, workspace_id, user_id
            )

    async def ensure(
        self,
        study: Study,
        *,
        platform: str,
        workspace_id: str,
        user_id: str,
        display_name: str = "",
        segment: str | None = None,
        case_type: str | None = None,
        resolution_outcome: str | None = None,
        resolved_at: datetime | None = None,
        time_zone: str | None = None,
        consent: bool | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Participant:
        """Return the study's participant for this platform user, creating it.

        Values given here update an existing participant; values left as
        None keep what is stored.

        Raises:
            InvalidInputError: A name or segment longer than 100 characters.
        """
        assert study.id is not None
        for label, value in (("name", display_name), ("segment", segment or "")):
            if len(value) > MAX_LABEL_CHARS or "\n" in value:
                raise InvalidInputError(
                    f"The {label} must be one line of at most {MAX_LABEL_CHARS} "
                    f"characters; got {len(value)}."
                )
        async with self.database.session() as session:
            participant = await queries.find_participant(
                session, study.id, platform, workspace_id, user_id
            )
            if participant is None:
                participant = Participant(
                    study_id=study.id,
                    platform=platform,
                    workspace_id=workspace_id,
                    platform_user_id=user_id,
                )
                log.info(
                    "participant added: study=%s platform=%s user=%s",
                    study.id,
                    platform,
                    user_id,
                )
            apply_fields(
                participant,
                display_name=display_name,
                segment=segment,
                case_type=case_type,
                resolution_outcome=resolution_outcome,
                resolved_at=resolved_at,
                time_zone=time_zone,
                consent=consent,
                attributes=attributes,
            )
            session.add(participant)
            await session.commit()
            await session.refresh(participant)
            return participant
