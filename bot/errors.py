"""Errors the bot shows to people, and when each is raised.

    PerspectiveError            base: `str(error)` is a message for a person
    ├── ConfigError             settings missing or invalid at start-up
    ├── NotFoundError           a study, question or participant does not exist
    ├── InvalidInputError       a command argument or file row is not usable
    └── PermissionDeniedError   the user lacks the permission for an action

Each message says what was expected, what arrived, and what to do next, in
words a support manager can act on; technical detail goes to the log.
"""


class PerspectiveError(Exception):
    """Base class; the message is safe to show to the person who acted."""


class ConfigError(PerspectiveError):
    """Raised when a setting is missing or invalid, before anything starts."""


class NotFoundError(PerspectiveError):
    """Raised when a study, question or participant named by a user does not
    exist."""


class InvalidInputError(PerspectiveError):
    """Raised when a command argument, file or row cannot be used as given."""


class PermissionDeniedError(PerspectiveError):
    """Raised when a user asks for an action their role does not allow."""
