"""How the local backend names artifact locations: `mlflow-artifacts:/<path>` URIs over one store.

Clients only ever see `mlflow-artifacts:` URIs (DESIGN.md decision 5); the path after the
scheme is the path inside the backend's ArtifactStore.
"""

from __future__ import annotations

from flowport.v1.errors import invalid_parameter

SCHEME = "mlflow-artifacts:"


def uri_for(store_path: str) -> str:
    """`1/abc/artifacts` → `mlflow-artifacts:/1/abc/artifacts`."""
    return f"{SCHEME}/{store_path.strip('/')}"


def store_path_of(uri: str) -> str:
    """`mlflow-artifacts:/1/abc/artifacts` (or `mlflow-artifacts://host/1/...`) → `1/abc/artifacts`."""
    if not uri.startswith(SCHEME):
        raise invalid_parameter(f"Artifact location '{uri}' is not an mlflow-artifacts: URI")
    rest = uri[len(SCHEME) :]
    if rest.startswith("//"):  # mlflow-artifacts://host:port/path
        rest = rest[2:].split("/", 1)[1] if "/" in rest[2:] else ""
    return rest.strip("/")
