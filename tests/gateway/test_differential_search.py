"""Searches give the same results as the stock `mlflow server` over the same data.

Both servers are real subprocesses fed identical data by the stock client; every query is
sent to both and the answers compared.
"""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from tests.fixtures.processes import run_mlflow_server

RUNS = [
    # name, metrics, params, tags, status
    ("alpha", {"acc": 0.91, "loss": 0.3}, {"model": "cnn", "lr": "0.01"}, {"team": "vision"}, "FINISHED"),
    ("beta", {"acc": 0.85}, {"model": "mlp", "lr": "0.1"}, {"team": "nlp"}, "FINISHED"),
    ("gamma", {"acc": 0.91, "loss": 0.1}, {"model": "cnn"}, {"team": "Vision"}, "FAILED"),
    ("delta", {"loss": float("nan")}, {"model": "rnn", "lr": "0.001"}, {}, "RUNNING"),
    (
        "epsilon",
        {"acc": -1.0, "loss": float("inf")},
        {"model": "CNN"},
        {"team": "vision", "x": "1"},
        "KILLED",
    ),
    ("zeta", {}, {}, {"team": "nlp"}, "FINISHED"),
]

QUERIES = [
    ("", ["attributes.run_name ASC"]),
    ("metrics.acc > 0.8", ["metrics.acc DESC", "attributes.run_name ASC"]),
    ("metrics.acc >= 0.91", []),
    ("metrics.loss < 1", ["metrics.loss ASC"]),
    ("params.model = 'cnn'", ["params.lr DESC"]),
    ("params.model LIKE 'c%'", []),
    ("params.model ILIKE 'c%'", ["attributes.run_name DESC"]),
    ("tags.team = 'vision'", []),
    ("tags.team ILIKE 'VISION'", ["attributes.run_name"]),
    ("tags.team != 'nlp'", []),
    ("attributes.status = 'FINISHED'", ["metrics.acc ASC"]),
    ("attributes.status != 'RUNNING' AND params.model != 'mlp'", ["params.model ASC", "metrics.loss DESC"]),
    ("attributes.run_name LIKE '%ta'", []),
    ("attributes.start_time >= 1700000000003", ["attributes.start_time DESC"]),
    ("tags.x IS NULL", ["attributes.run_name"]),
    ("", ["metrics.loss DESC"]),
    ("", ["tags.team ASC", "attributes.run_name DESC"]),
    ("params.lr IS NOT NULL", ["params.lr"]),
    ("metrics.acc != 0.91", []),
]

BAD_FILTERS = [
    "metrics.acc >< 1",
    "acc > 1",
    "params.x > 'a'",
    "metrics.acc = 'high'",
    "tags.a = 1 OR tags.b = 2",
]


def _populate(client: MlflowClient) -> str:
    exp_id = client.create_experiment("differential")
    for i, (name, metrics, params, tags, status) in enumerate(RUNS):
        run = client.create_run(exp_id, run_name=name, start_time=1_700_000_000_000 + i)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, 1_700_000_000_000, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        if status != "RUNNING":
            client.set_terminated(run.info.run_id, status, end_time=1_700_000_100_000 + i)
    return exp_id


@pytest.fixture(scope="module")
def both(sqlite_gateway, tmp_path_factory):
    with run_mlflow_server(tmp_path_factory.mktemp("mlflow-reference")) as mlflow_url:
        ours = MlflowClient(sqlite_gateway.url)
        theirs = MlflowClient(mlflow_url)
        yield (ours, _populate(ours)), (theirs, _populate(theirs))


@pytest.mark.parametrize("filter_string,order_by", QUERIES)
def test_search_runs_matches_mlflow(both, filter_string, order_by):
    (ours, our_exp), (theirs, their_exp) = both
    got = [r.info.run_name for r in ours.search_runs([our_exp], filter_string, order_by=order_by)]
    want = [r.info.run_name for r in theirs.search_runs([their_exp], filter_string, order_by=order_by)]
    assert got == want


def test_pagination_matches_mlflow(both):
    (ours, our_exp), (theirs, their_exp) = both

    def pages(client, exp):
        names, token = [], None
        while True:
            page = client.search_runs([exp], max_results=2, order_by=["metrics.acc DESC"], page_token=token)
            names.append([r.info.run_name for r in page])
            token = page.token
            if not token:
                return names

    assert pages(ours, our_exp) == pages(theirs, their_exp)


@pytest.mark.parametrize("bad", BAD_FILTERS)
def test_bad_filters_fail_like_mlflow(both, bad):
    (ours, our_exp), (theirs, their_exp) = both
    codes = []
    for client, exp in ((ours, our_exp), (theirs, their_exp)):
        with pytest.raises(MlflowException) as info:
            client.search_runs([exp], bad)
        codes.append(info.value.error_code)
    assert codes[0] == codes[1] == "INVALID_PARAMETER_VALUE"


def test_run_json_matches_mlflow(both):
    """The same run, fetched from both, has the same fields (ids and times aside)."""
    (ours, our_exp), (theirs, their_exp) = both
    a = ours.search_runs([our_exp], "attributes.run_name = 'alpha'")[0]
    b = theirs.search_runs([their_exp], "attributes.run_name = 'alpha'")[0]
    assert a.data.metrics == b.data.metrics and a.data.params == b.data.params
    strip = {"mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.source.git.commit"}
    assert {k: v for k, v in a.data.tags.items() if k not in strip} == {
        k: v for k, v in b.data.tags.items() if k not in strip
    }
    assert (a.info.status, a.info.lifecycle_stage, a.info.start_time, a.info.end_time) == (
        b.info.status,
        b.info.lifecycle_stage,
        b.info.start_time,
        b.info.end_time,
    )
    assert a.info.artifact_uri.replace(a.info.run_id, "RUN").replace(
        f"/{our_exp}/", "/EXP/"
    ) == b.info.artifact_uri.replace(b.info.run_id, "RUN").replace(f"/{their_exp}/", "/EXP/")


def test_search_experiments_matches_mlflow(both):
    (ours, _), (theirs, _) = both
    for client in (ours, theirs):
        for name in ("exp-b", "exp-a", "other"):
            client.create_experiment(name, tags={"k": name[-1]})
    for flt, order in [("name LIKE 'exp-%'", ["name ASC"]), ("tags.k = 'a'", []), ("", ["name DESC"])]:
        got = [e.name for e in ours.search_experiments(filter_string=flt, order_by=order)]
        want = [e.name for e in theirs.search_experiments(filter_string=flt, order_by=order)]
        assert got == want, (flt, order)
