"""Message templates with placeholders, checked before anything is stored.

A template is plain text with the placeholders {name}, {study_title},
{researcher_name} and {minutes}; ``{{`` and ``}}`` write literal braces.
Templates are rendered when a row is created, so the preview shows exactly
the text that is later sent.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from bot.errors import InvalidInputError
from bot.services.studies import experience_of, settings_of
from storage import Participant, Study

PLACEHOLDERS = ("name", "study_title", "researcher_name", "minutes")
MAX_TEMPLATE_CHARS = 2000
# Used for {name} when the participant's name is not known.
UNKNOWN_NAME = "there"

DEFAULT_INVITATION = (
    "Hi {name}, {researcher_name} is running a short study, “{study_title}”, "
    "and would value your view. An AI interviewer asks the questions and it "
    "takes about {minutes} minutes. Press Start when you have a moment. "
    "Reply “stop” and we won't message you about it again."
)
DEFAULT_REMINDER = (
    "Hi {name}, a quick reminder: {researcher_name} would still like to hear "
    "from you for “{study_title}”. It takes about {minutes} minutes. Press "
    "Start when it suits you, or reply “stop” and we won't remind you again."
)
DEFAULT_NUDGE = (
    "Hi {name}, your interview for “{study_title}” is paused where you left "
    "it. Send any message when you'd like to continue."
)


def check_template(template: str) -> str:
    """Return the template stripped of outer space, or raise InvalidInputError.

    Rejected: an empty template, one longer than MAX_TEMPLATE_CHARS,
    unbalanced braces, unknown placeholders, and format specs or attribute
    access inside a placeholder.
    """
    text = template.strip()
    if not text:
        raise InvalidInputError("The template is empty: write the message text.")
    if len(text) > MAX_TEMPLATE_CHARS:
        raise InvalidInputError(
            f"The template is {len(text)} characters long; keep it under "
            f"{MAX_TEMPLATE_CHARS}."
        )
    allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as error:
        raise InvalidInputError(
            f"The template has an unmatched brace ({error}). Write {{{{ and }}}} "
            f"for a literal brace; placeholders are {allowed}."
        ) from error
    for _literal, field, spec, conversion in fields:
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            raise InvalidInputError(
                f"Unknown placeholder “{{{field}}}” in the template; use {allowed}."
            )
    return text


@dataclass(frozen=True)
class TemplateValues:
    """The values placeholders are replaced with for one participant."""

    name: str
    study_title: str
    researcher_name: str
    minutes: int

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "study_title": self.study_title,
            "researcher_name": self.researcher_name,
            "minutes": str(self.minutes),
        }


def values_for(study: Study, participant: Participant) -> TemplateValues:
    """Collect the placeholder values from the study and the participant."""
    experience = experience_of(study)
    first_name = participant.display_name.strip().split(" ")[0]
    return TemplateValues(
        name=first_name or UNKNOWN_NAME,
        study_title=experience.conversation_title or study.title,
        researcher_name=experience.researcher_name,
        minutes=round(settings_of(study).max_minutes),
    )


def render(template: str, values: dict[str, str]) -> str:
    """Fill a template checked by `check_template` with the given values."""
    return template.format_map({name: values.get(name, "") for name in PLACEHOLDERS})
