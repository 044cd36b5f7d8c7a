"""Parsed search filters and order-bys → SQLAlchemy for registered models, model versions and
logged models, with MLflow's semantics. Parsing the strings is `search`'s job, not this file's.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from flowport.adapters.local import workspace_rows
from flowport.adapters.local.logged_model_schema import (
    LIFECYCLE_DELETED,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelParam,
    LoggedModelTag,
)
from flowport.adapters.local.registry_schema import (
    STAGE_DELETED_INTERNAL,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
)
from flowport.adapters.workspace_scope import workspace
from flowport.v1.errors import invalid_parameter
from flowport.v1.mlflow_tags import PROMPT_TAG

_TAG_OPS = ("=", "!=", "LIKE", "ILIKE")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_NUMERIC_OPS = ("=", "!=", ">", ">=", "<", "<=")


def compare(column: Any, op: str, value: Any) -> sa.ColumnElement[bool]:
    """`column <op> value` for the operators of MLflow's search grammar."""
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == "LIKE":
        return column.like(value)
    if op == "ILIKE":
        return column.ilike(value)
    if op == "IN":
        return column.in_(list(_as_tuple(value)))
    if op == "NOT IN":
        return ~column.in_(list(_as_tuple(value)))
    if op == "IS NULL":
        return column.is_(None)
    if op == "IS NOT NULL":
        return column.is_not(None)
    raise invalid_parameter(f"Invalid comparator '{op}'")


def _as_tuple(value: Any) -> tuple:
    if isinstance(value, (tuple, list, set, frozenset)):
        return tuple(value)
    return (value,)


def _is_querying_prompts(comparisons: Iterable[Any]) -> bool:
    """MLflow hides prompts unless the filter explicitly asks for them."""
    for c in comparisons:
        if c.kind != "tag" or c.key != PROMPT_TAG:
            continue
        value = str(c.value).lower()
        return (c.op == "=" and value == "true") or (c.op == "!=" and value == "false")
    return False


def _tag_conditions(comparisons: Iterable[Any], querying_prompts: bool) -> dict[str, list[Any]]:
    """Group tag comparisons by key: a row matches when, for every key, one tag row
    satisfies all of that key's comparisons."""
    grouped: dict[str, list[Any]] = {}
    for c in comparisons:
        if c.kind != "tag":
            continue
        if c.op not in _TAG_OPS:
            raise invalid_parameter(f"Invalid comparator for tag: {c.op}")
        grouped.setdefault(c.key, []).append(c)
    if not querying_prompts:
        # The prompt tag is answered by the prompt exclusion below, not as a tag filter.
        grouped.pop(PROMPT_TAG, None)
    return grouped


def _tag_clauses(
    comparisons: Sequence[Any], tag_table: Any, owner: list[Any], prompt_owner: list[Any] | None = None
) -> list[Any]:
    """WHERE clauses for the tag comparisons (`owner` joins a tag row to the searched row), plus
    MLflow's exclusion of prompts unless the filter asks for them (`prompt_owner`, default `owner`)."""
    querying_prompts = _is_querying_prompts(comparisons)
    clauses = [
        sa.exists().where(
            *owner, tag_table.key == key, *(compare(tag_table.value, c.op, c.value) for c in comps)
        )
        for key, comps in _tag_conditions(comparisons, querying_prompts).items()
    ]
    if not querying_prompts:
        clauses.append(
            ~sa.exists().where(
                *(prompt_owner or owner), tag_table.key == PROMPT_TAG, tag_table.value == "true"
            )
        )
    return clauses


# ---- registered models -------------------------------------------------------------------


def registered_models_query(comparisons: Sequence[Any]) -> sa.Select:
    """SELECT registered_models matching the parsed filter (prompts excluded unless asked for)."""
    where: list[Any] = []
    for c in comparisons:
        if c.kind == "attribute":
            if c.key != "name":
                raise invalid_parameter(f"Invalid attribute name: {c.key}")
            if c.op not in _STRING_OPS:
                raise invalid_parameter(f"Invalid comparator for attribute: {c.op}")
            where.append(compare(RegisteredModel.name, c.op, c.value))
        elif c.kind != "tag":
            raise invalid_parameter(f"Invalid token type: {c.kind}")

    where += _tag_clauses(
        comparisons,
        RegisteredModelTag,
        [
            RegisteredModelTag.workspace == RegisteredModel.workspace,
            RegisteredModelTag.name == RegisteredModel.name,
        ],
    )
    return sa.select(RegisteredModel).where(RegisteredModel.workspace == workspace(), *where)


_RM_ORDER_COLUMNS = {
    "name": RegisteredModel.name,
    # MLflow orders both "timestamp" and "last_updated_timestamp" by the last update.
    "timestamp": RegisteredModel.last_updated_time,
    "last_updated_timestamp": RegisteredModel.last_updated_time,
}


def registered_models_order_by(order_keys: Sequence[Any], raw: Sequence[str]) -> list[Any]:
    """ORDER BY clauses; name ascending is the final tie-breaker, as in MLflow."""
    clauses: list[Any] = []
    seen: set[str] = set()
    for k in order_keys:
        column = _RM_ORDER_COLUMNS.get(k.key)
        if column is None:
            raise invalid_parameter(
                f"Invalid order by key '{k.key}' specified.Valid keys are '{ {'name', 'timestamp'} }'"
            )
        if column.key in seen:
            raise invalid_parameter(f"`order_by` contains duplicate fields: {list(raw)}")
        seen.add(column.key)
        clauses.append(column.asc() if k.ascending else column.desc())
    if "name" not in seen:
        clauses.append(RegisteredModel.name.asc())
    return clauses


# ---- model versions ----------------------------------------------------------------------

_MV_STRING_ATTRIBUTES = {
    "name": ModelVersion.name,
    "run_id": ModelVersion.run_id,
    "source_path": ModelVersion.source,
}
_MV_NUMERIC_ATTRIBUTES = {"version_number": ModelVersion.version}


def model_versions_query(comparisons: Sequence[Any]) -> sa.Select:
    """SELECT live (not deleted) model_versions matching the parsed filter."""
    where: list[Any] = [ModelVersion.current_stage != STAGE_DELETED_INTERNAL]
    for c in comparisons:
        if c.kind == "attribute":
            if c.key in _MV_NUMERIC_ATTRIBUTES:
                if c.op not in _NUMERIC_OPS:
                    raise invalid_parameter(f"Invalid comparator for attribute {c.key}: {c.op}")
                where.append(compare(_MV_NUMERIC_ATTRIBUTES[c.key], c.op, _int_value(c.key, c.value)))
            elif c.key in _MV_STRING_ATTRIBUTES:
                if c.op not in _STRING_OPS or (c.op in ("IN", "NOT IN") and c.key not in ("run_id", "name")):
                    raise invalid_parameter(f"Invalid comparator for attribute: {c.op}")
                where.append(compare(_MV_STRING_ATTRIBUTES[c.key], c.op, c.value))
            else:
                raise invalid_parameter(f"Invalid attribute name: {c.key}")
        elif c.kind != "tag":
            raise invalid_parameter(f"Invalid token type: {c.kind}")

    same_model = sa.and_(
        ModelVersionTag.workspace == ModelVersion.workspace, ModelVersionTag.name == ModelVersion.name
    )
    # Tag filters look at this version's tags; a model is a prompt when any version is tagged so.
    where += _tag_clauses(
        comparisons,
        ModelVersionTag,
        [same_model, ModelVersionTag.version == ModelVersion.version],
        [same_model],
    )
    return sa.select(ModelVersion).where(ModelVersion.workspace == workspace(), *where)


def _int_value(key: str, value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise invalid_parameter(f"Invalid value for numeric attribute '{key}': {value!r}")
    if isinstance(value, str) and "." in value:
        raise invalid_parameter(f"Invalid value for numeric attribute '{key}': {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_parameter(f"Invalid value for numeric attribute '{key}': {value!r}") from None


_MV_ORDER_COLUMNS = {
    "name": ModelVersion.name,
    "version_number": ModelVersion.version,
    "creation_timestamp": ModelVersion.creation_time,
    "last_updated_timestamp": ModelVersion.last_updated_time,
}
DEFAULT_MODEL_VERSION_ORDER = ("last_updated_timestamp DESC", "name ASC", "version_number DESC")


def model_versions_order_by(order_keys: Sequence[Any], raw: Sequence[str]) -> list[Any]:
    """ORDER BY clauses; then name ascending and version descending, as in MLflow."""
    clauses: list[Any] = []
    seen: set[str] = set()
    for k in order_keys:
        column = _MV_ORDER_COLUMNS.get(k.key)
        if column is None:
            raise invalid_parameter(
                f"Invalid order by key '{k.key}' specified. Valid keys are {set(_MV_ORDER_COLUMNS)}"
            )
        if column.key in seen:
            raise invalid_parameter(f"`order_by` contains duplicate fields: {list(raw)}")
        seen.add(column.key)
        clauses.append(column.asc() if k.ascending else column.desc())
    if "name" not in seen:
        clauses.append(ModelVersion.name.asc())
    if "version" not in seen:
        clauses.append(ModelVersion.version.desc())
    return clauses


# ---- logged models -----------------------------------------------------------------------

_LM_ALIASES = {
    "creation_time": "creation_timestamp_ms",
    "creation_timestamp": "creation_timestamp_ms",
    "last_updated_timestamp": "last_updated_timestamp_ms",
}
_LM_NUMERIC = {"creation_timestamp_ms", "last_updated_timestamp_ms"}
_LM_STATUS_NAMES = {
    "LOGGED_MODEL_STATUS_UNSPECIFIED": 0,
    "UNSPECIFIED": 0,
    "PENDING": 1,
    "LOGGED_MODEL_PENDING": 1,
    "READY": 2,
    "LOGGED_MODEL_READY": 2,
    "FAILED": 3,
    "LOGGED_MODEL_UPLOAD_FAILED": 3,
}


def _logged_model_column(key: str) -> Any:
    name = _LM_ALIASES.get(key, key).strip("`")
    column = LoggedModel.__table__.c.get(name)
    if column is None:
        raise invalid_parameter(f"Invalid attribute key '{key}' for logged models")
    return getattr(LoggedModel, name)


def _logged_model_attribute_value(column: Any, value: Any) -> Any:
    """Integer columns compare as integers (PostgreSQL rejects integer = varchar);
    `status` also accepts its names (READY, PENDING, FAILED)."""
    if column.key in _LM_NUMERIC:
        return _as_number(value)
    if column.key in ("experiment_id", "status"):

        def one(v: Any) -> Any:
            if column.key == "status" and isinstance(v, str) and v.upper() in _LM_STATUS_NAMES:
                return _LM_STATUS_NAMES[v.upper()]
            try:
                return int(float(v))
            except (TypeError, ValueError):
                raise invalid_parameter(f"Invalid value {v!r} for attribute '{column.key}'") from None

        if isinstance(value, (tuple, list)):
            return tuple(one(v) for v in value)
        return one(value)
    return value


def _as_number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise invalid_parameter(f"Invalid numeric value: {value!r}") from None


def _dataset_condition(datasets: Sequence[Any]) -> Any | None:
    conditions = []
    for d in datasets:
        condition = LoggedModelMetric.dataset_name == d.dataset_name
        if d.dataset_digest:
            condition = sa.and_(condition, LoggedModelMetric.dataset_digest == d.dataset_digest)
        conditions.append(condition)
    return sa.or_(*conditions) if conditions else None


def logged_models_query(
    experiment_ids: Sequence[int], comparisons: Sequence[Any], datasets: Sequence[Any]
) -> sa.Select:
    """SELECT active logged_models of the experiments matching the filter and datasets.

    A metric comparison matches a model having any metric row that satisfies it (restricted
    to the given datasets when there are any); with datasets and no metric comparison a
    model matches when it has any metric on one of the datasets.
    """
    dataset_condition = _dataset_condition(datasets)
    where: list[Any] = [
        LoggedModel.lifecycle_stage != LIFECYCLE_DELETED,
        LoggedModel.experiment_id.in_(list(experiment_ids)),
        workspace_rows.logged_model_visible(),
    ]
    has_metric_filter = False
    for c in comparisons:
        kind = c.kind
        if kind == "attribute":
            column = _logged_model_column(c.key)
            numeric = column.key in _LM_NUMERIC
            allowed = _NUMERIC_OPS if numeric else _STRING_OPS
            if c.op not in allowed:
                raise invalid_parameter(
                    f"Invalid comparison operator for attributes.{c.key}: {c.op!r}. "
                    f"Expected one of {allowed}."
                )
            where.append(compare(column, c.op, _logged_model_attribute_value(column, c.value)))
        elif kind == "metric":
            if c.op not in _NUMERIC_OPS:
                raise invalid_parameter(
                    f"Invalid comparison operator for metrics.{c.key}: {c.op!r}. "
                    f"Expected one of {_NUMERIC_OPS}."
                )
            has_metric_filter = True
            conditions = [
                LoggedModelMetric.model_id == LoggedModel.model_id,
                LoggedModelMetric.metric_name == c.key,
                compare(LoggedModelMetric.metric_value, c.op, _as_number(c.value)),
            ]
            if dataset_condition is not None:
                conditions.append(dataset_condition)
            where.append(sa.exists().where(*conditions))
        elif kind in ("param", "tag"):
            if c.op not in _STRING_OPS:
                raise invalid_parameter(
                    f"Invalid comparison operator for {kind}s.{c.key}: {c.op!r}. "
                    f"Expected one of {_STRING_OPS}."
                )
            table, key_col, value_col = (
                (LoggedModelParam, LoggedModelParam.param_key, LoggedModelParam.param_value)
                if kind == "param"
                else (LoggedModelTag, LoggedModelTag.tag_key, LoggedModelTag.tag_value)
            )
            where.append(
                sa.exists().where(
                    table.model_id == LoggedModel.model_id,
                    key_col == c.key,
                    compare(value_col, c.op, c.value),
                )
            )
        else:
            raise invalid_parameter(
                f"Invalid entity type: {kind!r}. Expected one of ['attributes', 'metrics', 'params', 'tags']."
            )
    if dataset_condition is not None and not has_metric_filter:
        where.append(sa.exists().where(LoggedModelMetric.model_id == LoggedModel.model_id, dataset_condition))
    return sa.select(LoggedModel).where(*where)


def logged_models_order_by(query: sa.Select, order_by: Sequence[Any]) -> sa.Select:
    """Apply SearchLoggedModels.OrderBy entries: attributes, or `metrics.<key>` by the model's
    latest value of that metric (optionally on one dataset); nulls last; then creation time
    descending and model_id ascending as tie-breakers."""
    clauses: list[Any] = []
    has_creation, has_model_id = False, False
    for ob in order_by:
        field = ob.field_name
        ascending = ob.ascending
        if "." not in field:
            column = _logged_model_column(field)
            has_creation = has_creation or column.key == "creation_timestamp_ms"
            has_model_id = has_model_id or column.key == "model_id"
            clauses += [
                sa.case((column.is_(None), 1), else_=0).asc(),
                column.asc() if ascending else column.desc(),
            ]
            continue
        entity, key = field.split(".", 1)
        if entity != "metrics":
            raise invalid_parameter(f"Invalid order by field name: {field}. Only metrics are supported.")
        conditions = [LoggedModelMetric.metric_name == key.strip("`")]
        if ob.dataset_name:
            conditions.append(LoggedModelMetric.dataset_name == ob.dataset_name)
        if ob.dataset_digest:
            conditions.append(LoggedModelMetric.dataset_digest == ob.dataset_digest)
        ranked = (
            sa.select(
                LoggedModelMetric.model_id,
                LoggedModelMetric.metric_value,
                sa.func.row_number()
                .over(
                    partition_by=LoggedModelMetric.model_id,
                    order_by=[
                        LoggedModelMetric.metric_timestamp_ms.desc(),
                        LoggedModelMetric.metric_step.desc(),
                        LoggedModelMetric.run_id.asc(),
                    ],
                )
                .label("row_num"),
            )
            .where(*conditions)
            .subquery()
        )
        latest = sa.select(ranked.c.model_id, ranked.c.metric_value).where(ranked.c.row_num == 1).subquery()
        query = query.outerjoin(latest, latest.c.model_id == LoggedModel.model_id)
        value = latest.c.metric_value
        clauses += [sa.case((value.is_(None), 1), else_=0).asc(), value.asc() if ascending else value.desc()]
    if not has_creation:
        clauses.append(LoggedModel.creation_timestamp_ms.desc())
    if not has_model_id:
        clauses.append(LoggedModel.model_id.asc())
    return query.order_by(*clauses)


@dataclass
class LoggedModelsPageToken:
    """MLflow's logged-model page token: the offset plus the query it belongs to, so a token
    cannot be replayed against a different search."""

    experiment_ids: list[str]
    filter_string: str | None = None
    order_by: list[dict[str, Any]] | None = None
    offset: int = 0

    def encode(self) -> str:
        return base64.b64encode(json.dumps(asdict(self)).encode("utf-8")).decode("utf-8")

    @classmethod
    def decode(cls, token: str) -> LoggedModelsPageToken:
        try:
            data = json.loads(base64.b64decode(token.encode("utf-8"), validate=True).decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return cls(
                experiment_ids=data.get("experiment_ids"),
                filter_string=data.get("filter_string") or None,
                order_by=data.get("order_by") or None,
                offset=int(data.get("offset") or 0),
            )
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as e:
            raise invalid_parameter(f"Invalid page token: {token}. {e!r}") from None

    def check_matches(
        self, experiment_ids: list[str], filter_string: str | None, order_by: list[dict[str, Any]] | None
    ) -> None:
        if self.experiment_ids != experiment_ids:
            raise invalid_parameter(
                "Experiment IDs in the page token do not match the requested experiment IDs. "
                f"Expected: {experiment_ids}. Found: {self.experiment_ids}"
            )
        if self.filter_string != filter_string:
            raise invalid_parameter(
                "Filter string in the page token does not match the requested filter string. "
                f"Expected: {filter_string}. Found: {self.filter_string}"
            )
        if self.order_by != order_by:
            raise invalid_parameter(
                "Order by in the page token does not match the requested order by. "
                f"Expected: {order_by}. Found: {self.order_by}"
            )
