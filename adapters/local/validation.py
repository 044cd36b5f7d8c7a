"""MLflow's input limits and checks for tracking calls, raising ApiError with MLflow's messages.

Pure functions over plain values: no database access. Limits and wording are those of
`mlflow server` 3.x so clients see the same errors from flowport.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import urllib.parse
from collections.abc import Sequence

from google.protobuf.message import Message

from flowport.v1.errors import ApiError, invalid_parameter

MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_KEY_LENGTH = 250
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_ENTITY_KEY_LENGTH = 250
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
MAX_DATASET_SCHEMA_SIZE = 1048575
MAX_DATASET_SOURCE_SIZE = 65535
MAX_DATASET_PROFILE_SIZE = 16777215
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500
MAX_ARTIFACT_LOCATION_LENGTH = 2048
SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS_THRESHOLD = 50000
MAX_RUNS_GET_METRIC_HISTORY_BULK = 100
MAX_RESULTS_PER_RUN = 2500
# SQL cannot store infinities: MLflow stores ±inf as ±DBL_MAX and NaN as 0 with is_nan set.
DOUBLE_MAX = 1.7976931348623157e308

_API_DOCS_HINT = " See the API docs for more information about request parameters."
_NAME_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_MISSING_KEY_NAME = "A key name must be provided."


def invalid_value(path: str, value: object, message: str | None = None) -> str:
    shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    if message:
        return f"Invalid value {shown} for parameter '{path}' supplied: {message}"
    return f"Invalid value {shown} for parameter '{path}' supplied."


def missing_value(path: str) -> str:
    return f"Missing value for required parameter '{path}'."


def exceeds_maximum_length(path: str, limit: int) -> str:
    return f"'{path}' exceeds the maximum length of {limit} characters"


def require(request: Message, *fields: str) -> None:
    """What `mlflow server` checks before calling its store: each field present and non-empty."""
    for field in fields:
        descriptor = request.DESCRIPTOR.fields_by_name[field]
        if descriptor.is_repeated:
            present = len(getattr(request, field)) > 0
        else:
            present = request.HasField(field) and getattr(request, field) != ""
        if not present:
            raise invalid_parameter(missing_value(field) + _API_DOCS_HINT)


def require_value(value: object, path: str) -> None:
    if value is None or value == "":
        raise invalid_parameter(missing_value(path) + _API_DOCS_HINT)


def parse_experiment_id(experiment_id: str | int) -> int:
    try:
        return int(experiment_id)
    except (TypeError, ValueError):
        raise invalid_parameter(
            f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer."
        ) from None


def _append_path(path: str, value: str) -> str:
    if not path:
        return value
    if value.startswith("["):
        return f"{path}{value}"
    return f"{path}.{value}"


def _bad_path_message(name: str) -> str:
    return (
        "Names may be treated as files in certain cases, and must not resolve to other names"
        f" when treated as such. This name would resolve to {posixpath.normpath(name)!r}"
    )


_BAD_CHARACTER_MESSAGE = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.),"
    " spaces ( ), colon(:) and slashes (/)."
)


def _path_not_unique(name: str) -> bool:
    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith("..") or norm.startswith("/")


def _check_name(name: str, path: str) -> None:
    if not _NAME_RE.match(name):
        raise invalid_parameter(invalid_value(path, name, _BAD_CHARACTER_MESSAGE))
    if _path_not_unique(name):
        raise invalid_parameter(invalid_value(path, name, _bad_path_message(name)))


def _limit(entity: str, limit: int, value: str | None, *, truncate: bool = False) -> str | None:
    if value is None or len(value) <= limit:
        return value
    # mlflow server truncates long param and tag values by default (MLFLOW_TRUNCATE_LONG_VALUES).
    if truncate:
        return value[:limit]
    raise invalid_parameter(exceeds_maximum_length(entity, limit))


def validate_metric(key: str, value: float, timestamp: int, step: int, path: str = "") -> None:
    _check_name(key, _append_path(path, "name"))
    if timestamp < 0:
        raise invalid_parameter(
            invalid_value(
                _append_path(path, "timestamp"),
                timestamp,
                f"metric '{key}' (value={value}). Timestamp must be a nonnegative long (64-bit integer) ",
            )
        )
    _limit("Metric name", MAX_ENTITY_KEY_LENGTH, key)


def validate_param(key: str, value: str, path: str = "") -> tuple[str, str]:
    """Returns (key, value) with the value truncated to MLflow's limit."""
    _check_name(key, _append_path(path, "key"))
    _limit("Param key", MAX_ENTITY_KEY_LENGTH, key)
    return key, _limit("Param value", MAX_PARAM_VAL_LENGTH, value, truncate=True) or ""


def validate_tag(key: str, value: str, path: str = "") -> tuple[str, str]:
    """Returns (key, value) with the value truncated to MLflow's limit."""
    _check_name(key, _append_path(path, "key"))
    _limit(_append_path(path, "key"), MAX_ENTITY_KEY_LENGTH, key)
    return key, _limit(_append_path(path, "value"), MAX_TAG_VAL_LENGTH, value, truncate=True) or ""


def validate_experiment_tag(key: str, value: str) -> None:
    _check_name(key, "key")
    _limit("key", MAX_EXPERIMENT_TAG_KEY_LENGTH, key)
    _limit("value", MAX_EXPERIMENT_TAG_VAL_LENGTH, value)


def validate_experiment_name(name: str) -> None:
    if not name:
        raise invalid_parameter(f"Invalid experiment name: '{name}'")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise invalid_parameter(exceeds_maximum_length("name", MAX_EXPERIMENT_NAME_LENGTH))


def validate_artifact_location(location: str) -> None:
    parsed = urllib.parse.urlparse(location)
    if parsed.fragment or parsed.params:
        raise invalid_parameter("'artifact_location' URL can't include fragments or params.")
    if ".." in urllib.parse.unquote(parsed.query):
        raise invalid_parameter("Invalid query string")
    if location.startswith("runs:"):
        raise invalid_parameter(f"Artifact location cannot be a runs:/ URI. Given: '{location}'")
    if len(location) > MAX_ARTIFACT_LOCATION_LENGTH:
        raise invalid_parameter(
            "Invalid artifact path length. The length of the artifact path cannot be "
            f"greater than {MAX_ARTIFACT_LOCATION_LENGTH} characters. To configure this limit, please set "
            "the MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH environment variable."
        )


def validate_run_id(run_id: str, path: str = "run_id") -> None:
    if _RUN_ID_RE.match(run_id) is None:
        raise invalid_parameter(invalid_value(path, run_id))


def validate_batch_limits(n_metrics: int, n_params: int, n_tags: int) -> None:
    for entity, limit, length in (
        ("metrics", MAX_METRICS_PER_BATCH, n_metrics),
        ("params", MAX_PARAMS_TAGS_PER_BATCH, n_params),
        ("tags", MAX_PARAMS_TAGS_PER_BATCH, n_tags),
        ("metrics, params, and tags", MAX_ENTITIES_PER_BATCH, n_metrics + n_params + n_tags),
    ):
        if length > limit:
            raise invalid_parameter(
                f"A batch logging request can contain at most {limit} {entity}. "
                f"Got {length} {entity}. Please split up {entity} across multiple"
                " requests and try again."
            )


def validate_param_keys_unique(keys: Sequence[str]) -> None:
    seen: set[str] = set()
    dupes = []
    for key in keys:
        if key in seen:
            dupes.append(key)
        seen.add(key)
    if dupes:
        raise invalid_parameter(
            f"Duplicate parameter keys have been submitted: {dupes}. Please ensure "
            "the request contains only one param value per param key."
        )


def validate_dataset(
    name: str,
    digest: str,
    source_type: str,
    source: str,
    schema: str | None,
    profile: str | None,
    present: dict[str, bool],
) -> None:
    for field in ("name", "digest", "source_type", "source"):
        if not present[field]:
            raise invalid_parameter(f"Dataset {field} cannot be None")
    for field, value, limit in (
        ("name", name, MAX_DATASET_NAME_SIZE),
        ("digest", digest, MAX_DATASET_DIGEST_SIZE),
        ("source", source, MAX_DATASET_SOURCE_SIZE),
        ("schema", schema, MAX_DATASET_SCHEMA_SIZE),
        ("profile", profile, MAX_DATASET_PROFILE_SIZE),
    ):
        if value is not None and len(value) > limit:
            raise invalid_parameter(exceeds_maximum_length(field, limit))


def validate_input_tag(key: str | None, value: str | None) -> None:
    if key is None:
        raise invalid_parameter("InputTag key cannot be None")
    if value is None:
        raise invalid_parameter("InputTag value cannot be None")
    if len(key) > MAX_INPUT_TAG_KEY_SIZE:
        raise invalid_parameter(exceeds_maximum_length("key", MAX_INPUT_TAG_KEY_SIZE))
    if len(value) > MAX_INPUT_TAG_VALUE_SIZE:
        raise invalid_parameter(exceeds_maximum_length("value", MAX_INPUT_TAG_VALUE_SIZE))


def validate_max_results(max_results: int | None, *, allow_none: bool = False) -> None:
    if (max_results is None and not allow_none) or (max_results is not None and max_results < 1):
        raise invalid_parameter(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        )
    if max_results is not None and max_results > SEARCH_MAX_RESULTS_THRESHOLD:
        raise invalid_parameter(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at "
            f"most {SEARCH_MAX_RESULTS_THRESHOLD}"
        )


def sanitize_metric_value(value: float) -> tuple[bool, float]:
    """(is_nan, storable value): NaN → (True, 0), ±inf → ±DBL_MAX."""
    if math.isnan(value):
        return True, 0.0
    if math.isinf(value):
        return False, DOUBLE_MAX if value > 0 else -DOUBLE_MAX
    return False, value


def state_error(message: str) -> ApiError:
    return ApiError(message, "INVALID_STATE")
