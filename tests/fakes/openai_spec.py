"""Validators built from the published OpenAI OpenAPI spec.

The spec is read from ``openai_openapi.yaml`` in ``../shared/specs`` next to the
project root (the folder that contains ``tests/``), or in the folder named by the
``PERSPECTIVE_SPECS_DIR`` environment variable. Parsing the 3 MB YAML file takes
about a second, so each spec file is parsed once per process and cached.

Schemas are checked with plain jsonschema (Draft 2020-12) through a ``referencing``
registry that contains the whole spec document, so ``#/components/schemas/...``
references resolve. openapi-core is not used because it mis-handles the ``role``
discriminator of chat request messages.
"""

import logging
import os
import threading
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

logger = logging.getLogger(__name__)

SPECS_DIR_ENV = "PERSPECTIVE_SPECS_DIR"
SPEC_FILENAME = "openai_openapi.yaml"

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The spec is registered under this URI, so that a root schema can point into it.
_SPEC_URI = "urn:perspective:openai-openapi"

_cache: dict[Path, "OpenAISpec"] = {}
_cache_lock = threading.Lock()


def specs_dir() -> Path:
    """Return the folder that should contain the spec files."""
    override = os.environ.get(SPECS_DIR_ENV)
    if override:
        return Path(override)
    return _PROJECT_ROOT.parent / "shared" / "specs"


def spec_path() -> Path:
    """Return the path of the OpenAI OpenAPI spec file."""
    return specs_dir() / SPEC_FILENAME


def spec_unavailable_reason() -> str | None:
    """Return why the spec cannot be used, or None when the file exists."""
    path = spec_path()
    if path.is_file():
        return None
    return (
        f"OpenAI OpenAPI spec not found at {path}: set {SPECS_DIR_ENV} to the "
        f"folder that contains {SPEC_FILENAME}"
    )


class OpenAISpec:
    """Parsed OpenAI OpenAPI spec with one validator per component schema."""

    def __init__(self, path: Path, document: dict[str, Any]) -> None:
        self.path = path
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
        self._schema_names = frozenset(document["components"]["schemas"])
        self._validators: dict[str, Draft202012Validator] = {}
        self._lock = threading.Lock()

    def validator(self, schema_name: str) -> Draft202012Validator:
        """Return a validator for ``components/schemas/<schema_name>``.

        Raises:
            KeyError: the spec has no component schema of that name.
        """
        if schema_name not in self._schema_names:
            raise KeyError(f"schema {schema_name!r} not found in {self.path}")
        with self._lock:
            validator = self._validators.get(schema_name)
            if validator is None:
                root = {"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"}
                validator = Draft202012Validator(root, registry=self._registry)
                self._validators[schema_name] = validator
            return validator

    def errors(self, schema_name: str, instance: object) -> list[str]:
        """Validate ``instance`` and return one readable message per error."""
        found = self.validator(schema_name).iter_errors(instance)
        return [describe_validation_error(error) for error in found]


def load_openai_spec() -> OpenAISpec:
    """Parse the spec at ``spec_path()``, once per process and path.

    Raises:
        FileNotFoundError: the spec file does not exist. The message names the
            expected path and the variable that overrides the folder.
    """
    path = spec_path().resolve()
    with _cache_lock:
        cached = _cache.get(path)
        if cached is not None:
            return cached
        reason = spec_unavailable_reason()
        if reason is not None:
            raise FileNotFoundError(reason)
        logger.info("Loading OpenAI OpenAPI spec from %s", path)
        with path.open("rb") as spec_file:
            # The libyaml loader parsed this file in 0.8 s, the pure-Python one in
            # 3.7 s (PyYAML 6.0.4, 2-core AMD EPYC). Wheels usually include libyaml.
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            document = yaml.load(spec_file, Loader=loader)  # noqa: S506
        spec = OpenAISpec(path, _allow_null_where_nullable(document))
        _cache[path] = spec
        return spec


def _allow_null_where_nullable(node: Any) -> Any:
    """Return a copy of ``node`` in which every ``nullable: true`` schema accepts null.

    The file declares OpenAPI 3.1, yet many schemas still carry the OpenAPI 3.0
    keyword ``nullable`` (``max_completion_tokens`` among them). Draft 2020-12
    ignores unknown keywords, so without this rewrite a null that the API accepts
    would fail validation.
    """
    if isinstance(node, list):
        return [_allow_null_where_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _allow_null_where_nullable(value) for key, value in node.items()}
    if converted.get("nullable") is True:
        del converted["nullable"]
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def describe_validation_error(error: ValidationError) -> str:
    """Return ``"<location>: <problem>"`` for the most specific cause of ``error``."""
    error = _most_specific(error)
    return f"{format_location(error.absolute_path)}: {error.message}"


def error_location(error: ValidationError) -> str | None:
    """Return the request parameter that ``error`` is about, as OpenAI writes it.

    A missing property is named by its own path, for example ``messages``. Returns
    None for an error about the whole body.
    """
    error = _most_specific(error)
    path = list(error.absolute_path)
    required, instance = error.validator_value, error.instance
    if error.validator == "required" and isinstance(required, list):
        assert isinstance(instance, dict)  # "required" only applies to objects
        missing = [name for name in required if name not in instance]
        path.extend(missing[:1])
    if not path:
        return None
    return format_location(path)


def format_location(path: Iterable[str | int]) -> str:
    """Format a JSON path as ``messages[0].content``, or ``body`` when empty."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "body"


def _most_specific(error: ValidationError) -> ValidationError:
    """Descend into the one ``oneOf`` or ``anyOf`` branch that fits the instance.

    A chat message with a valid role but a bad field fails every branch of the
    message ``oneOf``, and a wrong value for a nullable field fails both the type
    branch and the null branch. The top-level error then only reports that no branch
    matched. Branches for another ``role`` or ``type``, and the null branch of a
    non-null value, are set aside. When exactly one branch is left, its errors name the
    real problem.
    """
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return error
    by_branch: dict[Any, list[ValidationError]] = defaultdict(list)
    for sub_error in error.context:
        by_branch[sub_error.relative_schema_path[0]].append(sub_error)
    fitting = [
        branch_errors
        for branch_errors in by_branch.values()
        if not any(_is_mismatch_of_kind(e) for e in branch_errors)
    ]
    if len(fitting) == 1:
        return _most_specific(best_match(fitting[0]))
    return error


def _is_mismatch_of_kind(error: ValidationError) -> bool:
    """Tell whether ``error`` shows that its branch is for another kind of value.

    Chat messages are distinguished by ``role`` and response formats by ``type``, so
    a wrong value of either field means that the branch does not apply.
    """
    if list(error.relative_path) in (["role"], ["type"]):
        return error.validator in ("enum", "const")
    return error.validator == "type" and error.validator_value == "null"
