"""Tables, the async engine and the queries that every other package uses."""

from storage.database import Database, DatabaseError, MigrationRequiredError
from storage.models import (
    Code,
    Interview,
    InterviewStatus,
    Invitation,
    InvitationStatus,
    Message,
    MessageRole,
    Participant,
    ProcessedEvent,
    Study,
    StudyStatus,
    Summary,
)

__all__ = [
    "Code",
    "Database",
    "DatabaseError",
    "Interview",
    "InterviewStatus",
    "Invitation",
    "InvitationStatus",
    "Message",
    "MessageRole",
    "MigrationRequiredError",
    "Participant",
    "ProcessedEvent",
    "Study",
    "StudyStatus",
    "Summary",
]
