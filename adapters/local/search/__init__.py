"""MLflow's search grammar as a pure parser: filter strings, order_by clauses and page tokens.

Backends translate the parsed `Comparison`s and `OrderKey`s into their own queries; nothing here
touches a database.
"""

from flowport.adapters.local.search.filter import (
    Comparison,
    parse_experiment_filter,
    parse_logged_model_filter,
    parse_model_version_filter,
    parse_registered_model_filter,
    parse_run_filter,
    parse_trace_filter,
)
from flowport.adapters.local.search.order_by import (
    OrderKey,
    parse_experiment_order_by,
    parse_logged_model_order_by,
    parse_model_version_order_by,
    parse_registered_model_order_by,
    parse_run_order_by,
    parse_trace_order_by,
)
from flowport.adapters.local.search.page_token import (
    decode_keyset_token,
    decode_page_token,
    encode_page_token,
)

__all__ = [
    "Comparison",
    "OrderKey",
    "decode_keyset_token",
    "decode_page_token",
    "encode_page_token",
    "parse_experiment_filter",
    "parse_experiment_order_by",
    "parse_logged_model_filter",
    "parse_logged_model_order_by",
    "parse_model_version_filter",
    "parse_model_version_order_by",
    "parse_registered_model_filter",
    "parse_registered_model_order_by",
    "parse_run_filter",
    "parse_run_order_by",
    "parse_trace_filter",
    "parse_trace_order_by",
]
