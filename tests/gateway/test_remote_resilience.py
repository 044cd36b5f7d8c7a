"""Faults between flowport and a remote MLflow server, injected by a proxy in front of a real one.

The stock client (with its own retries off) or the gRPC SDK calls a real `flowport serve` whose
`mlflow` backend goes through `UpstreamProxy` to a real `mlflow server`. The proxy throttles,
fails, resets connections before and after the upstream did the work, stalls, or plays dead;
its record of what reached the upstream is how the tests count attempts and duplicates.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from flowport.sdk import FlowportClient
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError
from tests.fixtures.processes import run_gateway, run_mlflow_server
from tests.fixtures.upstream_proxy import Delay, ForwardThenReset, Reset, Respond, UpstreamProxy

BREAKER_OPEN_SECONDS = 2
BUDGET_TOKENS = 10

CONFIG = """
backends:
  remote:
    kind: mlflow
    url: {url}
    retry:
      max_attempts: 4
      initial_backoff: 0.05
      max_backoff: 0.5
      call_timeout: 8
      attempt_timeout: 4
      breaker_failures: 5
      breaker_open_seconds: {breaker}
      budget_tokens: {budget}
workspaces:
  default: remote
"""


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """A real mlflow server behind the fault-injecting proxy, shared by the module."""
    data_dir = tmp_path_factory.mktemp("resilience-remote")
    with run_mlflow_server(data_dir) as url, UpstreamProxy(url) as proxy:
        yield proxy


@pytest.fixture
def proxy(upstream):
    upstream.clear_faults()
    upstream.set_dead(False)
    upstream.clear_records()
    return upstream


@pytest.fixture
def flowport(proxy, tmp_path):
    """A fresh flowport per test: its retry budget and circuit breaker start full and closed."""
    config = CONFIG.format(url=proxy.url, breaker=BREAKER_OPEN_SECONDS, budget=BUDGET_TOKENS)
    with run_gateway(tmp_path / "gateway", config=config) as gw:
        yield gw


@pytest.fixture
def client(flowport, monkeypatch):
    # Only the gateway retries: a client-side retry would hide what the gateway did.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return MlflowClient(flowport.url, flowport.url)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_throttling_with_retry_after_is_absorbed(client, proxy):
    exp_id = client.create_experiment(_name("throttled"))
    proxy.inject(
        "GET", r"/experiments/get$", Respond.throttled(retry_after=1), Respond.throttled(retry_after=1)
    )
    assert client.get_experiment(exp_id).experiment_id == exp_id
    attempts = proxy.recorded("GET", r"/experiments/get$")
    assert [r.outcome for r in attempts] == ["injected-response", "injected-response", "forwarded"]


def test_a_burst_of_503s_and_resets_is_absorbed_for_idempotent_calls(client, proxy):
    exp_id = client.create_experiment(_name("burst"))
    run = client.create_run(exp_id)
    client.log_param(run.info.run_id, "lr", "0.1")
    proxy.inject("POST", r"/runs/log-parameter$", Respond.unavailable(), Reset(), ForwardThenReset())
    client.log_param(run.info.run_id, "batch", "32")
    assert client.get_run(run.info.run_id).data.params == {"lr": "0.1", "batch": "32"}
    outcomes = [r.outcome for r in proxy.recorded("POST", r"/runs/log-parameter$")]
    assert outcomes[-4:] == ["injected-response", "reset", "forwarded-then-reset", "forwarded"]


def test_ambiguous_create_run_makes_one_run(client, proxy):
    exp_id = client.create_experiment(_name("ambiguous-run"))
    proxy.inject("POST", r"/runs/create$", ForwardThenReset(), ForwardThenReset())
    run = client.create_run(exp_id, tags={"team": "vision"})
    runs = client.search_runs([exp_id])
    assert [r.info.run_id for r in runs] == [run.info.run_id]
    # The upstream made the run on the first attempt; later attempts found it instead of making more.
    assert len(proxy.recorded("POST", r"/runs/create$", reached_upstream=True)) == 1
    assert run.data.tags["team"] == "vision"
    assert "flowport.request_id" not in run.data.tags and "flowport.request_id" not in runs[0].data.tags


def test_create_run_never_sent_is_simply_retried(client, proxy):
    exp_id = client.create_experiment(_name("unsent-run"))
    proxy.inject("POST", r"/runs/create$", Reset())
    run = client.create_run(exp_id)
    assert [r.info.run_id for r in client.search_runs([exp_id])] == [run.info.run_id]


def test_ambiguous_create_experiment_and_registered_model_resolve_by_name(client, proxy):
    name = _name("ambiguous-exp")
    proxy.inject("POST", r"/experiments/create$", ForwardThenReset())
    exp_id = client.create_experiment(name, tags={"k": "v"})
    assert client.get_experiment_by_name(name).experiment_id == exp_id
    assert client.get_experiment(exp_id).tags == {"k": "v"}

    model = _name("ambiguous-model")
    proxy.inject("POST", r"/registered-models/create$", ForwardThenReset())
    assert client.create_registered_model(model).name == model
    # A real duplicate is still a duplicate: the request ids differ.
    with pytest.raises(MlflowException) as info:
        client.create_registered_model(model)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as info:
        client.create_experiment(name)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_ambiguous_create_model_version_makes_one_version(client, proxy):
    exp_id = client.create_experiment(_name("ambiguous-mv"))
    run = client.create_run(exp_id)
    model = _name("ambiguous-mv")
    client.create_registered_model(model)
    proxy.inject("POST", r"/model-versions/create$", ForwardThenReset(), Respond.unavailable())
    version = client.create_model_version(model, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    assert version.version == "1"
    assert [v.version for v in client.search_model_versions(f"name = '{model}'")] == ["1"]
    assert "flowport.request_id" not in version.tags
    again = client.create_model_version(model, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    assert again.version == "2"


def test_ambiguous_create_prompt_version_makes_one_version(flowport, client, proxy):
    """MLflow hides prompt versions from a search that does not ask for them: the retry's lookup must."""
    prompt = _name("ambiguous-prompt")
    is_prompt = {"key": "mlflow.prompt.is_prompt", "value": "true"}
    # As the client's prompt registry sends them (MlflowClient's model calls refuse prompt tags).
    api = f"{flowport.url}/api/2.0/mlflow"
    made = httpx.post(f"{api}/registered-models/create", json={"name": prompt, "tags": [is_prompt]})
    assert made.status_code == 200, made.text
    tags = [is_prompt, {"key": "mlflow.prompt.text", "value": "Hello {{name}}"}]
    proxy.inject("POST", r"/model-versions/create$", ForwardThenReset(), Respond.unavailable())
    version = {"name": prompt, "source": "dummy-source", "tags": tags}
    answer = httpx.post(f"{api}/model-versions/create", json=version, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"]["version"] == "1"
    found = client.search_model_versions(f"name = '{prompt}' AND tags.`mlflow.prompt.is_prompt` = 'true'")
    assert [v.version for v in found] == ["1"]
    assert len(proxy.recorded("POST", r"/model-versions/create$", reached_upstream=True)) == 1


def test_log_batch_over_the_limits_is_split_and_only_the_lost_part_is_resent(flowport, proxy):
    with FlowportClient(flowport.grpc_target) as fp:
        exp_id = fp.tracking.CreateExperiment(
            tracking_pb2.CreateExperiment(name=_name("split"))
        ).experiment_id
        run_id = fp.tracking.CreateRun(tracking_pb2.CreateRun(experiment_id=exp_id)).run.info.run_id
        proxy.clear_records()
        # Parts: 2 of params (100 + 50), 3 of metrics (1000 + 1000 + 500); the 4th part's answer is lost.
        proxy.inject("POST", r"/runs/log-batch$", Delay(0), Delay(0), Delay(0), ForwardThenReset())
        request = tracking_pb2.LogBatch(run_id=run_id)
        request.params.extend(tracking_pb2.Param(key=f"p{i}", value=str(i)) for i in range(150))
        request.metrics.extend(
            tracking_pb2.Metric(key="loss", value=1.0 / (i + 1), timestamp=1_700_000_000_000 + i, step=i)
            for i in range(2500)
        )
        fp.tracking.LogBatch(request)
        history = fp.tracking.GetMetricHistory(
            tracking_pb2.GetMetricHistory(run_id=run_id, metric_key="loss", max_results=5000)
        ).metrics
    assert sorted(m.step for m in history) == list(range(2500))
    sent = proxy.recorded("POST", r"/runs/log-batch$")
    sizes = [(len(r.json().get("params", [])), len(r.json().get("metrics", []))) for r in sent]
    assert sizes == [(100, 0), (50, 0), (0, 1000), (0, 1000), (0, 1000), (0, 500)]
    assert sent[3].body == sent[4].body and sent[3].outcome == "forwarded-then-reset"


def test_a_slow_upstream_never_holds_a_call_past_its_deadline(flowport, proxy):
    exp_id = MlflowClient(flowport.url).create_experiment(_name("slow"))
    proxy.inject("GET", r"/experiments/get$", *[Delay(5)] * 10)
    with FlowportClient(flowport.grpc_target) as fp:
        with pytest.raises(ApiError) as info:
            fp.tracking.GetExperiment(tracking_pb2.GetExperiment(experiment_id=exp_id), timeout=2.0)
    assert info.value.error_code == "DEADLINE_EXCEEDED"
    # The one attempt the 2 s deadline had room for; none started after it (the proxy records a
    # delayed request once its delay is over, hence the wait).
    time.sleep(5)
    assert len(proxy.recorded("GET", r"/experiments/get$")) == 1

    # Without a client deadline, the backend's call_timeout (8 s) bounds all attempts (4 s each).
    proxy.clear_records()
    reply = httpx.get(
        f"{flowport.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": exp_id}, timeout=60
    )
    assert reply.status_code == 504 and reply.json()["error_code"] == "DEADLINE_EXCEEDED"
    assert "'remote'" in reply.json()["message"]
    time.sleep(5)
    assert len(proxy.recorded("GET", r"/experiments/get$")) == 2


def test_circuit_opens_on_a_dead_backend_and_closes_when_it_returns(flowport, proxy):
    proxy.set_dead(True)
    errors = []
    for _ in range(4):
        reply = httpx.get(f"{flowport.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
        errors.append(reply.json())
        assert reply.status_code == 503 and reply.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert "'remote'" in errors[0]["message"]
    reached = len(proxy.records)
    # Open now: calls fail fast without touching the upstream.
    for _ in range(5):
        reply = httpx.get(f"{flowport.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
        assert reply.status_code == 503 and "circuit breaker" in reply.json()["message"]
    assert len(proxy.records) == reached
    # The backend comes back; after the pause one probe goes through and the circuit closes.
    proxy.set_dead(False)
    time.sleep(BREAKER_OPEN_SECONDS + 0.2)
    reply = httpx.get(f"{flowport.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
    assert reply.status_code == 200 and reply.json()["experiment"]["name"] == "Default"


def test_retry_budget_bounds_the_attempts_against_a_failing_backend(flowport, proxy):
    proxy.inject("GET", r"/experiments/get$", *[Respond.unavailable()] * 200)
    calls = 3
    for _ in range(calls):
        reply = httpx.get(f"{flowport.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
        assert reply.status_code == 503
    attempts = len(proxy.recorded("GET", r"/experiments/get$"))
    # Unbudgeted, 3 calls × 4 attempts = 12; the bucket (10 tokens, no retries at ≤ 5) stops them sooner.
    assert calls < attempts <= calls + BUDGET_TOKENS // 2


def test_grpc_status_of_a_dead_backend_is_unavailable(flowport, proxy):
    proxy.set_dead(True, how="503")
    with FlowportClient(flowport.grpc_target) as fp:
        with pytest.raises(ApiError) as info:
            fp.tracking.GetExperiment(tracking_pb2.GetExperiment(experiment_id="0"), timeout=30)
    assert info.value.error_code == "TEMPORARILY_UNAVAILABLE" and "'remote'" in info.value.message
