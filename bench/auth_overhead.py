"""`python -m bench.auth_overhead [--calls N] [--rounds R]`: what authentication + authorization + audit
add to a call, in one run: the same calls against two `flowport serve` processes on the same kind of
local backend, one without an `auth:` section and one with it (token sign-in, audit to the state
database), alternating in rounds so both see the same machine. Prints the medians and their
difference per call kind; issue 7's budget is ≤ 1 ms added at the median.

Callers with auth on: an editor of the workspace (its role covers every resource: no lookup), and a
user with a grant on one experiment only (the run's experiment is looked up once, then remembered).
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator

import httpx

from tests.fixtures.processes import Gateway, run_gateway

ADMIN_PASSWORD = uuid.uuid4().hex


def _config(data: pathlib.Path, auth: bool) -> str:
    text = f"""
backends:
  local:
    kind: local
    database_uri: "sqlite:///{data / "flowport.db"}"
    artifact_root: "{data / "artifacts"}"
workspaces:
  default: local
"""
    if auth:
        text += 'auth:\n  bootstrap_admin: {username: admin, password: "${FP_ADMIN_PASSWORD}"}\n'
    return text


@contextlib.contextmanager
def _gateway(root: pathlib.Path, auth: bool) -> Iterator[Gateway]:
    data = root / ("auth-on" if auth else "auth-off")
    with run_gateway(data, config=_config(data, auth), env={"FP_ADMIN_PASSWORD": ADMIN_PASSWORD}) as gw:
        yield gw


def _post(client: httpx.Client, path: str, body: dict, **kwargs) -> dict:
    response = client.post("/api/" + path, json=body, **kwargs)
    response.raise_for_status()
    return response.json()


def _setup(gw: Gateway, auth: bool) -> dict[str, dict[str, str]]:
    """An experiment with a run; with auth, the callers' Authorization headers."""
    admin = httpx.Client(base_url=gw.url, auth=("admin", ADMIN_PASSWORD) if auth else None, timeout=30)
    experiment_id = _post(admin, "2.0/mlflow/experiments/create", {"name": f"bench-{uuid.uuid4().hex[:6]}"})[
        "experiment_id"
    ]
    run_id = _post(admin, "2.0/mlflow/runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
    callers = {"no auth": {}}
    if auth:
        callers = {}
        for name, role in (("editor", "editor"), ("granted", None)):
            _post(admin, "2.0/mlflow/users/create", {"username": name, "password": uuid.uuid4().hex})
            if role:
                binding = {"principal_kind": "user", "principal_name": name, "role": role}
                _post(admin, "2.0/flowport/auth/role-bindings/set", binding)
            else:
                grant = {"username": name, "resource_type": "experiment", "resource_id": experiment_id}
                _post(admin, "3.0/mlflow/users/permissions/grant", {**grant, "permission": "EDIT"})
            token = _post(admin, "2.0/flowport/auth/tokens/create", {"username": name})["secret"]
            callers[f"token, {name}"] = {"authorization": f"Bearer {token}"}
    admin.close()
    return {"ids": {"experiment_id": experiment_id, "run_id": run_id}, **callers}


CALLS: dict[str, Callable[[httpx.Client, dict[str, str]], httpx.Response]] = {
    "GetExperiment": lambda c, ids: c.get(
        "/api/2.0/mlflow/experiments/get", params={"experiment_id": ids["experiment_id"]}
    ),
    "LogMetric": lambda c, ids: c.post(
        "/api/2.0/mlflow/runs/log-metric",
        json={"run_id": ids["run_id"], "key": "m", "value": 1.0, "timestamp": 1, "step": 0},
    ),
}


def _timed(client: httpx.Client, call, ids: dict[str, str], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = call(client, ids)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per caller, kind and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        _gateway(pathlib.Path(tmp), False) as off,
        _gateway(pathlib.Path(tmp), True) as on,
    ):
        plans = []
        for gw, auth in ((off, False), (on, True)):
            setup = _setup(gw, auth)
            ids = setup.pop("ids")
            for caller, headers in setup.items():
                plans.append((caller, httpx.Client(base_url=gw.url, headers=headers, timeout=30), ids))
        samples: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for kind, call in CALLS.items():
                for caller, client, ids in plans:
                    _timed(client, call, ids, 20)  # warm: connections, caches
                    samples.setdefault((kind, caller), []).extend(_timed(client, call, ids, args.calls))
        for _, client, _ in plans:
            client.close()
    print(f"{'call':<15} {'caller':<16} {'median ms':>10} {'p90 ms':>8} {'added at median':>16}")
    for kind in CALLS:
        base = statistics.median(samples[(kind, "no auth")])
        for (k, caller), values in samples.items():
            if k != kind:
                continue
            median = statistics.median(values)
            p90 = statistics.quantiles(values, n=10)[-1]
            added = "" if caller == "no auth" else f"{median - base:+.3f} ms"
            print(f"{kind:<15} {caller:<16} {median:>10.3f} {p90:>8.3f} {added:>16}")


if __name__ == "__main__":
    main()
