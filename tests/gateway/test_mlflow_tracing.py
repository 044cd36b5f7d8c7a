"""MLflow 3 tracing through flowport with the stock `mlflow` client, on SQLite and on PostgreSQL.

The client exports spans over OTLP (`/v1/traces`, because `/version` says ≥ 3.4) and the trace info
over `StartTraceV3`; every read below goes back through the REST API.
"""

from __future__ import annotations

import time
import uuid

import httpx
import mlflow
import pytest
from mlflow.entities import AssessmentSource, SpanEvent, SpanStatusCode
from mlflow.exceptions import MlflowException


@pytest.fixture
def experiment_id(client) -> str:
    return mlflow.set_experiment(f"traces-{uuid.uuid4().hex[:8]}").experiment_id


@mlflow.trace(span_type="TOOL")
def _add(a: int, b: int) -> int:
    return a + b


@mlflow.trace(name="agent")
def _agent(question: str) -> str:
    with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
        span.set_inputs({"query": question})
        span.set_attribute("k", 7)
        span.add_event(SpanEvent("cache-miss", attributes={"tier": "l1"}))
        span.set_outputs(["doc-1", "doc-2"])
    mlflow.update_current_trace(tags={"team": "search"})
    return f"answer {_add(40, 2)}"


@mlflow.trace
def _failing() -> None:
    raise ValueError("boom")


def _traced(fn, *args) -> str:
    try:
        fn(*args)
    except ValueError:
        pass
    mlflow.flush_trace_async_logging()
    return mlflow.get_last_active_trace_id()


def test_nested_spans_come_back_whole(client, experiment_id):
    trace_id = _traced(_agent, "why?")
    trace = client.get_trace(trace_id)

    assert trace.info.experiment_id == experiment_id
    assert trace.info.state.value == "OK"
    assert trace.info.tags["team"] == "search"
    assert trace.info.tags["mlflow.traceName"] == "agent"
    assert trace.info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert '"why?"' in trace.info.request_preview
    spans = {s.name: s for s in trace.data.spans}
    assert set(spans) == {"agent", "retrieve", "_add"}
    root = spans["agent"]
    assert root.parent_id is None and trace.data.spans[0].name == "agent"
    assert spans["retrieve"].parent_id == root.span_id and spans["_add"].parent_id == root.span_id
    assert spans["retrieve"].span_type == "RETRIEVER" and spans["_add"].span_type == "TOOL"
    assert spans["retrieve"].inputs == {"query": "why?"} and spans["retrieve"].outputs == ["doc-1", "doc-2"]
    assert spans["retrieve"].attributes["k"] == 7
    assert [(e.name, e.attributes) for e in spans["retrieve"].events] == [("cache-miss", {"tier": "l1"})]
    assert spans["_add"].inputs == {"a": 40, "b": 2} and spans["_add"].outputs == 42
    assert root.outputs == "answer 42"
    assert all(s.end_time_ns >= s.start_time_ns > 0 for s in trace.data.spans)


def test_errors_are_recorded(client, experiment_id):
    trace = client.get_trace(_traced(_failing))
    assert trace.info.state.value == "ERROR"
    (span,) = trace.data.spans
    assert span.status.status_code == SpanStatusCode.ERROR
    assert any(e.name == "exception" and "boom" in e.attributes["exception.message"] for e in span.events)


def test_search_traces_filters_orders_and_pages(client, experiment_id):
    ids = [_traced(_agent, f"q{i}") for i in range(3)]
    failed = _traced(_failing)
    client.set_trace_tag(ids[0], "pick", "me")

    def found(filter_string: str | None = None, **kwargs) -> list[str]:
        traces = mlflow.search_traces(
            locations=[experiment_id], filter_string=filter_string, return_type="list", **kwargs
        )
        return [t.info.trace_id for t in traces]

    assert found() == [failed, *reversed(ids)]  # newest first
    assert found(order_by=["timestamp_ms ASC"]) == [*ids, failed]
    assert found("tags.pick = 'me'") == [ids[0]]
    assert found("tag.`mlflow.traceName` = 'agent'") == list(reversed(ids))
    assert found("trace.status = 'ERROR'") == [failed]
    assert found("trace.name = '_failing'") == [failed]
    assert found("span.name = 'retrieve' AND tags.team = 'search'") == list(reversed(ids))
    assert found("span.type = 'TOOL'") == list(reversed(ids))
    assert found(f"trace.timestamp_ms > {int(time.time() * 1000) + 60_000}") == []
    assert set(found("trace.execution_time_ms >= 0")) == {*ids, failed}
    assert found("tags.pick IS NULL AND trace.status = 'OK'") == list(reversed(ids[1:]))

    first, token = client.search_traces(locations=[experiment_id], max_results=2), None
    token = first.token
    assert [t.info.trace_id for t in first] == [failed, ids[2]] and token
    rest = client.search_traces(locations=[experiment_id], max_results=2, page_token=token)
    assert [t.info.trace_id for t in rest] == [ids[1], ids[0]] and not rest.token

    with pytest.raises(MlflowException, match="(?i)invalid"):
        found("trace.nope = 'x'")


def test_traces_of_a_run(client, experiment_id):
    with mlflow.start_run() as run:
        in_run = _traced(_agent, "inside")
    outside = _traced(_agent, "outside")
    assert [t.info.trace_id for t in mlflow.search_traces(run_id=run.info.run_id, return_type="list")] == [
        in_run
    ]

    client.link_traces_to_run([outside], run.info.run_id)
    linked = mlflow.search_traces(run_id=run.info.run_id, return_type="list")
    assert {t.info.trace_id for t in linked} == {in_run, outside}


def test_tags_and_deletes(client, experiment_id):
    first, second, third = (_traced(_agent, f"d{i}") for i in range(3))
    client.set_trace_tag(first, "stage", "dev")
    assert client.get_trace(first).info.tags["stage"] == "dev"
    client.delete_trace_tag(first, "stage")
    assert "stage" not in client.get_trace(first).info.tags
    with pytest.raises(MlflowException) as missing_tag:
        client.delete_trace_tag(first, "stage")
    assert missing_tag.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    assert client.delete_traces(experiment_id, trace_ids=[first]) == 1
    with pytest.raises(MlflowException) as gone:
        client.get_trace(first)
    assert gone.value.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")

    cutoff = client.get_trace(second).info.request_time
    assert client.delete_traces(experiment_id, max_timestamp_millis=cutoff) == 1
    remaining = mlflow.search_traces(locations=[experiment_id], return_type="list")
    assert [t.info.trace_id for t in remaining] == [third]


def test_feedback_and_expectations(client, experiment_id):
    trace_id = _traced(_agent, "rate me")
    judge = AssessmentSource(source_type="LLM_JUDGE", source_id="gpt-judge")
    feedback = mlflow.log_feedback(
        trace_id=trace_id, name="relevance", value=0.8, source=judge, rationale="mostly on topic"
    )
    expectation = mlflow.log_expectation(trace_id=trace_id, name="expected_answer", value="answer 42")

    got = mlflow.get_assessment(trace_id, feedback.assessment_id)
    assert got.value == 0.8 and got.rationale == "mostly on topic"
    assert got.source.source_type == "LLM_JUDGE" and got.source.source_id == "gpt-judge"
    assessments = {a.name: a for a in client.get_trace(trace_id).info.assessments}
    assert assessments["expected_answer"].value == "answer 42"
    assert assessments["relevance"].assessment_id == feedback.assessment_id

    def found(filter_string: str) -> list[str]:
        traces = mlflow.search_traces(
            locations=[experiment_id], filter_string=filter_string, return_type="list"
        )
        return [t.info.trace_id for t in traces]

    assert found("feedback.relevance > 0.5") == [trace_id]
    assert found("feedback.relevance > 0.9") == []
    assert found("expectation.expected_answer = 'answer 42'") == [trace_id]

    updated = mlflow.update_assessment(
        trace_id=trace_id,
        assessment_id=feedback.assessment_id,
        assessment=mlflow.entities.Feedback(name="relevance", value=0.2, rationale="off topic"),
    )
    assert updated.value == 0.2 and updated.rationale == "off topic"
    assert found("feedback.relevance > 0.5") == []

    # An override hides the original from searches until the override is deleted.
    override = mlflow.override_feedback(
        trace_id=trace_id, assessment_id=feedback.assessment_id, value=1.0, rationale="human says yes"
    )
    assert mlflow.get_assessment(trace_id, feedback.assessment_id).valid is False
    assert found("feedback.relevance > 0.5") == [trace_id]
    mlflow.delete_assessment(trace_id=trace_id, assessment_id=override.assessment_id)
    assert mlflow.get_assessment(trace_id, feedback.assessment_id).valid is True

    mlflow.delete_assessment(trace_id=trace_id, assessment_id=expectation.assessment_id)
    with pytest.raises(MlflowException) as gone:
        mlflow.get_assessment(trace_id, expectation.assessment_id)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_bad_trace_requests(gateway, experiment_id):
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        r = http.post("/api/3.0/mlflow/traces/search", json={})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        r = http.get("/api/3.0/mlflow/traces/tr-00000000000000000000000000000000")
        assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        body = {"experiment_id": experiment_id, "max_timestamp_millis": 1, "request_ids": ["tr-1"]}
        r = http.post("/api/2.0/mlflow/traces/delete-traces", json=body)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        trace = {"trace": {"trace_info": {"trace_id": "tr-x", "request_time": "2025-01-01T00:00:00Z"}}}
        r = http.post("/api/3.0/mlflow/traces", json=trace)
        assert r.status_code == 400 and "experiment_id" in r.json()["message"]
        trace["trace"]["trace_info"]["trace_location"] = {
            "type": "MLFLOW_EXPERIMENT",
            "mlflow_experiment": {"experiment_id": "987654321"},
        }
        r = http.post("/api/3.0/mlflow/traces", json=trace)
        assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        # Nothing was half-written by the failed starts.
        assert http.get("/api/3.0/mlflow/traces/tr-x").status_code == 404


def test_traces_linked_to_prompt_versions(gateway, client, experiment_id):
    linked, other = _traced(_agent, "p1"), _traced(_agent, "p2")
    body = {"trace_id": linked, "prompt_versions": [{"name": "qa_prompt", "version": "2"}]}
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        assert http.post("/api/2.0/mlflow/traces/link-prompts", json=body).status_code == 200
        assert http.post("/api/2.0/mlflow/traces/link-prompts", json=body).status_code == 200  # idempotent

    def found(filter_string: str) -> list[str]:
        traces = mlflow.search_traces(
            locations=[experiment_id], filter_string=filter_string, return_type="list"
        )
        return [t.info.trace_id for t in traces]

    assert found("prompt = 'qa_prompt/2'") == [linked]
    assert found("prompt = 'qa_prompt/1'") == [] and found("prompt = 'qa%prompt/2'") == []
    assert other not in found("trace.status = 'OK' AND prompt = 'qa_prompt/2'")
    with pytest.raises(MlflowException, match="RLIKE"):
        found("tags.team RLIKE 'sea.*'")
