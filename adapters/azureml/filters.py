"""Search filters Azure ML cannot evaluate (clouds.md §2.4), refused here with a clear message.

- OR: MLflow's own grammar has no OR either (its stores answer "Invalid clause(s)"); a filter with
  one is refused naming Azure ML before it is sent.
- Registered models: Azure documents no search by tag and no LIKE/ILIKE. The stock MLflow 3 client
  appends ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every registered-model search against a
  non-Databricks registry; Azure ML has no prompts, so exactly that trailing clause is dropped and
  any other tag or LIKE clause is refused.
"""

from __future__ import annotations

import re

from flowport.adapters.local.search import parse_registered_model_filter
from flowport.v1.errors import ApiError, invalid_parameter
from flowport.v1.mlflow_tags import PROMPT_TAG

# Quoted strings and backticked keys, whose contents may spell OR without being one.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`")
_OR = re.compile(r"\bOR\b", re.IGNORECASE)
# The clause the stock client appends (prompt/registry_utils.py::add_prompt_filter_string).
_PROMPT_EXCLUSION = re.compile(
    r"^(?P<rest>.*?)(?:(?:^|\s+)AND\s+|^\s*)tags?\.`mlflow\.prompt\.is_prompt`\s*!=\s*(['\"])true\2\s*$",
    re.IGNORECASE | re.DOTALL,
)


def reject_or(filter_string: str | None, target: str = "Azure ML") -> None:
    """INVALID_PARAMETER_VALUE when the filter joins clauses with OR."""
    if filter_string and _OR.search(_QUOTED.sub("''", filter_string)):
        raise invalid_parameter(
            f"{target} does not support OR in search filters (nor does MLflow's filter grammar): "
            f"run one search per alternative and combine the results. Filter: {filter_string!r}"
        )


def registered_model_filter(filter_string: str | None, target: str = "Azure ML") -> str:
    """The filter to send to Azure ML for a registered-model search; refuses what it cannot do."""
    if not filter_string:
        return ""
    reject_or(filter_string, target)
    match = _PROMPT_EXCLUSION.match(filter_string)
    rest = match["rest"].strip() if match else filter_string
    for comparison in parse_registered_model_filter(rest):
        if comparison.kind == "tag" and comparison.key == PROMPT_TAG:
            raise ApiError(
                f"{target} has no prompt registry: prompts need an MLflow server or Unity Catalog "
                f"backend. Filter: {filter_string!r}",
                "INVALID_PARAMETER_VALUE",
            )
        if comparison.kind == "tag":
            raise invalid_parameter(
                f"{target} cannot search registered models by tag (tag '{comparison.key}'): search "
                "by name and filter the results by their tags instead"
            )
        if comparison.op in ("LIKE", "ILIKE"):
            raise invalid_parameter(
                f"{target} does not support {comparison.op} in registered model searches: search by "
                f"exact name (name = '...') or without a filter. Filter: {filter_string!r}"
            )
    return rest
