"""JSON bodies → messages: the keyword-construction fast path gives exactly what ParseDict gives, and
every body it does not handle still gets ParseDict's answer (the same message or the same error)."""

from __future__ import annotations

import math

import pytest
from google.protobuf import json_format

from flowport.v1 import json_fast_path, registry_pb2, tracing_pb2, tracking_pb2
from flowport.v1.errors import ApiError
from flowport.v1.json_codec import dict_to_message

METRIC = {"key": "loss", "value": 0.5, "timestamp": 1700000000000, "step": 3}

BUILT = [
    (tracking_pb2.LogBatch, {"run_id": "r" * 32, "metrics": [METRIC] * 3}),
    # An int for a double.
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [{"key": "k", "value": 2, "timestamp": 0}]}),
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [], "params": [{"key": "p", "value": "1"}]}),
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [{}]}),  # an empty element is still an element
    (tracking_pb2.SearchRuns, {"experiment_ids": ["1", "2"], "max_results": 10, "filter": "a = 'b'"}),
    (tracking_pb2.CreateRun, {"experiment_id": "0", "tags": [{"key": "a", "value": "b"}]}),
    (tracking_pb2.UpdateRun, {"run_id": "r", "end_time": 2}),
    (tracking_pb2.GetLoggedModel, {"model_id": "m"}),
    (tracking_pb2.LogMetric, {"run_id": "r", "key": "k", "value": -1e308, "timestamp": 1, "step": -(2**63)}),
    # NaN and ±inf as the JSON mapping (and the mlflow client) spell them.
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [{**METRIC, "value": "NaN"}, {"value": "Infinity"}]}),
    (tracking_pb2.LogMetric, {"run_id": "r", "key": "k", "value": "-Infinity", "timestamp": 1}),
]

GIVEN_UP = [
    (tracking_pb2.LogBatch, {"runId": "r", "metrics": [METRIC]}),  # camelCase: ParseDict's business
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [{**METRIC, "value": "nan"}]}),
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [{**METRIC, "value": "1.5"}]}),
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [{**METRIC, "timestamp": "17"}]}),
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [{**METRIC, "step": 1.0}]}),
    (tracking_pb2.LogBatch, {"run_id": None, "metrics": [METRIC]}),
    (tracking_pb2.SearchRuns, {"run_view_type": "ACTIVE_ONLY"}),  # an enum
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [{**METRIC, "step": 2**63}]}),  # out of range
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [{**METRIC, "value": 10**400}]}),
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [{**METRIC, "value": math.inf}]}),
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [{**METRIC, "value": math.nan}]}),
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": [{**METRIC, "step": True}]}),
    (tracking_pb2.LogBatch, {"run_id": 7, "metrics": []}),
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": {"key": "k"}}),
    (tracking_pb2.LogBatch, {"run_id": "r", "metrics": ["k"]}),
    (tracking_pb2.LogBatch, {"run_id": "r", "nonsense": 1}),
    (registry_pb2.SetRegisteredModelAlias, {"name": "m", "alias": "a", "version": 1}),  # number for a string
    (tracing_pb2.StartTraceV3, {"trace": {"trace_info": {"request_time": "2025-04-15T08:49:18.699Z"}}}),
]


def _parse_dict(cls, data):
    try:
        return json_format.ParseDict(data, cls())
    except json_format.ParseError as exc:
        return f"Invalid request for {cls.DESCRIPTOR.name}: {exc}"
    except Exception as exc:  # ParseDict's own failures (an int too large for a double) stay as they were
        return type(exc).__name__


def _ours(cls, data):
    try:
        return dict_to_message(data, cls())
    except ApiError as err:
        assert err.error_code == "INVALID_PARAMETER_VALUE"
        return err.message
    except Exception as exc:
        return type(exc).__name__


@pytest.mark.parametrize(("cls", "data"), BUILT)
def test_plain_bodies_are_built_and_equal_what_parse_dict_gives(cls, data):
    assert json_fast_path.build_into(data, cls())
    ours, theirs = _ours(cls, data), _parse_dict(cls, data)
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)
    assert [f.name for f, _ in ours.ListFields()] == [f.name for f, _ in theirs.ListFields()]


@pytest.mark.parametrize(("cls", "data"), GIVEN_UP)
def test_other_bodies_get_parse_dicts_answer_or_error(cls, data):
    message = cls()
    assert not json_fast_path.build_into(data, message)
    assert message == cls()  # untouched by the attempt
    assert _ours(cls, data) == _parse_dict(cls, data)


def test_a_repeated_field_is_replaced_as_parse_dict_replaces_it():
    data = {"run_id": "r", "metrics": [METRIC]}
    ours, theirs = tracking_pb2.LogBatch(), tracking_pb2.LogBatch()
    ours.metrics.add(key="old")
    theirs.metrics.add(key="old")
    dict_to_message(data, ours)
    json_format.ParseDict(data, theirs)
    assert ours == theirs and len(ours.metrics) == 1
