"""Filters Azure ML cannot evaluate: OR, and tag or LIKE searches of registered models."""

from __future__ import annotations

import pytest
from mlflow.prompt.registry_utils import add_prompt_filter_string

from flowport.adapters.azureml.filters import registered_model_filter, reject_or
from flowport.v1.errors import ApiError


@pytest.mark.parametrize(
    "text",
    [
        "metrics.a > 1 OR metrics.b > 1",
        "params.x = 'a' or params.x = 'b'",
        "tags.t = 'x' AND (metrics.a < 1 OR metrics.a > 2)",
    ],
)
def test_or_is_refused_naming_azure_ml(text):
    with pytest.raises(ApiError) as info:
        reject_or(text)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE" and "Azure ML" in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "params.x = 'OR'",
        "tags.`OR` = 'x'",
        "attributes.run_name = 'this or that'",
        "tags.color = 'ORANGE'",
    ],
)
def test_or_inside_values_and_keys_is_not_an_or(text):
    reject_or(text)


@pytest.mark.parametrize(
    ("user_filter", "sent"),
    [
        (None, ""),
        ("name = 'm1'", "name = 'm1'"),
        ("name != 'm1'", "name != 'm1'"),
    ],
)
def test_the_stock_clients_prompt_exclusion_is_dropped_exactly(user_filter, sent):
    with_prompt_clause = add_prompt_filter_string(user_filter, False)  # what the MLflow 3 client sends
    assert "mlflow.prompt.is_prompt" in with_prompt_clause
    assert registered_model_filter(with_prompt_clause) == sent


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tags.domain = 'math'", "by tag"),
        ("name = 'm' AND tags.`mlflow.prompt.is_prompt` != 'true' AND tags.x = 'y'", "prompt registry"),
        ("name LIKE 'm%'", "LIKE"),
        ("name ILIKE 'M%' AND tag.`mlflow.prompt.is_prompt` != 'true'", "ILIKE"),
        ("tags.`mlflow.prompt.is_prompt` = 'true'", "prompt registry"),
        ("name = 'a' OR name = 'b'", "OR"),
    ],
)
def test_what_azure_cannot_search_is_refused(text, fragment):
    with pytest.raises(ApiError) as info:
        registered_model_filter(text)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Azure ML" in info.value.message and fragment in info.value.message


def test_a_malformed_filter_gets_mlflows_own_error():
    with pytest.raises(ApiError) as info:
        registered_model_filter("name === 'x'")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
