"""JSON schemas for structured output, and tolerant parsing of model replies.

Servers differ: OpenAI and vLLM accept a strict `json_schema` response
format, others only `json_object`, some only plain text. Strict mode needs
every property listed in `required` and `additionalProperties: false` on
every object, which pydantic's schemas do not have, so they are rewritten
here. Replies in plain-text mode may wrap the JSON in a code fence or prose.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_DROP_KEYS = frozenset({"default", "title", "examples"})


def _make_strict(node: Any) -> Any:
    if isinstance(node, dict):
        cleaned = {k: _make_strict(v) for k, v in node.items() if k not in _DROP_KEYS}
        if cleaned.get("type") == "object" and "properties" in cleaned:
            cleaned["required"] = list(cleaned["properties"])
            cleaned["additionalProperties"] = False
        return cleaned
    if isinstance(node, list):
        return [_make_strict(item) for item in node]
    return node


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Return the model's JSON schema in the form strict structured output needs."""
    schema: dict[str, Any] = _make_strict(model.model_json_schema())
    return schema


def parse_json_object(text: str) -> dict[str, Any]:
    """Find the JSON object in a model reply: bare, fenced, or inside prose.

    Raises:
        ValueError: No JSON object could be found.
    """
    text = text.strip()
    candidates = [text]
    candidates.extend(match.group(1).strip() for match in _FENCE.finditer(text))
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    for start in (i for i, ch in enumerate(text) if ch == "{"):
        try:
            value, _end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("the reply contains no JSON object")
