"""The databricks adapter's tests share one workspace stand-in (tests/fixtures/databricks.py): a real
`mlflow server` behind it, artifacts in the session's moto S3. Backends run in the test process."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from flowport.adapters.databricks.backend import DatabricksBackend
from flowport.adapters.resilience import RetryPolicy
from flowport.v1 import tracking_pb2
from tests.fixtures.databricks import PAT, run_databricks

# Quick retries: the tests inject faults and should not wait for production backoffs.
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, call_timeout=30)


@pytest.fixture(scope="session")
def databricks(tmp_path_factory, moto):
    with run_databricks(tmp_path_factory.mktemp("dbx-workspace"), moto) as setup:
        yield setup


@pytest.fixture(autouse=True)
def _no_machine_databricks_settings(monkeypatch):
    # The SDK reads DATABRICKS_* variables and ~/.databrickscfg: none of the machine's may leak in.
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", "/nonexistent/databrickscfg")


def run(coro):
    return asyncio.run(coro)


@contextlib.asynccontextmanager
async def backend(host: str | None, **options: Any) -> AsyncIterator[DatabricksBackend]:
    """A started databricks backend (PAT unless other credentials are given)."""
    sdk = {"host": host, "token": PAT} if host else {}
    sdk.update(options.pop("sdk", {}))
    options.setdefault("retry", FAST)
    db = DatabricksBackend(f"dbx-{uuid.uuid4().hex[:6]}", sdk_options=sdk, **options)
    await db.start()
    try:
        yield db
    finally:
        await db.close()


async def new_run(db: DatabricksBackend) -> tuple[str, str]:
    """(experiment id, run id) of a fresh run."""
    created = await db.invoke(
        "CreateExperiment", tracking_pb2.CreateExperiment(name=f"e-{uuid.uuid4().hex[:8]}")
    )
    run_ = await db.invoke("CreateRun", tracking_pb2.CreateRun(experiment_id=created.experiment_id))
    return created.experiment_id, run_.run.info.run_id
