"""Stores by URI scheme: the right class, and one clear line for what cannot be opened."""

from __future__ import annotations

import pytest

from flowport.adapters.artifacts.local import LocalArtifactStore
from flowport.adapters.artifacts.registry import open_artifact_store, store_scheme
from flowport.adapters.backend import BackendConfigError


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [
        ("/srv/artifacts", "file"),
        ("relative/dir", "file"),
        ("C:/artifacts", "file"),
        ("file:///srv/a", "file"),
        ("S3://bucket/x", "s3"),
        ("gs://bucket", "gs"),
        ("wasbs://c@a.blob.core.windows.net/p", "wasbs"),
    ],
)
def test_scheme_of_a_root(uri, scheme):
    assert store_scheme(uri) == scheme


def test_a_path_opens_the_file_store(tmp_path):
    store = open_artifact_store(str(tmp_path / "artifacts"))
    assert isinstance(store, LocalArtifactStore) and store.root == str(tmp_path / "artifacts")


def test_an_unknown_scheme_lists_the_known_ones():
    with pytest.raises(
        BackendConfigError, match=r"no artifact store for 'ftp://' locations \(known: file://, gs://"
    ):
        open_artifact_store("ftp://host/x")


@pytest.mark.parametrize(
    ("uri", "known"),
    [
        ("/tmp/x", "none"),
        ("s3://bucket/x", "endpoint_url, max_threads, part_size, region, session"),
        ("gs://bucket/x", "chunk_size, client, max_threads, project, retry_deadline_seconds"),
    ],
)
def test_an_unknown_option_names_the_known_ones_before_anything_is_built(uri, known):
    with pytest.raises(BackendConfigError) as info:
        open_artifact_store(uri, endpoint="http://127.0.0.1:1", secret_key="s3cr3t-value")
    message = str(info.value)
    assert message.endswith(f"unknown option(s) endpoint, secret_key (known: {known})")
    assert "s3cr3t-value" not in message
