"""Discord's documented size limits for messages, embeds, components and modals.

Every number the fake enforces is defined in this module, next to the page of
Discord's developer documentation (github.com/discord/discord-api-docs,
read at commit c98d64b, 2026-08) that states it. The check functions return
one ``LimitBreach`` per broken rule, and ``form_errors`` turns them into the
nested ``errors`` object of Discord's 50035 "Invalid Form Body" response.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# developers/resources/message.mdx, "Create Message" JSON params:
# "content: Message contents (up to 2000 characters)" and
# "embeds: Up to 10 rich embeds (up to 6000 characters)".
MAX_CONTENT_LENGTH = 2000
MAX_EMBEDS = 10

# developers/resources/message.mdx, "Embed Limits" table. The same section
# measures the limits after trimming leading and trailing whitespace. It also
# caps the sum of title, description, field names and values, footer text and
# author name across all embeds of one message at 6000 characters.
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096
MAX_EMBED_FIELDS = 25
MAX_EMBED_FIELD_NAME = 256
MAX_EMBED_FIELD_VALUE = 1024
MAX_EMBED_FOOTER_TEXT = 2048
MAX_EMBED_AUTHOR_NAME = 256
MAX_EMBED_TOTAL = 6000

# developers/components/reference.mdx: "Legacy messages allow up to 5 action
# rows as top-level components"; an action row holds "Up to 5 interactive
# button components or a single select component"; custom_id is "1-100
# characters"; a button label has "max 80 characters"; "Messages allow up to
# 40 total components" (for messages with the IS_COMPONENTS_V2 flag).
MAX_ACTION_ROWS = 5
MAX_BUTTONS_PER_ROW = 5
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
MAX_COMPONENTS_V2_TOTAL = 40

# developers/interactions/receiving-and-responding.mdx, modal callback data:
# "title: Title of the popup modal, max 45 characters".
MAX_MODAL_TITLE = 45

# developers/resources/message.mdx, message flags: IS_COMPONENTS_V2 is 1 << 15.
IS_COMPONENTS_V2 = 1 << 15

ACTION_ROW = 1
BUTTON = 2
LINK_BUTTON_STYLE = 5
PREMIUM_BUTTON_STYLE = 6
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})

# NOTE: the "code" strings and message texts below copy the shape of the
# 50035 responses that Discord returns (BASE_TYPE_MAX_LENGTH and similar).
# The documentation describes the nested "errors" object but does not list
# these strings, so they may differ in wording from the live API.
MAX_LENGTH_CODE = "BASE_TYPE_MAX_LENGTH"
MAX_ITEMS_CODE = "BASE_TYPE_BAD_LENGTH"


@dataclass(frozen=True)
class LimitBreach:
    """One broken limit: the field path in the request body and what was wrong."""

    path: tuple[str, ...]
    code: str
    message: str

    @property
    def dotted_path(self) -> str:
        return ".".join(self.path)


def _text_length(value: Any, *, trim: bool) -> int:
    """Count characters as Python code points, trimmed for embed fields.

    NOTE: Discord does not say whether it counts code points or UTF-16 units,
    so text outside the Basic Multilingual Plane may be counted differently.
    """
    if not isinstance(value, str):
        return 0
    return len(value.strip()) if trim else len(value)


def _max_length(
    value: Any, limit: int, path: tuple[str, ...], *, trim: bool = False
) -> list[LimitBreach]:
    length = _text_length(value, trim=trim)
    if length <= limit:
        return []
    return [
        LimitBreach(
            path,
            MAX_LENGTH_CODE,
            f"Must be {limit} or fewer in length (got {length}).",
        )
    ]


def _max_items(value: Any, limit: int, path: tuple[str, ...]) -> list[LimitBreach]:
    if not isinstance(value, list) or len(value) <= limit:
        return []
    return [
        LimitBreach(
            path,
            MAX_ITEMS_CODE,
            f"Must be {limit} or fewer in length (got {len(value)}).",
        )
    ]


def _nested_text(embed: Mapping[str, Any], key: str, inner: str) -> Any:
    section = embed.get(key)
    return section.get(inner) if isinstance(section, Mapping) else None


def check_embeds(embeds: Any, base: tuple[str, ...] = ("embeds",)) -> list[LimitBreach]:
    """Check the embed count, each embed field, and the 6000-character total."""
    if not isinstance(embeds, list):
        return []
    breaches = _max_items(embeds, MAX_EMBEDS, base)
    total = 0
    for index, embed in enumerate(embeds):
        if not isinstance(embed, Mapping):
            continue
        path = (*base, str(index))
        title = embed.get("title")
        description = embed.get("description")
        footer_text = _nested_text(embed, "footer", "text")
        author_name = _nested_text(embed, "author", "name")
        breaches += _max_length(title, MAX_EMBED_TITLE, (*path, "title"), trim=True)
        breaches += _max_length(
            description, MAX_EMBED_DESCRIPTION, (*path, "description"), trim=True
        )
        breaches += _max_length(
            footer_text, MAX_EMBED_FOOTER_TEXT, (*path, "footer", "text"), trim=True
        )
        breaches += _max_length(
            author_name, MAX_EMBED_AUTHOR_NAME, (*path, "author", "name"), trim=True
        )
        total += sum(
            _text_length(text, trim=True)
            for text in (title, description, footer_text, author_name)
        )
        fields = embed.get("fields")
        breaches += _max_items(fields, MAX_EMBED_FIELDS, (*path, "fields"))
        for field_index, field in enumerate(fields if isinstance(fields, list) else []):
            if not isinstance(field, Mapping):
                continue
            field_path = (*path, "fields", str(field_index))
            name = field.get("name")
            value = field.get("value")
            breaches += _max_length(
                name, MAX_EMBED_FIELD_NAME, (*field_path, "name"), trim=True
            )
            breaches += _max_length(
                value, MAX_EMBED_FIELD_VALUE, (*field_path, "value"), trim=True
            )
            total += _text_length(name, trim=True) + _text_length(value, trim=True)
    if total > MAX_EMBED_TOTAL:
        breaches.append(
            LimitBreach(
                base,
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL} (got {total}).",
            )
        )
    return breaches


def _check_interactive(
    component: Mapping[str, Any], path: tuple[str, ...], seen_ids: set[str]
) -> list[LimitBreach]:
    """Check custom_id and label of one button or select menu."""
    breaches: list[LimitBreach] = []
    component_type = component.get("type")
    style = component.get("style")
    custom_id = component.get("custom_id")
    if component_type == BUTTON:
        breaches += _max_length(
            component.get("label"), MAX_BUTTON_LABEL, (*path, "label")
        )
        if style in (LINK_BUTTON_STYLE, PREMIUM_BUTTON_STYLE):
            if custom_id is not None:
                breaches.append(
                    LimitBreach(
                        (*path, "custom_id"),
                        "BUTTON_CUSTOM_ID_INVALID",
                        "Link and premium buttons cannot have a custom_id.",
                    )
                )
            return breaches
    if component_type == BUTTON or component_type in SELECT_TYPES:
        if not isinstance(custom_id, str) or not custom_id:
            breaches.append(
                LimitBreach(
                    (*path, "custom_id"),
                    "BASE_TYPE_REQUIRED",
                    "This field is required (1 to 100 characters).",
                )
            )
            return breaches
        breaches += _max_length(custom_id, MAX_CUSTOM_ID, (*path, "custom_id"))
        if custom_id in seen_ids:
            breaches.append(
                LimitBreach(
                    (*path, "custom_id"),
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    f"Component custom id {custom_id!r} is used twice in one message.",
                )
            )
        seen_ids.add(custom_id)
    return breaches


def _count_components(components: Iterable[Any]) -> int:
    count = 0
    for component in components:
        if not isinstance(component, Mapping):
            continue
        count += 1
        for key in ("components", "accessory"):
            child = component.get(key)
            if isinstance(child, list):
                count += _count_components(child)
            elif isinstance(child, Mapping):
                count += _count_components([child])
    return count


def check_components(
    components: Any, flags: Any = 0, base: tuple[str, ...] = ("components",)
) -> list[LimitBreach]:
    """Check rows, buttons per row, custom_id and label limits of a message."""
    if not isinstance(components, list):
        return []
    seen_ids: set[str] = set()
    if isinstance(flags, int) and flags & IS_COMPONENTS_V2:
        total = _count_components(components)
        if total > MAX_COMPONENTS_V2_TOTAL:
            return [
                LimitBreach(
                    base,
                    MAX_ITEMS_CODE,
                    f"Must be {MAX_COMPONENTS_V2_TOTAL} or fewer components in "
                    f"total (got {total}).",
                )
            ]
        return []
    breaches = _max_items(components, MAX_ACTION_ROWS, base)
    for row_index, row in enumerate(components):
        if not isinstance(row, Mapping):
            continue
        row_path = (*base, str(row_index), "components")
        children = row.get("components")
        if row.get("type") != ACTION_ROW or not isinstance(children, list):
            continue
        breaches += _max_items(children, MAX_BUTTONS_PER_ROW, row_path)
        selects = [
            c
            for c in children
            if isinstance(c, Mapping) and c.get("type") in SELECT_TYPES
        ]
        if selects and len(children) > 1:
            breaches.append(
                LimitBreach(
                    row_path,
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "A select menu must be the only component in its action row.",
                )
            )
        for child_index, child in enumerate(children):
            if isinstance(child, Mapping):
                breaches += _check_interactive(
                    child, (*row_path, str(child_index)), seen_ids
                )
    return breaches


def check_message(
    payload: Mapping[str, Any], base: tuple[str, ...] = ()
) -> list[LimitBreach]:
    """Check a message body: create, edit, followup or interaction response."""
    breaches = _max_length(
        payload.get("content"), MAX_CONTENT_LENGTH, (*base, "content")
    )
    breaches += check_embeds(payload.get("embeds"), (*base, "embeds"))
    breaches += check_components(
        payload.get("components"), payload.get("flags") or 0, (*base, "components")
    )
    return breaches


def check_modal(
    payload: Mapping[str, Any], base: tuple[str, ...] = ()
) -> list[LimitBreach]:
    """Check a modal's title and custom_id."""
    breaches = _max_length(payload.get("title"), MAX_MODAL_TITLE, (*base, "title"))
    breaches += _max_length(
        payload.get("custom_id"), MAX_CUSTOM_ID, (*base, "custom_id")
    )
    return breaches


def trim_embed_text(payload: Any) -> Any:
    """Return a copy of a message body with embed text trimmed as Discord does.

    The OpenAPI schema checks raw string lengths, while Discord measures embed
    limits after trimming leading and trailing whitespace, so bodies are
    trimmed before schema validation. Interaction callbacks nest the message
    under ``data``.
    """
    if not isinstance(payload, Mapping):
        return payload
    result = dict(payload)
    if isinstance(result.get("data"), Mapping):
        result["data"] = trim_embed_text(result["data"])
    embeds = result.get("embeds")
    if isinstance(embeds, list):
        result["embeds"] = [_trim_embed(e) for e in embeds]
    return result


def _trim_embed(embed: Any) -> Any:
    if not isinstance(embed, Mapping):
        return embed
    trimmed = {k: v.strip() if isinstance(v, str) else v for k, v in embed.items()}
    for key in ("footer", "author"):
        section = trimmed.get(key)
        if isinstance(section, Mapping):
            trimmed[key] = {
                k: v.strip() if isinstance(v, str) else v for k, v in section.items()
            }
    fields = trimmed.get("fields")
    if isinstance(fields, list):
        trimmed["fields"] = [
            {k: v.strip() if isinstance(v, str) else v for k, v in f.items()}
            if isinstance(f, Mapping)
            else f
            for f in fields
        ]
    return trimmed


def form_errors(breaches: Sequence[LimitBreach]) -> dict[str, Any]:
    """Build Discord's nested ``errors`` object from a list of breaches."""
    root: dict[str, Any] = {}
    for breach in breaches:
        node = root
        for part in breach.path:
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append(
            {"code": breach.code, "message": breach.message}
        )
    return root
