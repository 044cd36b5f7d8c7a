"""The configuration file: backends, workspaces, `${ENV}` secrets, and one clear line per mistake."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from flowport.adapters.registry import build_backend
from flowport.gateway.config import ConfigError, load_config


def _write(tmp_path, text: str):
    path = tmp_path / "flowport.yaml"
    path.write_text(text)
    return path


def test_a_valid_file_with_an_env_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("REMOTE_TOKEN", "s3cr3t")
    config = load_config(
        _write(
            tmp_path,
            """
backends:
  remote:
    kind: mlflow
    url: http://127.0.0.1:5001
    auth: {type: bearer, token: "${REMOTE_TOKEN}"}
workspaces:
  default: remote
""",
        )
    )
    assert config.workspaces == {"default": "remote"}
    assert config.backends["remote"].options["auth"]["token"] == "s3cr3t"


def test_every_mistake_is_reported_at_once_without_secrets(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(
            _write(
                tmp_path,
                """
backend: {}
backends:
  remote: {kind: mlflow, url: "http://x", auth: {type: bearer, token: "${NOT_SET_ANYWHERE}"}}
  nameless: {url: "http://y"}
workspaces:
  default: remote
  team-a: missing
""",
            )
        )
    lines = str(info.value).splitlines()
    assert len(lines) == 4
    assert any("unknown top-level key 'backend'" in line for line in lines)
    assert any("NOT_SET_ANYWHERE is not set" in line for line in lines)
    assert any("backends.nameless: needs a 'kind'" in line for line in lines)
    assert any("workspaces.team-a: no backend named 'missing'" in line for line in lines)


@pytest.mark.parametrize(
    "kind, options, message",
    [
        ("mlflow", {}, "missing url"),
        ("mlflow", {"url": "http://x", "retries": 3}, "unknown retries"),
        ("mlflow", {"url": "http://x", "auth": {"type": "digest"}}, "auth type must be"),
        ("mlflow", {"url": "http://x", "retry": {"max_attempts": 0}}, "max_attempts must be a positive"),
        ("mlflow", {"url": "http://x", "workspaces": "yes"}, "'workspaces' must be true or false"),
        ("sagemaker", {"arn": "arn:aws:s3:::bucket"}, "service"),
        (
            "nope",
            {},
            "unknown backend kind 'nope' (known kinds: azureml, databricks, local, mlflow, sagemaker)",
        ),
    ],
)
def test_bad_backend_options_name_the_problem(kind, options, message):
    with pytest.raises(ValueError) as info:
        build_backend("b", kind, options)
    assert message in str(info.value)


def test_serve_refuses_a_bad_file_with_exit_code_2(tmp_path):
    path = _write(
        tmp_path, "backends:\n  r: {kind: mlflow, url: 'http://127.0.0.1:1', auth: {type: basic}}\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowport.gateway.cli",
            "serve",
            "--config",
            str(path),
            "--grpc-port",
            "0",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "backends.r: basic auth takes exactly: type, username, password" in done.stderr
    both = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowport.gateway.cli",
            "serve",
            "--config",
            str(path),
            "--backend-store-uri",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert both.returncode == 2 and "--config names the backends" in both.stderr


@pytest.mark.parametrize(
    ("destination", "line"),
    [
        ("ftp://host/artifacts", "--artifacts-destination: no artifact store for 'ftp://' locations"),
        ("gs://Not A Bucket/x", "--artifacts-destination: "),
    ],
)
def test_serve_refuses_an_artifact_destination_it_cannot_open_in_one_line(tmp_path, destination, line):
    done = subprocess.run(
        [sys.executable, "-m", "flowport.gateway.cli", "serve", "--port", "0", "--grpc-port", "0"]
        + ["--backend-store-uri", f"sqlite:///{tmp_path / 'x.db'}", "--artifacts-destination", destination],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_GCE_CHECK": "True", "GOOGLE_CLOUD_PROJECT": "p"},
    )
    assert done.returncode == 2
    assert line in done.stderr and "Traceback" not in done.stderr


def test_workspaces_map_to_a_backend_name_or_to_backend_and_description(tmp_path):
    config = load_config(
        _write(
            tmp_path,
            """
backends:
  here: {kind: local, database_uri: "sqlite:///x.db", artifact_root: art}
workspaces:
  default: here
  team-a: {backend: here, description: "Team A's experiments"}
  team-b: {backend: here}
""",
        )
    )
    assert config.workspaces == {"default": "here", "team-a": "here", "team-b": "here"}
    assert config.descriptions == {"team-a": "Team A's experiments"}


def test_a_moved_workspace_names_the_backends_it_was_migrated_from(tmp_path, monkeypatch):
    monkeypatch.setenv("STATE_PASSWORD", "pw")
    config = load_config(
        _write(
            tmp_path,
            """
backends:
  here: {kind: local, database_uri: "sqlite:///x.db"}
  there: {kind: local, database_uri: "sqlite:///y.db"}
migration_state: postgresql://flowport:${STATE_PASSWORD}@127.0.0.1:5432/state
workspaces:
  default: {backend: there, migrated_from: here}
  team-a: {backend: there, migrated_from: [here, old-cloud]}
  team-b: there
""",
        )
    )
    assert config.migrated_from == {"default": ("here",), "team-a": ("here", "old-cloud")}
    assert config.migration_state == "postgresql://flowport:pw@127.0.0.1:5432/state"


def test_no_workspaces_means_default_on_the_first_backend(tmp_path):
    config = load_config(_write(tmp_path, "backends:\n  r: {kind: mlflow, url: 'http://x'}\n"))
    assert config.workspaces == {"default": "r"}


def test_a_file_without_default_is_accepted(tmp_path):
    """Clients must then name a workspace; the gateway says so when one does not."""
    config = load_config(
        _write(tmp_path, "backends:\n  r: {kind: mlflow, url: 'http://x'}\nworkspaces:\n  team-a: r\n")
    )
    assert config.workspaces == {"team-a": "r"}


def test_every_workspace_mistake_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(
            _write(
                tmp_path,
                """
backends:
  here: {kind: local, database_uri: "sqlite:///x.db", artifact_root: art}
workspaces:
  default: here
  Team_A: here
  x: here
  api: here
  team-b: {backend: here, colour: blue}
  team-c: {description: "no backend"}
  team-d: {backend: here, description: 42}
  team-e: [here]
  team-f: elsewhere
  team-g: {backend: here, migrated_from: {name: here}}
""",
            )
        )
    lines = str(info.value).splitlines()
    expected = [
        "workspaces.Team_A: Workspace name 'Team_A' must match the pattern",
        "workspaces.x: Workspace name 'x' must be between 2 and 63 characters",
        "workspaces.api: Workspace name 'api' is reserved",
        "workspaces.team-b: unknown key 'colour' (allowed: backend, description, migrated_from)",
        "workspaces.team-c: needs a 'backend'",
        "workspaces.team-d.description: must be text",
        "workspaces.team-e: must name a backend, or be {backend: <name>, description: <text>}",
        "workspaces.team-f: no backend named 'elsewhere'",
        "workspaces.team-g.migrated_from: must name a backend, or list backend names",
    ]
    assert len(lines) == len(expected)
    for line, fragment in zip(lines, expected, strict=True):
        assert line.startswith(f"{tmp_path / 'flowport.yaml'}: ")
        assert fragment in line
