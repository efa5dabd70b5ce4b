"""Modals for researchers, and reading their submissions back.

Slack limits a modal's title, submit and close labels to 24 characters,
a plain-text input to 3,000 characters, and a modal to 100 blocks.
"""

from __future__ import annotations

import json
from typing import Any

from adapters.slack.blocks import Block, shorten
from interview_engine.models import (
    AccessLevel,
    ParticipantExperience,
    Question,
    ResearchPlan,
    ResearchType,
)

NEW_STUDY = "perspective_new"
SETTINGS = "perspective_settings"
PLAN = "perspective_plan"
QUESTIONS = "perspective_questions"
MAX_INPUT = 3000


def _text_input(
    block_id: str,
    label: str,
    *,
    initial: str = "",
    multiline: bool = False,
    optional: bool = False,
    max_length: int = MAX_INPUT,
    hint: str | None = None,
) -> Block:
    element: Block = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = initial[:max_length]
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _option(text: str, value: str) -> Block:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def _select(
    block_id: str, label: str, options: list[tuple[str, str]], initial: str
) -> Block:
    choices = [_option(text, value) for text, value in options]
    chosen = next((c for c in choices if c["value"] == initial), choices[0])
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": {
            "type": "static_select",
            "action_id": "value",
            "options": choices,
            "initial_option": chosen,
        },
    }


def _modal(
    callback_id: str, title: str, blocks: list[Block], metadata: dict[str, Any]
) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": shorten(title, 24)},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def new_study_modal(channel_id: str, is_direct_message: bool) -> Block:
    blocks = [
        _text_input(
            "question",
            "Research question",
            multiline=True,
            max_length=1000,
            hint=(
                "For example: How can we shorten the time complex cases spend "
                "in escalation?"
            ),
        ),
        _text_input("title", "Short title", optional=True, max_length=200),
    ]
    return _modal(
        NEW_STUDY,
        "New study",
        blocks,
        {"channel": channel_id, "direct": is_direct_message},
    )


def plan_modal(study_id: int, title: str, plan: ResearchPlan, channel_id: str) -> Block:
    types = [(t.value.capitalize(), t.value) for t in ResearchType]
    blocks = [
        _text_input("title", "Title", initial=title, max_length=200),
        _select("research_type", "Research type", types, plan.research_type.value),
        _text_input(
            "description", "Description", initial=plan.description, multiline=True
        ),
        _text_input(
            "target",
            "Target participants",
            initial=plan.target_participants,
            multiline=True,
        ),
        _text_input(
            "goals",
            "Goals (one per line)",
            initial="\n".join(plan.goals),
            multiline=True,
        ),
    ]
    return _modal(PLAN, "Edit plan", blocks, {"study": study_id, "channel": channel_id})


def questions_fit(questions: list[Question]) -> bool:
    """Tell whether each group of questions fits one modal input."""
    mandatory = "\n".join(q.text for q in questions if q.mandatory)
    optional = "\n".join(q.text for q in questions if not q.mandatory)
    return len(mandatory) <= MAX_INPUT and len(optional) <= MAX_INPUT


def questions_modal(study_id: int, questions: list[Question], channel_id: str) -> Block:
    mandatory = "\n".join(q.text for q in questions if q.mandatory)
    optional = "\n".join(q.text for q in questions if not q.mandatory)
    blocks = [
        _text_input(
            "mandatory",
            "Mandatory questions, one per line",
            initial=mandatory,
            multiline=True,
            optional=True,
            hint="Always asked, in this order. About three are recommended.",
        ),
        _text_input(
            "optional",
            "Other questions, one per line",
            initial=optional,
            multiline=True,
            optional=True,
            hint="Asked after the mandatory ones while the time budget lasts.",
        ),
    ]
    return _modal(
        QUESTIONS, "Edit questions", blocks, {"study": study_id, "channel": channel_id}
    )


def settings_modal(
    study_id: int, experience: ParticipantExperience, channel_id: str
) -> Block:
    access = [
        ("Researchers only (sent privately)", AccessLevel.RESEARCHERS.value),
        ("The study's team channel", AccessLevel.TEAM.value),
        ("Any channel in the workspace", AccessLevel.WORKSPACE.value),
    ]
    joining = [
        ("Only invited participants", "invited"),
        ("Anyone with the join link", "open"),
    ]
    thank_you = [("Send a thank-you message", "yes"), ("No thank-you message", "no")]
    e = experience
    blocks = [
        _text_input(
            "conversation_title", "Conversation title", initial=e.conversation_title
        ),
        _text_input(
            "welcome_message",
            "Welcome message",
            initial=e.welcome_message,
            multiline=True,
            optional=True,
        ),
        _text_input("researcher_name", "Researcher name", initial=e.researcher_name),
        _text_input(
            "researcher_title",
            "Researcher title",
            initial=e.researcher_title,
            optional=True,
        ),
        _text_input(
            "researcher_bio",
            "Short bio",
            initial=e.researcher_bio,
            multiline=True,
            optional=True,
        ),
        _text_input(
            "call_to_action",
            "Closing call to action",
            initial=e.call_to_action,
            multiline=True,
            optional=True,
        ),
        _text_input("contact", "Contact", initial=e.contact, optional=True),
        _select(
            "send_thank_you",
            "Thank-you",
            thank_you,
            "yes" if e.send_thank_you else "no",
        ),
        _text_input(
            "thank_you_message",
            "Thank-you message",
            initial=e.thank_you_message,
            multiline=True,
            optional=True,
        ),
        _select(
            "joining",
            "Who may take part",
            joining,
            "invited" if e.require_known_participants else "open",
        ),
        _select("access_level", "Who may see results", access, e.access_level.value),
    ]
    return _modal(
        SETTINGS,
        "Participant experience",
        blocks,
        {"study": study_id, "channel": channel_id},
    )


def submitted_values(view: dict[str, Any]) -> dict[str, str]:
    """Read a submitted modal's inputs as block id -> text (or chosen value)."""
    values: dict[str, str] = {}
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        action = actions.get("value", {})
        if action.get("type") == "static_select":
            selected = action.get("selected_option") or {}
            values[block_id] = str(selected.get("value", ""))
        else:
            values[block_id] = str(action.get("value") or "")
    return values


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        loaded = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]
