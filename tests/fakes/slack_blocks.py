"""Block Kit and message-payload validation for the fake Slack.

The checks return :class:`Problem` records instead of raising, so the Web API
layer can both respond the way Slack does (``invalid_blocks`` with
``json-pointer`` messages, ``too_many_attachments``, ``message_truncated``) and
record every breach for the test to assert on. Limits come from
:mod:`tests.fakes.slack_limits`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tests.fakes.slack_limits import limit

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One breach of a Slack limit or rule found in a payload."""

    rule: str
    pointer: str
    message: str
    severity: Severity = "error"
    limit: int | None = None
    actual: int | None = None

    def slack_error_line(self) -> str:
        """Format the problem as Slack's ``errors`` entries do."""
        return f"{self.message} [json-pointer:{self.pointer}]"


_TEXT_TYPES = {"plain_text", "mrkdwn"}
# Block types documented at docs.slack.dev/reference/block-kit/blocks. Newer
# types the fake does not inspect pass with a warning, not an error.
_CHECKED_BLOCKS = {"actions", "context", "divider", "header", "image", "input"}
_CHECKED_BLOCKS |= {"markdown", "section"}
_PASSED_BLOCKS = {"file", "rich_text", "video", "table", "context_actions"}


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(
        self,
        rule: str,
        pointer: str,
        message: str,
        *,
        severity: Severity = "error",
        max_value: int | None = None,
        actual: int | None = None,
    ) -> None:
        self.problems.append(
            Problem(rule, pointer, message, severity, max_value, actual)
        )

    def max_length(self, rule: str, value: Any, pointer: str) -> None:
        if not isinstance(value, str):
            return
        maximum = limit(rule)
        if len(value) > maximum:
            message = f"must be less than {maximum + 1} characters"
            self.add(rule, pointer, message, max_value=maximum, actual=len(value))

    def max_items(self, rule: str, items: list[Any], pointer: str) -> None:
        maximum = limit(rule)
        if len(items) > maximum:
            message = f"no more than {maximum} items allowed"
            self.add(rule, pointer, message, max_value=maximum, actual=len(items))

    def text_object(
        self,
        value: Any,
        pointer: str,
        rule: str | None,
        *,
        plain_only: bool = False,
    ) -> None:
        """Check a composition text object and, with ``rule``, its length."""
        if not isinstance(value, Mapping):
            self.add("text.object", pointer, "must be a text object")
            return
        kind = value.get("type")
        allowed = {"plain_text"} if plain_only else _TEXT_TYPES
        if kind not in allowed:
            expected = " or ".join(sorted(allowed))
            self.add("text.type", pointer + "/type", f"must be {expected}")
        text = value.get("text")
        if not isinstance(text, str) or not text:
            # Slack rejects empty text objects: "must be more than 0 characters".
            self.add("text.empty", pointer + "/text", "must be more than 0 characters")
            return
        if rule is not None:
            self.max_length(rule, text, pointer + "/text")

    def element(self, element: Any, pointer: str) -> None:
        if not isinstance(element, Mapping):
            self.add("element.object", pointer, "must be an object")
            return
        self.max_length("action_id", element.get("action_id"), pointer + "/action_id")
        kind = element.get("type")
        if kind == "button":
            self.text_object(
                element.get("text"), pointer + "/text", "button.text", plain_only=True
            )
            self.max_length("button.value", element.get("value"), pointer + "/value")
            self.max_length("button.url", element.get("url"), pointer + "/url")
        elif isinstance(kind, str) and kind.endswith("_select"):
            self.select(element, pointer)
        elif kind == "overflow":
            options = element.get("options")
            if isinstance(options, list):
                self.max_items("overflow.options", options, pointer + "/options")
                self.options(options, pointer + "/options")

    def select(self, element: Mapping[str, Any], pointer: str) -> None:
        placeholder = element.get("placeholder")
        if placeholder is not None:
            self.text_object(
                placeholder, pointer + "/placeholder", "select.placeholder"
            )
        options = element.get("options")
        if isinstance(options, list):
            self.max_items("select.options", options, pointer + "/options")
            self.options(options, pointer + "/options")

    def options(self, options: list[Any], pointer: str) -> None:
        for index, option in enumerate(options):
            where = f"{pointer}/{index}"
            if not isinstance(option, Mapping):
                self.add("option.object", where, "must be an object")
                continue
            self.text_object(option.get("text"), where + "/text", "option.text")
            self.max_length("option.value", option.get("value"), where + "/value")

    def elements(self, block: Mapping[str, Any], rule: str, pointer: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.add(rule, pointer + "/elements", "must provide at least 1 item")
            return
        self.max_items(rule, elements, pointer + "/elements")
        for index, element in enumerate(elements):
            where = f"{pointer}/elements/{index}"
            if rule == "context.elements":
                self.context_element(element, where)
            else:
                self.element(element, where)

    def context_element(self, element: Any, pointer: str) -> None:
        if isinstance(element, Mapping) and element.get("type") == "image":
            self.max_length("image.alt_text", element.get("alt_text"), pointer)
            return
        self.text_object(element, pointer, None)

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, Mapping):
            self.add("block.object", pointer, "must be an object")
            return
        kind = block.get("type")
        self.max_length("block_id", block.get("block_id"), pointer + "/block_id")
        if kind == "section":
            self.section(block, pointer)
        elif kind == "header":
            self.text_object(
                block.get("text"), pointer + "/text", "header.text", plain_only=True
            )
        elif kind == "context":
            self.elements(block, "context.elements", pointer)
        elif kind == "actions":
            self.elements(block, "actions.elements", pointer)
            self.duplicate_action_ids(block, pointer)
        elif kind == "markdown":
            self.max_length("markdown.text", block.get("text"), pointer + "/text")
        elif kind == "image":
            self.max_length("image.url", block.get("image_url"), pointer + "/image_url")
            alt_text = block.get("alt_text")
            if not isinstance(alt_text, str):
                self.add("image.alt_text", pointer + "/alt_text", "is required")
            self.max_length("image.alt_text", alt_text, pointer + "/alt_text")
        elif kind == "input":
            self.input(block, pointer)
        elif kind in _PASSED_BLOCKS or kind == "divider":
            return
        else:
            self.add(
                "block.type",
                pointer + "/type",
                f"block type {kind!r} is not checked by the fake",
                severity="warning",
            )

    def section(self, block: Mapping[str, Any], pointer: str) -> None:
        text = block.get("text")
        fields = block.get("fields")
        if text is None and fields is None:
            self.add(
                "section.content", pointer, "must define either `text` or `fields`"
            )
        if text is not None:
            self.text_object(text, pointer + "/text", "section.text")
        if fields is not None:
            if not isinstance(fields, list):
                self.add("section.fields", pointer + "/fields", "must be an array")
                return
            self.max_items("section.fields", fields, pointer + "/fields")
            for index, field in enumerate(fields):
                where = f"{pointer}/fields/{index}"
                self.text_object(field, where, "section.field.text")
        accessory = block.get("accessory")
        if accessory is not None:
            self.element(accessory, pointer + "/accessory")

    def input(self, block: Mapping[str, Any], pointer: str) -> None:
        self.text_object(
            block.get("label"), pointer + "/label", "input.label", plain_only=True
        )
        hint = block.get("hint")
        if hint is not None:
            self.text_object(hint, pointer + "/hint", "input.hint", plain_only=True)
        element = block.get("element")
        if element is None:
            self.add("input.element", pointer + "/element", "is required")
        else:
            self.element(element, pointer + "/element")

    def duplicate_action_ids(self, block: Mapping[str, Any], pointer: str) -> None:
        # action_id "should be unique among all other action_ids in the
        # containing block" (block elements reference).
        seen: set[str] = set()
        for index, element in enumerate(block.get("elements") or []):
            if not isinstance(element, Mapping):
                continue
            action_id = element.get("action_id")
            if not isinstance(action_id, str):
                continue
            if action_id in seen:
                where = f"{pointer}/elements/{index}/action_id"
                self.add("action_id.duplicate", where, "action_id is duplicated")
            seen.add(action_id)

    def blocks(self, blocks: Any, pointer: str, max_rule: str) -> None:
        if not isinstance(blocks, list):
            self.add("blocks.array", pointer, "must be an array")
            return
        self.max_items(max_rule, blocks, pointer)
        block_ids: set[str] = set()
        for index, block in enumerate(blocks):
            where = f"{pointer}/{index}"
            self.block(block, where)
            block_id = block.get("block_id") if isinstance(block, Mapping) else None
            if isinstance(block_id, str):
                if block_id in block_ids:
                    message = "block_id is duplicated"
                    self.add("block_id.duplicate", where + "/block_id", message)
                block_ids.add(block_id)


def check_blocks(blocks: Any, *, max_rule: str = "message.blocks") -> list[Problem]:
    """Validate a ``blocks`` array against the Block Kit limits."""
    checker = _Checker()
    checker.blocks(blocks, "/blocks", max_rule)
    return checker.problems


def check_message(payload: Mapping[str, Any]) -> list[Problem]:
    """Validate a message payload: text fallback, blocks and attachments.

    Applies to chat.postMessage, chat.postEphemeral, chat.update, response_url
    posts and command acknowledgements. A text past 40,000 characters yields a
    warning with rule ``message.text`` because Slack truncates it; callers that
    reject instead (chat.update) check for that rule.
    """
    checker = _Checker()
    text = payload.get("text")
    blocks = payload.get("blocks")
    attachments = payload.get("attachments")
    has_text = isinstance(text, str) and bool(text.strip())
    if isinstance(text, str):
        length = len(text)
        if length > limit("message.text"):
            checker.add(
                "message.text",
                "/text",
                "message_truncated",
                severity="warning",
                max_value=limit("message.text"),
                actual=length,
            )
        elif length > limit("message.text.recommended"):
            checker.add(
                "message.text.recommended",
                "/text",
                "text is longer than the recommended maximum",
                severity="warning",
                max_value=limit("message.text.recommended"),
                actual=length,
            )
    if blocks is not None:
        checker.blocks(blocks, "/blocks", "message.blocks")
        if not has_text:
            # chat.postMessage: "we highly recommend that you include `text` to
            # provide a fallback when using `blocks`".
            message = "blocks without a top-level text fallback"
            checker.add("message.text.fallback", "/text", message, severity="warning")
    if attachments is not None:
        if not isinstance(attachments, list):
            checker.add("message.attachments", "/attachments", "must be an array")
        else:
            checker.max_items("message.attachments", attachments, "/attachments")
            missing = [
                index
                for index, item in enumerate(attachments)
                if not (isinstance(item, Mapping) and item.get("fallback"))
            ]
            if missing and not has_text:
                message = "attachments without a fallback or top-level text"
                checker.add(
                    "message.text.fallback", "/attachments", message, severity="warning"
                )
    if not has_text and blocks is None and attachments is None:
        checker.add("message.no_text", "/text", "no_text")
    return checker.problems


def check_view(view: Any, *, expected_type: str | None = None) -> list[Problem]:
    """Validate a modal or Home tab view object (pointers start at ``/view``)."""
    checker = _Checker()
    if not isinstance(view, Mapping):
        checker.add("view.object", "/view", "must be an object")
        return checker.problems
    kind = view.get("type")
    if kind not in ("modal", "home") or (expected_type and kind != expected_type):
        expected = expected_type or "modal or home"
        checker.add("view.type", "/view/type", f"must be {expected}")
    if kind == "modal":
        checker.text_object(
            view.get("title"), "/view/title", "modal.title", plain_only=True
        )
        for key in ("submit", "close"):
            if view.get(key) is not None:
                checker.text_object(
                    view[key], f"/view/{key}", f"modal.{key}", plain_only=True
                )
        has_input = any(
            isinstance(block, Mapping) and block.get("type") == "input"
            for block in view.get("blocks") or []
        )
        if has_input and view.get("submit") is None:
            # Modals with input blocks need a submit button (modal view reference).
            checker.add("modal.submit", "/view/submit", "is required with input blocks")
    checker.max_length(
        "view.private_metadata", view.get("private_metadata"), "/view/private_metadata"
    )
    checker.max_length("view.callback_id", view.get("callback_id"), "/view/callback_id")
    checker.max_length("view.external_id", view.get("external_id"), "/view/external_id")
    checker.blocks(view.get("blocks"), "/view/blocks", "view.blocks")
    return checker.problems


def errors_of(problems: list[Problem]) -> list[Problem]:
    """Return only the problems that make Slack reject the request."""
    return [problem for problem in problems if problem.severity == "error"]
