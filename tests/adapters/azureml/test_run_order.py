"""The gateway's ordering of runs for Azure ML: MLflow's own `SearchUtils.sort` is the reference."""

from __future__ import annotations

import math
import random

import pytest
from google.protobuf import json_format
from mlflow.entities import Run as MlflowRun
from mlflow.protos import service_pb2
from mlflow.utils.search_utils import SearchUtils

from flowport.adapters.azureml.run_order import gateway_order, sort_runs
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError
from flowport.v1.json_codec import message_to_dict

_MISSING = object()


def _run(run_id: str, start_time: int, *, acc=_MISSING, loss=_MISSING, model=_MISSING, fold=_MISSING, **info):
    run = tracking_pb2.Run()
    run.info.run_id = run.info.run_uuid = run_id
    run.info.experiment_id = "1"
    run.info.start_time = start_time
    run.info.status = tracking_pb2.FINISHED
    run.info.run_name = info.get("run_name", run_id[:4])
    if "end_time" in info:
        run.info.end_time = info["end_time"]
    for key, value in (("acc", acc), ("loss", loss)):
        if value is not _MISSING:
            run.data.metrics.add(key=key, value=value, timestamp=0, step=0)
    if model is not _MISSING:
        run.data.params.add(key="model", value=model)
    if fold is not _MISSING:
        run.data.tags.add(key="fold", value=fold)
    return run


def _reference(runs, order_by):
    """MLflow's in-memory order (file store), on MLflow's own entities."""
    entities = [
        MlflowRun.from_proto(json_format.ParseDict(message_to_dict(run), service_pb2.Run())) for run in runs
    ]
    return [r.info.run_id for r in SearchUtils.sort(entities, order_by)]


def _ids(runs):
    return [r.info.run_id for r in runs]


def test_missing_and_nan_metrics_go_last_in_either_direction():
    runs = [
        _run("a" * 32, 1, acc=0.5),
        _run("b" * 32, 2, acc=math.nan),
        _run("c" * 32, 3),
        _run("d" * 32, 4, acc=0.9),
        _run("e" * 32, 5, acc=0.1),
    ]
    for order_by in (["metrics.acc DESC"], ["metrics.acc ASC"], ["metrics.`acc`"]):
        got = _ids(sort_runs(runs, gateway_order(order_by)))
        assert got[-2:] == ["b" * 32, "c" * 32], order_by
        assert got == _reference(runs, order_by)
    assert _ids(sort_runs(runs, gateway_order(["metrics.acc DESC"])))[:3] == ["d" * 32, "a" * 32, "e" * 32]


def test_ties_fall_to_start_time_descending_then_run_id():
    runs = [_run("b" * 32, 5, acc=1.0), _run("a" * 32, 5, acc=1.0), _run("c" * 32, 9, acc=1.0)]
    assert _ids(sort_runs(runs, gateway_order(["metrics.acc"]))) == ["c" * 32, "a" * 32, "b" * 32]
    # A clause on start_time replaces the default; run_id still breaks ties.
    assert _ids(sort_runs(runs, gateway_order(["metrics.acc", "start_time ASC"]))) == [
        "a" * 32,
        "b" * 32,
        "c" * 32,
    ]


def test_attribute_only_orders_are_left_to_azure_and_bad_clauses_are_refused():
    assert gateway_order([]) is None
    assert gateway_order(["attributes.start_time DESC", "run_name"]) is None
    assert gateway_order(["params.model"]) is not None and gateway_order(["tags.`a b` DESC"]) is not None
    for bad in (["metrics.acc SIDEWAYS"], ["metrics.acc", "metrics.acc DESC"], ["nope.x"], [" metrics.acc"]):
        with pytest.raises(ApiError) as info:
            gateway_order(bad)
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("seed", range(25))
def test_random_runs_and_orders_sort_as_mlflow_does(seed):
    rng = random.Random(seed)
    pick = lambda *choices: rng.choice(choices)  # noqa: E731
    runs = [
        _run(
            f"{rng.getrandbits(128):032x}",
            pick(100, 200, 300),
            acc=pick(_MISSING, math.nan, 0.1, 0.5, 0.5, 0.9, -1.0, math.inf),
            loss=pick(_MISSING, 1.0, 2.0, 2.0),
            model=pick(_MISSING, "cnn", "mlp", "rnn", "Z", ""),
            fold=pick(_MISSING, "0", "1", "10"),
            run_name=pick("x", "y", "z"),
            **({"end_time": pick(400, 500)} if rng.random() < 0.7 else {}),
        )
        for _ in range(40)
    ]
    keys = ["metrics.acc", "metrics.loss", "params.model", "tags.fold", "attributes.start_time", "run_name"]
    for _ in range(10):
        chosen = rng.sample(keys, rng.randint(1, 3))
        if all(k in ("attributes.start_time", "run_name") for k in chosen):
            chosen.append("metrics.acc")
        order_by = [f"{k} {pick('ASC', 'DESC', '')}".strip() for k in chosen]
        assert _ids(sort_runs(runs, gateway_order(order_by))) == _reference(runs, order_by), order_by
