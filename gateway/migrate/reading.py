"""Paged reads through the Backend contract: every experiment, every run, a whole metric series, a
run's artifact tree. Each loop follows page tokens until the backend gives none (and stops on a
token that repeats, so a misbehaving backend cannot spin it forever)."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable

from google.protobuf.message import Message

from flowport.adapters.artifact_store import ArtifactStore, FileInfo
from flowport.adapters.backend import Backend
from flowport.v1 import tracing_pb2, tracking_pb2

RUNS_PAGE = 1000
METRIC_PAGE = 10000
EXPERIMENT_PAGE = 1000
LOGGED_MODEL_PAGE = 100
TRACE_PAGE = 500


async def pages(fetch: Callable[[str], Awaitable[Message]]) -> AsyncIterator[Message]:
    token, seen = "", set()
    while True:
        page = await fetch(token)
        yield page
        token = page.next_page_token
        if not token or token in seen:
            return
        seen.add(token)


async def experiments(backend: Backend) -> list[tracking_pb2.Experiment]:
    async def fetch(token: str) -> Message:
        request = tracking_pb2.SearchExperiments(
            view_type=tracking_pb2.ALL, max_results=EXPERIMENT_PAGE, page_token=token
        )
        return await backend.invoke("SearchExperiments", request)

    return [e async for page in pages(fetch) for e in page.experiments]


async def runs(backend: Backend, experiment_id: str) -> list[tracking_pb2.Run]:
    """Every run of an experiment, deleted ones included, oldest first."""

    async def fetch(token: str) -> Message:
        request = tracking_pb2.SearchRuns(
            experiment_ids=[experiment_id],
            run_view_type=tracking_pb2.ALL,
            max_results=RUNS_PAGE,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        return await backend.invoke("SearchRuns", request)

    return [r async for page in pages(fetch) for r in page.runs]


async def metric_history(backend: Backend, run_id: str, key: str) -> list[tracking_pb2.Metric]:
    async def fetch(token: str) -> Message:
        request = tracking_pb2.GetMetricHistory(
            run_id=run_id, metric_key=key, max_results=METRIC_PAGE, page_token=token
        )
        return await backend.invoke("GetMetricHistory", request)

    return [m async for page in pages(fetch) for m in page.metrics]


async def logged_models(backend: Backend, experiment_id: str) -> list[tracking_pb2.LoggedModel]:
    """Every (not deleted) logged model of an experiment, oldest first."""

    async def fetch(token: str) -> Message:
        request = tracking_pb2.SearchLoggedModels(
            experiment_ids=[experiment_id], max_results=LOGGED_MODEL_PAGE, page_token=token
        )
        request.order_by.add(field_name="creation_timestamp", ascending=True)
        return await backend.invoke("SearchLoggedModels", request)

    return [m async for page in pages(fetch) for m in page.models]


async def trace_infos(
    backend: Backend, experiment_id: str, filter: str = ""
) -> list[tracing_pb2.TraceInfoV3]:
    """The info (tags, metadata, assessments; no spans) of every trace of an experiment, oldest first."""

    async def fetch(token: str) -> Message:
        request = tracing_pb2.SearchTracesV3(
            filter=filter, max_results=TRACE_PAGE, order_by=["timestamp_ms ASC"], page_token=token
        )
        request.locations.add().mlflow_experiment.experiment_id = experiment_id
        return await backend.invoke("SearchTracesV3", request)

    return [t async for page in pages(fetch) for t in page.traces]


async def get_run(backend: Backend, run_id: str) -> tracking_pb2.Run:
    response = await backend.invoke("GetRun", tracking_pb2.GetRun(run_id=run_id))
    return response.run


def store_path(artifact_uri: str) -> str | None:
    """The store path of an `mlflow-artifacts:` location (`mlflow-artifacts:/1/abc/artifacts` →
    `1/abc/artifacts`); None for a location outside the backend's store (s3://…, dbfs:/…)."""
    parsed = urllib.parse.urlparse(artifact_uri)
    if parsed.scheme != "mlflow-artifacts":
        return None
    return parsed.path.strip("/")


async def artifact_files(store: ArtifactStore, root: str, max_entries: int = 1_000_000) -> list[FileInfo]:
    """Every file under `root` (paths relative to the store root), walking directories breadth-first."""
    files: list[FileInfo] = []
    pending, seen = [root], set()
    while pending and len(files) + len(seen) < max_entries:
        folder = pending.pop(0)
        if folder in seen:
            continue
        seen.add(folder)
        for entry in await store.list(folder):
            if entry.is_dir:
                pending.append(entry.path)
            else:
                files.append(entry)
    return sorted(files, key=lambda f: f.path)
