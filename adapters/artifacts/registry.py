"""Artifact stores by URI scheme, as fsspec's registry finds filesystems by protocol.

`open_artifact_store("gs://bucket/prefix")` imports the store only when its scheme is used,
so a cloud SDK is needed only by those who configure its store; a missing one names the extra.
"""

from __future__ import annotations

import importlib
import urllib.parse
from typing import Any

from flowport.adapters.artifact_store import ArtifactStore
from flowport.adapters.backend import BackendConfigError

# scheme → (module, class, the extra that brings its dependencies)
_STORES: dict[str, tuple[str, str, str | None]] = {
    "file": ("flowport.adapters.artifacts.local", "LocalArtifactStore", None),
    "s3": ("flowport.adapters.artifacts.s3", "S3ArtifactStore", "aws"),
    "gs": ("flowport.adapters.artifacts.gcs", "GcsArtifactStore", "gcp"),
    "wasbs": ("flowport.adapters.artifacts.azure_blob", "AzureBlobArtifactStore", "azure"),
    "wasb": ("flowport.adapters.artifacts.azure_blob", "AzureBlobArtifactStore", "azure"),
}


def store_scheme(uri: str) -> str:
    """The scheme of an artifact root; a plain path (no scheme, or a Windows drive) is `file`."""
    scheme = urllib.parse.urlsplit(str(uri)).scheme.lower()
    return "file" if len(scheme) <= 1 else scheme


def artifact_store_class(uri: str) -> type[ArtifactStore]:
    scheme = store_scheme(uri)
    if scheme not in _STORES:
        known = ", ".join(f"{s}://" for s in sorted(_STORES))
        raise BackendConfigError(f"no artifact store for '{scheme}://' locations (known: {known})")
    module, name, extra = _STORES[scheme]
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as err:
        hint = f'; install it with: pip install "flowport[{extra}]"' if extra else ""
        raise BackendConfigError(
            f"the {scheme}:// artifact store needs a package that is missing ({err.name}){hint}"
        ) from None


def open_artifact_store(uri: str, **options: Any) -> ArtifactStore:
    """The store rooted at `uri`; `options` are that store's own keywords (endpoint, credentials),
    as its class's `options` names them."""
    cls = artifact_store_class(uri)
    unknown = sorted(set(options) - cls.options)
    if unknown:
        known = ", ".join(sorted(cls.options)) or "none"
        raise BackendConfigError(
            f"{store_scheme(uri)} store: unknown option(s) {', '.join(unknown)} (known: {known})"
        )
    return cls.from_uri(str(uri), **options)
