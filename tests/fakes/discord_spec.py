"""Validation of REST request bodies against Discord's OpenAPI 3.1 description.

The description is ``discord_openapi.json`` from discord/discord-api-spec. It is
looked up in ``$PERSPECTIVE_SPECS_DIR`` when that variable is set, otherwise in
``../shared/specs`` next to the project root (the folder that contains
``tests/``). It is parsed once per process. Bodies are checked with plain
jsonschema (Draft 2020-12) and a ``referencing`` registry that holds the whole
document, so the ``#/components/schemas/...`` references resolve.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

logger = logging.getLogger(__name__)

SPEC_FILE_NAME = "discord_openapi.json"
SPECS_DIR_VARIABLE = "PERSPECTIVE_SPECS_DIR"
_SPEC_URI = "urn:perspective:discord-openapi"

# Keys whose integer values discord.py sends where the spec has a snowflake
# string, for example message_reference.message_id and allowed_mentions.users.
_SNOWFLAKE_LIST_KEYS = frozenset({"users", "roles", "sticker_ids", "applied_tags"})


@dataclass(frozen=True)
class SpecValidationError:
    """One request that did not match the OpenAPI description."""

    method: str
    path: str
    operation_id: str
    location: str
    message: str


def project_root() -> Path:
    """Return the folder that contains ``tests/`` (two levels above this file)."""
    return Path(__file__).resolve().parents[2]


def find_spec_file() -> Path:
    """Return where the OpenAPI file is expected, whether or not it exists."""
    override = os.environ.get(SPECS_DIR_VARIABLE)
    specs_dir = Path(override) if override else project_root().parent / "shared/specs"
    return specs_dir / SPEC_FILE_NAME


def coerce_snowflakes(value: Any, key: str = "") -> Any:
    """Return a copy of a JSON body with integer snowflakes turned into strings.

    discord.py sends ids such as ``message_reference.message_id`` as JSON
    integers, which Discord accepts although its spec declares strings.
    """
    if isinstance(value, Mapping):
        return {k: coerce_snowflakes(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key.endswith("_ids") or key in _SNOWFLAKE_LIST_KEYS:
            return [str(v) if _is_int(v) else coerce_snowflakes(v) for v in value]
        return [coerce_snowflakes(v) for v in value]
    if _is_int(value) and (key == "id" or key.endswith("_id")):
        return str(value)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pointer_part(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


class DiscordSpec:
    """Discord's OpenAPI document with cached validators per operation."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = document
        resource: Resource[Any] = DRAFT202012.create_resource(document)
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    def _validator(self, pointer: str) -> Draft202012Validator:
        validator = self._validators.get(pointer)
        if validator is None:
            schema = {"$ref": f"{_SPEC_URI}#{quote(pointer)}"}
            validator = Draft202012Validator(schema, registry=self._registry)
            self._validators[pointer] = validator
        return validator

    def operation(self, template: str, method: str) -> Mapping[str, Any] | None:
        path_item = self._document.get("paths", {}).get(template)
        if not isinstance(path_item, Mapping):
            return None
        operation = path_item.get(method.lower())
        return operation if isinstance(operation, Mapping) else None

    def validate(
        self,
        method: str,
        template: str,
        path: str,
        path_params: Mapping[str, str],
        body: Any,
    ) -> list[SpecValidationError]:
        """Validate path parameters and a JSON body for one operation.

        Returns an empty list when the spec has no such operation.
        """
        operation = self.operation(template, method)
        if operation is None:
            return []
        operation_id = str(operation.get("operationId", ""))
        errors: list[SpecValidationError] = []
        path_item_pointer = f"/paths/{_pointer_part(template)}"
        for schema_pointer, name in self._parameter_pointers(
            template, method, path_params
        ):
            value = path_params[name]
            for error in self._validator(schema_pointer).iter_errors(value):
                errors.append(
                    SpecValidationError(
                        method, path, operation_id, f"path:{name}", error.message
                    )
                )
        if body is None or "requestBody" not in operation:
            return errors
        content = operation["requestBody"].get("content", {})
        if "application/json" not in content:
            return errors
        body_pointer = (
            f"{path_item_pointer}/{method.lower()}/requestBody/content/"
            "application~1json/schema"
        )
        coerced = coerce_snowflakes(body)
        for error in self._validator(body_pointer).iter_errors(coerced):
            location = "/".join(str(part) for part in error.absolute_path)
            errors.append(
                SpecValidationError(
                    method, path, operation_id, f"body:{location}", error.message[:500]
                )
            )
        return errors

    def _parameter_pointers(
        self, template: str, method: str, path_params: Mapping[str, str]
    ) -> list[tuple[str, str]]:
        """Return (schema pointer, parameter name) for each path parameter."""
        found: list[tuple[str, str]] = []
        base = f"/paths/{_pointer_part(template)}"
        path_item = self._document["paths"][template]
        for owner, pointer_base in (
            (path_item, base),
            (path_item.get(method.lower(), {}), f"{base}/{method.lower()}"),
        ):
            for index, parameter in enumerate(owner.get("parameters", [])):
                name = parameter.get("name")
                if parameter.get("in") == "path" and name in path_params:
                    found.append((f"{pointer_base}/parameters/{index}/schema", name))
        return found


@functools.cache
def load_spec(spec_file: Path) -> DiscordSpec:
    """Parse the OpenAPI file once per process and path."""
    logger.info("loading Discord OpenAPI description from %s", spec_file)
    with spec_file.open(encoding="utf-8") as handle:
        return DiscordSpec(json.load(handle))


def spec_or_reason() -> tuple[DiscordSpec | None, str | None]:
    """Return the loaded spec, or None and the reason validation is skipped."""
    spec_file = find_spec_file()
    if not spec_file.is_file():
        reason = (
            f"Discord OpenAPI file not found at {spec_file}; set "
            f"{SPECS_DIR_VARIABLE} to the folder that contains {SPEC_FILE_NAME}"
        )
        return None, reason
    return load_spec(spec_file), None
