"""`flowport workspaces`: each workspace, its backend, where that is, and whether it answers.

From a configuration file, each backend is started and asked one cheap read (SearchExperiments
with max_results=1) under a short deadline; from a running gateway's URL, the same read goes
through the gateway in each workspace, signed in as the mlflow client would be (a token, or
MLFLOW_TRACKING_USERNAME/PASSWORD, or MLFLOW_TRACKING_TOKEN). A failure is its error's first line,
never a secret.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import httpx

from flowport.adapters.backend import Backend
from flowport.adapters.resilience import call_deadline
from flowport.gateway.config import ServeConfig
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError

OK = "ok"
HEADERS = ("WORKSPACE", "BACKEND", "KIND", "WHERE", "HEALTH")
_MAX_ERROR_CHARS = 200


@dataclasses.dataclass(frozen=True)
class WorkspaceHealth:
    workspace: str
    backend: str
    kind: str
    where: str
    health: str  # "ok", or what went wrong in one line

    @property
    def healthy(self) -> bool:
        return self.health == OK

    def cells(self) -> tuple[str, ...]:
        return (self.workspace, self.backend, self.kind, self.where or "-", self.health)


def one_line(text: str) -> str:
    line = (text.strip().splitlines() or [""])[0].strip()
    return line if len(line) <= _MAX_ERROR_CHARS else line[: _MAX_ERROR_CHARS - 1] + "…"


async def probe(backend: Backend, timeout: float) -> str:
    """Start `backend` and make one cheap read, all within `timeout` seconds."""
    call_deadline.set(time.monotonic() + timeout)  # remote backends stop retrying at it

    async def read() -> None:
        await backend.start()
        backend.check_supported("SearchExperiments")
        await backend.invoke("SearchExperiments", tracking_pb2.SearchExperiments(max_results=1))

    try:
        await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        return f"no answer within {timeout:g}s"
    except ApiError as err:
        return f"{err.error_code}: {one_line(err.message)}"
    except Exception as err:  # a health report names any failure rather than crashing
        return f"{type(err).__name__}: {one_line(str(err))}"
    return OK


async def check_config(config_file: str, timeout: float) -> list[WorkspaceHealth]:
    """Each workspace of the file with its backend's health; every backend is probed at once."""
    from flowport.gateway.server import build_service

    service = build_service(ServeConfig(config_file=config_file, max_threads=2))
    try:
        used = sorted(set(service.workspaces.values()))
        results = await asyncio.gather(*(probe(service.backends[name], timeout) for name in used))
        health = dict(zip(used, results, strict=True))
    finally:
        await service.close()
    return [
        WorkspaceHealth(
            entry.name,
            entry.backend,
            service.backends[entry.backend].kind,
            service.backends[entry.backend].describe(),
            health[entry.backend],
        )
        for entry in service.directory.ordered()
    ]


def check_url(url: str, timeout: float, authorization: str | None = None) -> list[WorkspaceHealth]:
    """A running gateway's workspaces (its workspace API), each read once through the gateway;
    `authorization` (`Bearer …`, `Basic …`) goes with every request. With auth on, the list holds
    the workspaces where the caller has a role or a grant."""
    base = url.rstrip("/")
    headers = {"authorization": authorization} if authorization else {}
    with httpx.Client(timeout=timeout, headers=headers) as http:
        listed = http.get(f"{base}/api/3.0/mlflow/workspaces")
        if listed.status_code == 401:
            raise ApiError(
                f"{base} answered the workspace list with {_error_of(listed)}; sign in with --token, "
                "MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD",
                "UNAUTHENTICATED",
            )
        if listed.status_code != 200:
            raise ApiError(f"{base} answered the workspace list with {_error_of(listed)}", "BAD_REQUEST")
        rows = []
        for workspace in listed.json().get("workspaces", []):
            name = workspace.get("name", "")
            try:
                answer = http.get(
                    f"{base}/api/2.0/mlflow/experiments/search",
                    params={"max_results": "1"},
                    headers={"X-MLFLOW-WORKSPACE": name},
                )
                health = OK if answer.status_code == 200 else _error_of(answer)
            except httpx.HTTPError as err:
                health = f"{type(err).__name__}: {one_line(str(err))}"
            rows.append(
                WorkspaceHealth(
                    name, workspace.get("backend", "?"), workspace.get("backend_kind", "?"), "", health
                )
            )
        return rows


def _error_of(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{body['error_code']}: {one_line(body.get('message', ''))}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def render(rows: list[WorkspaceHealth]) -> str:
    """Plain aligned columns (no table library is a dependency)."""
    table = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(HEADERS) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False)) + "  " + cells[-1]
        for cells in table
    )
