"""MLflow's order_by clauses (`metrics.acc DESC`, `name`) → validated `OrderKey`s, one grammar per search.

Pure parsing, like `filter.py`, whose identifier scanner it shares. Rules follow MLflow 3.17.2's
`search_utils.py` and the checks its SQLAlchemy stores add (allowed keys, duplicate fields).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flowport.adapters.local.search.filter import (
    REGISTRY_PREFIXES,
    RUN_PREFIXES,
    TRACE_RESERVED_METADATA,
    Identifier,
    Scanner,
    resolve_trace_key,
    trace_kind,
)
from flowport.v1.errors import ApiError, invalid_parameter


@dataclass(frozen=True)
class OrderKey:
    kind: str  # "metric" | "param" | "tag" | "attribute"
    key: str  # canonical key
    ascending: bool


@dataclass(frozen=True)
class OrderGrammar:
    search: str
    prefixes: dict[str, str]  # empty: keys only, no `prefix.` allowed
    kinds: frozenset[str]  # kinds this search can sort by
    attributes: dict[str, str]  # key as written → canonical key
    reject_duplicates: bool = True


def parse_order_by(clauses: Sequence[str] | None, grammar: OrderGrammar) -> list[OrderKey]:
    keys: list[OrderKey] = []
    seen: set[tuple[str, str]] = set()
    for clause in clauses or ():
        key = _order_key(clause, grammar)
        if grammar.reject_duplicates and (key.kind, key.key) in seen:
            raise invalid_parameter(f"`order_by` contains duplicate fields: {list(clauses)}")
        seen.add((key.kind, key.key))
        keys.append(key)
    return keys


def _unparsable(clause: str) -> ApiError:
    return invalid_parameter(f"Invalid order_by clause '{clause}'. Could not be parsed.")


def _split_clause(clause: str) -> tuple[Identifier, bool]:
    """`<identifier> [ASC|DESC]`, case-insensitive, ascending by default."""
    # MLflow's parser rejects surrounding whitespace; so do we, so a clause works on both or neither.
    if clause != clause.strip():
        raise _unparsable(clause)
    sc = Scanner(clause)
    try:
        ident = sc.identifier()
    except ApiError:
        raise _unparsable(clause) from None
    if ident is None:
        raise _unparsable(clause)
    sc.skip_ws()
    ascending = True
    if not sc.at_end():
        direction = sc.word()
        if direction is None:
            raise _unparsable(clause)
        if direction.upper() not in ("ASC", "DESC"):
            raise invalid_parameter(f"Invalid ordering key in order_by clause '{clause}'.")
        ascending = direction.upper() == "ASC"
        sc.skip_ws()
        if not sc.at_end():
            raise _unparsable(clause)
    return ident, ascending


def _order_key(clause: str, grammar: OrderGrammar) -> OrderKey:
    ident, ascending = _split_clause(clause)
    valid = sorted(grammar.attributes)
    if ident.prefix is None:
        kind = "attribute"
    elif not grammar.prefixes:
        raise invalid_parameter(f"Invalid order by key '{ident.text}' specified. Valid keys are {valid}")
    else:
        kind = grammar.prefixes.get(ident.prefix)
        if kind is None:
            raise invalid_parameter(
                f"Invalid entity type '{ident.prefix}'. Valid entity types for ordering "
                f"{grammar.search} are {sorted(grammar.prefixes)}"
            )
    if kind not in grammar.kinds:
        raise invalid_parameter(f"Invalid order_by entity: {kind} (in '{clause}')")
    if ident.key == "":
        raise invalid_parameter(f"Invalid order_by clause '{clause}': the key is empty.")
    if kind != "attribute":
        return OrderKey(kind, ident.key, ascending)
    canonical = grammar.attributes.get(ident.key)
    if canonical is None:
        raise invalid_parameter(
            f"Invalid attribute key '{ident.key}' specified for ordering {grammar.search}. "
            f"Valid keys are {valid}"
        )
    return OrderKey(kind, canonical, ascending)


RUN_ORDER = OrderGrammar(
    search="runs",
    prefixes=RUN_PREFIXES,
    kinds=frozenset({"metric", "param", "tag", "attribute"}),
    attributes={
        "run_id": "run_id",
        "run_name": "run_name",
        "status": "status",
        "user_id": "user_id",
        "artifact_uri": "artifact_uri",
        "start_time": "start_time",
        "created": "start_time",
        "Created": "start_time",
        "end_time": "end_time",
    },
)

# MLflow's store sorts experiments without checking for repeated fields.
EXPERIMENT_ORDER = OrderGrammar(
    search="experiments",
    prefixes=REGISTRY_PREFIXES,
    kinds=frozenset({"attribute"}),
    attributes={k: k for k in ("name", "experiment_id", "creation_time", "last_update_time")},
    reject_duplicates=False,
)

# MLflow's SQL registry sorts by name or by last-updated time; "timestamp" is its old spelling.
REGISTERED_MODEL_ORDER = OrderGrammar(
    search="registered models",
    prefixes={},
    kinds=frozenset({"attribute"}),
    attributes={
        "name": "name",
        "timestamp": "last_updated_timestamp",
        "last_updated_timestamp": "last_updated_timestamp",
    },
)

MODEL_VERSION_ORDER = OrderGrammar(
    search="model versions",
    prefixes=REGISTRY_PREFIXES,
    kinds=frozenset({"attribute"}),
    attributes={k: k for k in ("name", "version_number", "creation_timestamp", "last_updated_timestamp")},
)

_LOGGED_MODEL_ORDER_ATTRIBUTES = {
    "name": "name",
    "model_id": "model_id",
    "model_type": "model_type",
    "status": "status",
    "source_run_id": "source_run_id",
    "creation_timestamp": "creation_timestamp",
    "creation_time": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
    "last_updated_time": "last_updated_timestamp",
}


def parse_run_order_by(clauses: Sequence[str]) -> list[OrderKey]:
    return parse_order_by(clauses, RUN_ORDER)


def parse_experiment_order_by(clauses: Sequence[str]) -> list[OrderKey]:
    return parse_order_by(clauses, EXPERIMENT_ORDER)


def parse_registered_model_order_by(clauses: Sequence[str]) -> list[OrderKey]:
    return parse_order_by(clauses, REGISTERED_MODEL_ORDER)


def parse_model_version_order_by(clauses: Sequence[str]) -> list[OrderKey]:
    return parse_order_by(clauses, MODEL_VERSION_ORDER)


def parse_logged_model_order_by(field_name: str, ascending: bool = True) -> OrderKey:
    """One `SearchLoggedModels.order_by` entry, which is structured: `metrics.<name>` or an attribute."""
    if "." in field_name:
        entity, key = field_name.split(".", 1)
        if entity != "metrics" or not key:
            raise invalid_parameter(
                f"Invalid order by field name: {field_name}. Only `metrics.<name>` is allowed."
            )
        return OrderKey("metric", key, ascending)
    canonical = _LOGGED_MODEL_ORDER_ATTRIBUTES.get(field_name.strip())
    if canonical is None:
        raise invalid_parameter(f"Invalid order by field name: {field_name}.")
    return OrderKey("attribute", canonical, ascending)


# --- traces (SearchTracesV3) -------------------------------------------------------------------

# SearchTraceUtils.VALID_ORDER_BY_ATTRIBUTE_KEYS, aliases resolved; `name` and `run_id` become the
# trace-name tag and the source-run metadata through `resolve_trace_key`.
TRACE_ORDER_ATTRIBUTES = frozenset(
    {
        "experiment_id",
        "timestamp",
        "timestamp_ms",
        "execution_time",
        "execution_time_ms",
        "end_time",
        "end_time_ms",
        "status",
        "request_id",
        "name",
        "run_id",
    }
)


def parse_trace_order_by(clauses: Sequence[str] | None) -> list[OrderKey]:
    """`SearchTracesV3.order_by`: trace attributes, tags and metadata, each at most once."""
    keys: list[OrderKey] = []
    seen: set[tuple[str, str]] = set()
    for clause in clauses or ():
        key = _trace_order_key(clause)
        if (key.kind, key.key) in seen:
            raise invalid_parameter(f"`order_by` contains duplicate fields: {list(clauses)}")
        seen.add((key.kind, key.key))
        keys.append(key)
    return keys


def _trace_order_key(clause: str) -> OrderKey:
    ident, ascending = _split_clause(clause)
    kind = trace_kind(ident, "ordering")
    if ident.key == "":
        raise invalid_parameter(f"Invalid order_by clause '{clause}': the key is empty.")
    if kind == "attribute" and ident.key not in TRACE_ORDER_ATTRIBUTES:
        raise invalid_parameter(
            f"Invalid attribute key '{ident.key}' specified for ordering traces. "
            f"Valid keys are {sorted(TRACE_ORDER_ATTRIBUTES)}"
        )
    kind, key = resolve_trace_key(kind, ident.key)
    if kind not in ("attribute", "tag", "metadata"):
        raise invalid_parameter(
            f"Invalid order_by entity: {kind} (in '{clause}'). Traces can be ordered by their "
            "attributes, tags and metadata."
        )
    if kind == "metadata" and key in TRACE_RESERVED_METADATA:
        raise invalid_parameter(
            f"Ordering by reserved metadata '{key}' is not supported because it is "
            "represented by multiple columns."
        )
    return OrderKey(kind, key, ascending)
