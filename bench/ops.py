"""One client's operations, as the mlflow client sends them (same paths, same JSON). Each factory takes
picklable arguments plus the client's index and returns a zero-argument call, so the same operation
runs in this process or in each of N client processes (bench/client.py)."""

from __future__ import annotations

import itertools
import os
import random
import time
import uuid
from collections.abc import Callable

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from bench.client import Http
from bench.echo import ECHO_METHOD

API = "/api/2.0/mlflow"
BATCH_KEYS, BATCH_STEPS = 100, 10  # 1000 metric points per log-batch, MLflow's per-request limit
LEARNING_RATES = ("0.1", "0.01", "0.001", "0.0001")
SEARCH_FILTER = "metrics.acc > 0.5 and params.lr = '0.01'"
HISTORY_PAGE = 25000  # mlflow's GET_METRIC_HISTORY_MAX_RESULTS: the client's page size


def now_ms() -> int:
    return int(time.time() * 1000)


def create_experiment(http: Http, prefix: str) -> str:
    return http.post(f"{API}/experiments/create", {"name": f"{prefix}-{uuid.uuid4().hex[:10]}"})[
        "experiment_id"
    ]


def create_run(http: Http, experiment_id: str) -> str:
    return http.post(f"{API}/runs/create", {"experiment_id": experiment_id, "start_time": now_ms()})["run"][
        "info"
    ]["run_id"]


def health(url: str, index: int) -> Callable[[], object]:
    http = Http(url)
    return lambda: http.request("GET", "/health")


def runs_create(url: str, experiment_id: str, index: int) -> Callable[[], object]:
    http = Http(url)
    return lambda: create_run(http, experiment_id)


def log_metric(url: str, experiment_id: str, index: int) -> Callable[[], object]:
    http = Http(url)
    run_id = create_run(http, experiment_id)
    steps = itertools.count()

    def call() -> object:
        step = next(steps)
        body = {"run_id": run_id, "key": "loss", "value": 1 / (step + 1), "timestamp": now_ms(), "step": step}
        return http.post(f"{API}/runs/log-metric", body)

    return call


def metric_batch(call_number: int) -> list[dict]:
    """1000 points: 100 keys x 10 steps, the steps moving on with each call (no duplicate points)."""
    ts, first = now_ms(), call_number * BATCH_STEPS
    return [
        {"key": f"m{k}", "value": k + s / 7, "timestamp": ts, "step": first + s}
        for s in range(BATCH_STEPS)
        for k in range(BATCH_KEYS)
    ]


def log_batch(url: str, experiment_id: str, index: int) -> Callable[[], object]:
    http = Http(url)
    run_id = create_run(http, experiment_id)
    calls = itertools.count()
    return lambda: http.post(
        f"{API}/runs/log-batch", {"run_id": run_id, "metrics": metric_batch(next(calls))}
    )


def grpc_log_batch(target: str, experiment_id: str, index: int) -> Callable[[], object]:
    from flowport.sdk import FlowportClient
    from flowport.v1 import tracking_pb2

    client = FlowportClient(target)
    run_id = client.tracking.CreateRun(tracking_pb2.CreateRun(experiment_id=experiment_id)).run.info.run_id
    calls = itertools.count()

    def call() -> object:
        metrics = [tracking_pb2.Metric(**m) for m in metric_batch(next(calls))]
        return client.tracking.LogBatch(tracking_pb2.LogBatch(run_id=run_id, metrics=metrics))

    return call


def grpc_metric_stream(target: str, experiment_id: str, steps_per_call: int) -> Callable[[], object]:
    """One LogMetricStream per call: BATCH_KEYS keys x `steps_per_call` steps as columns, the steps
    moving on with each call (no duplicate points)."""
    from flowport.sdk import FlowportClient
    from flowport.v1 import tracking_pb2

    client = FlowportClient(target)
    run_id = client.tracking.CreateRun(tracking_pb2.CreateRun(experiment_id=experiment_id)).run.info.run_id
    calls = itertools.count()

    def call() -> object:
        ts, first = now_ms(), next(calls) * steps_per_call
        steps = list(range(first, first + steps_per_call))
        timestamps = [ts] * steps_per_call
        columns = [(f"m{k}", [k + s / 7 for s in steps], timestamps, steps) for k in range(BATCH_KEYS)]
        return client.log_metric_stream(run_id, columns)

    return call


def grpc_echo(target: str, index: int) -> Callable[[], object]:
    channel = grpc.insecure_channel(target)
    echo = channel.unary_unary(ECHO_METHOD)
    return lambda: echo(b"{}")


def populate_runs(url: str, experiment_id: str, seed: int, index: int) -> Callable[[], object]:
    """One run per call, the fastest way MLflow's REST API has: runs/create, then one log-batch with its
    metrics, params and a tag."""
    http = Http(url)
    rng = random.Random(seed * 1000 + index)

    def call() -> object:
        run_id = create_run(http, experiment_id)
        ts = now_ms()
        return http.post(
            f"{API}/runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [
                    {"key": "acc", "value": rng.random(), "timestamp": ts, "step": 0},
                    {"key": "loss", "value": rng.random(), "timestamp": ts, "step": 0},
                ],
                "params": [
                    {"key": "lr", "value": rng.choice(LEARNING_RATES)},
                    {"key": "batch", "value": str(rng.choice((16, 32, 64)))},
                ],
                "tags": [{"key": "team", "value": rng.choice(("a", "b", "c"))}],
            },
        )

    return call


def search_runs(http: Http, experiment_id: str) -> dict:
    return http.post(
        f"{API}/runs/search",
        {
            "experiment_ids": [experiment_id],
            "filter": SEARCH_FILTER,
            "order_by": ["metrics.acc DESC"],
            "max_results": 100,
        },
    )


def metric_history(http: Http, run_id: str, key: str) -> int:
    """The whole history, page by page as MlflowClient.get_metric_history fetches it; the point count."""
    points, token = 0, None
    while True:
        params = {"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE}
        if token:
            params["page_token"] = token
        page = http.get(f"{API}/metrics/get-history", params)
        points += len(page.get("metrics", ()))
        token = page.get("next_page_token")
        if not token:
            return points


def _otlp_export(traces: int, rng: random.Random) -> bytes:
    """`traces` traces of two spans each (a root and one child), as an OTel SDK batch would send."""
    export = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = export.resource_spans.add()
    resource_spans.resource.attributes.append(
        common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="bench"))
    )
    spans = resource_spans.scope_spans.add().spans
    start = time.time_ns()
    for _ in range(traces):
        trace_id = rng.randbytes(16)
        root = trace_pb2.Span(
            trace_id=trace_id,
            span_id=rng.randbytes(8),
            name="pipeline",
            start_time_unix_nano=start,
            end_time_unix_nano=start + 30_000_000,
            status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_OK),
        )
        child = trace_pb2.Span(
            trace_id=trace_id,
            span_id=rng.randbytes(8),
            parent_span_id=root.span_id,
            name="score",
            start_time_unix_nano=start + 1_000_000,
            end_time_unix_nano=start + 29_000_000,
            attributes=[common_pb2.KeyValue(key="model", value=common_pb2.AnyValue(string_value="m1"))],
        )
        spans.extend((root, child))
    return export.SerializeToString()


def otlp_ingest(url: str, experiment_id: str, traces_per_export: int, index: int) -> Callable[[], object]:
    http = Http(url)
    rng = random.Random(int.from_bytes(os.urandom(8)))
    headers = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id}
    return lambda: http.request("POST", "/v1/traces", _otlp_export(traces_per_export, rng), headers)


def search_traces(http: Http, experiment_id: str) -> dict:
    return http.post(
        "/api/3.0/mlflow/traces/search",
        {
            "locations": [
                {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}
            ],
            "filter": "trace.status = 'OK'",
            "max_results": 100,
            "order_by": ["timestamp_ms DESC"],
        },
    )


def get_experiment(url: str, experiment_id: str, index: int) -> Callable[[], object]:
    """A small read that a proxy must forward (unlike /health): the proxy-overhead probe."""
    http = Http(url)
    return lambda: http.get(f"{API}/experiments/get", {"experiment_id": experiment_id})
