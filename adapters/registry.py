"""Backends by kind, found through the `flowport.backends` entry points (DESIGN.md decision 6).

A third party adds a backend by declaring an entry point; a kind whose optional dependencies
are missing says which extra to install, as fsspec's registry does.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

from flowport.adapters.backend import Backend, BackendConfigError
from flowport.v1.errors import ApiError

ENTRY_POINT_GROUP = "flowport.backends"
# The extra that brings each built-in kind's dependencies.
_EXTRAS = {"sagemaker": "aws", "azureml": "azure", "databricks": "databricks"}


def backend_class(kind: str) -> type[Backend]:
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    if kind not in entry_points:
        known = ", ".join(sorted(entry_points)) or "none"
        raise BackendConfigError(f"unknown backend kind '{kind}' (known kinds: {known})")
    try:
        return entry_points[kind].load()
    except ImportError as err:
        extra = _EXTRAS.get(kind)
        hint = f'; install it with: pip install "flowport[{extra}]"' if extra else ""
        raise BackendConfigError(
            f"backend kind '{kind}' needs a package that is missing ({err.name}){hint}"
        ) from None


def build_backend(name: str, kind: str, options: Mapping[str, Any], *, max_threads: int = 8) -> Backend:
    try:
        return backend_class(kind).from_config(name, dict(options), max_threads=max_threads)
    except ApiError as err:  # a value a backend's own parser refused (an ARN, a credential setting)
        raise BackendConfigError(err.message) from None


def take_options(
    kind: str, options: dict[str, Any], required: set[str], optional: set[str]
) -> dict[str, Any]:
    """Check a backend's option keys: every required one present, none unknown."""
    missing = sorted(required - set(options))
    unknown = sorted(set(options) - required - optional)
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown {', '.join(unknown)} (allowed: {', '.join(sorted(required | optional))})")
    if problems:
        raise BackendConfigError(f"{kind} backend options: " + "; ".join(problems))
    return options
