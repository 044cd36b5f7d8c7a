"""Live configuration reload: a real `flowport serve --config` re-pointed while the stock mlflow
client uses it — by a file edit (the watch) and by SIGHUP (with --no-reload) — from local SQLite A to
local SQLite B and to a real `mlflow server`; slow downloads and uploads that began before the switch
finish byte for byte on the old backend; bad edits keep the running mapping; an unchanged backend is
kept (same open database connections), a dropped one is closed once idle. Then the diff/apply logic
alone, with stand-in backends."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
from mlflow import MlflowClient

from flowport.adapters.backend import Backend
from flowport.adapters.capabilities import Capability
from flowport.gateway.call import Call
from flowport.gateway.config import load_config
from flowport.gateway.reload import ConfigReloader, build_backends, plan
from flowport.gateway.service import GatewayService
from flowport.v1 import tracking_pb2
from tests.fixtures.config_files import config_file, local_backend
from tests.fixtures.processes import (
    free_port,
    run_gateway,
    run_mlflow_server,
    stop_process,
    wait_http,
    wait_until,
)

BIG = 64 << 20  # far more than the socket buffers between client and gateway can hold
CHUNK = 1 << 20
SECRET = "sup3r-s3cret-written-in-place"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


# --- a gateway process with its configuration file ----------------------------------------------


@dataclasses.dataclass
class Gateway:
    url: str
    proc: subprocess.Popen
    config: pathlib.Path
    log: pathlib.Path

    def edit(self, text: str) -> None:
        """Replace the file at once, as editors and config management do (never half-written)."""
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def mapping(self) -> dict[str, str]:
        listed = httpx.get(f"{self.url}/api/3.0/mlflow/workspaces", timeout=10).json()
        return {w["name"]: w["backend"] for w in listed["workspaces"]}

    def open_files(self, path: pathlib.Path) -> set[str]:
        """The gateway's file descriptors open on `path`: a database connection pool's identity."""
        fds = set()
        for fd in os.listdir(f"/proc/{self.proc.pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{self.proc.pid}/fd/{fd}") == str(path):
                    fds.add(fd)
        return fds

    def wait(self, what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        wait_until(what, condition, self.proc, self.log, timeout)

    def wait_mapping(self, expected: dict[str, str]) -> None:
        self.wait(f"mapping {expected}", lambda: self.mapping() == expected)

    def wait_log(self, text: str) -> None:
        self.wait(f"log line {text!r}", lambda: text in self.log_text())


@contextlib.contextmanager
def serve(data_dir: pathlib.Path, config: str, *flags: str) -> Iterator[Gateway]:
    data_dir.mkdir(parents=True, exist_ok=True)
    path, log = data_dir / "flowport.yaml", data_dir / "gateway.log"
    path.write_text(config)
    port = free_port()
    cmd = [sys.executable, "-m", "flowport.gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--grpc-port", "0", "--config", str(path), *flags]
    env = {k: v for k, v in os.environ.items() if k != "AZUREML_CURRENT_CLOUD"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**env, "FLOWPORT_HOME": str(data_dir)}
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, log)
        yield Gateway(f"http://127.0.0.1:{port}", proc, path, log)
    finally:
        stop_process(proc)


# --- what the clients see ------------------------------------------------------------------------


def experiment_names(db: pathlib.Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM experiments")}


def blob() -> bytes:
    block = hashlib.sha256(b"flowport reload").digest() * (CHUNK // 32)
    return b"".join(bytes([i]) + block[1:] for i in range(BIG // CHUNK))


class SlowDownload:
    """A download read a chunk at a time, only when the test says so."""

    def __init__(self, url: str, path: str) -> None:
        self._client = httpx.Client(timeout=120)
        self._cm = self._client.stream("GET", f"{url}{ARTIFACTS}/{path}")
        reply = self._cm.__enter__()
        assert reply.status_code == 200, reply.read()
        self._chunks = reply.iter_raw(CHUNK)
        self.received = bytearray(next(self._chunks))  # the gateway is now streaming it

    def finish(self) -> bytes:
        for chunk in self._chunks:
            self.received += chunk
        self._cm.__exit__(None, None, None)
        self._client.close()
        return bytes(self.received)


class SlowUpload:
    """An upload that sends 16 MiB (so the gateway is consuming it), then waits to be released."""

    def __init__(self, url: str, path: str, data: bytes) -> None:
        self.sent, self.go = threading.Event(), threading.Event()
        self.status: int | None = None

        def body() -> Iterator[bytes]:
            for offset in range(0, len(data), CHUNK):
                if offset == 16 * CHUNK:
                    self.sent.set()
                    assert self.go.wait(120)
                yield data[offset : offset + CHUNK]

        def run() -> None:
            self.status = httpx.put(f"{url}{ARTIFACTS}/{path}", content=body(), timeout=120).status_code

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert self.sent.wait(60), "the gateway did not take the first 16 MiB"

    def finish(self) -> int | None:
        self.go.set()
        self._thread.join(120)
        return self.status


@pytest.fixture
def stock_client(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_WORKSPACE", raising=False)
    return lambda url: MlflowClient(url, url)


# --- the file watch: local A → local B -----------------------------------------------------------


def test_file_edit_repoints_a_workspace_without_failing_calls_in_flight(tmp_path, stock_client):
    a_db, b_db = tmp_path / "a.db", tmp_path / "b.db"
    with serve(
        tmp_path, config_file(local_backend("a", tmp_path), {"default": "a"}), "--reload-interval", "0.2"
    ) as gw:
        client = stock_client(gw.url)
        client.create_experiment("written-before")
        data = blob()
        assert httpx.put(f"{gw.url}{ARTIFACTS}/big/blob.bin", content=data, timeout=120).status_code == 200
        a_connections = gw.open_files(a_db)
        assert a_connections, "the local backend holds its SQLite database open"

        download = SlowDownload(gw.url, "big/blob.bin")
        upload = SlowUpload(gw.url, "slow/upload.bin", data)
        both = local_backend("a", tmp_path) + local_backend("b", tmp_path)
        gw.edit(config_file(both, {"default": "b", "team-a": "a"}))
        gw.wait_mapping({"default": "b", "team-a": "a"})

        client.create_experiment("written-after")
        assert "written-after" in experiment_names(b_db)
        assert "written-after" not in experiment_names(a_db)
        assert "written-before" not in {e.name for e in client.search_experiments()}
        assert "workspace 'default' → backend 'b' (local)" in gw.log_text()
        assert "backend 'b' (local) added" in gw.log_text()
        # Unchanged, so kept: the very same connections, no second engine, no second migration.
        assert gw.open_files(a_db) == a_connections

        # The upload began on A before the switch: it lands on A, whole.
        assert upload.finish() == 200
        assert (tmp_path / "a-artifacts" / "slow" / "upload.bin").read_bytes() == data
        assert not (tmp_path / "b-artifacts" / "slow").exists()

        # A leaves the configuration while the download is still being read from it.
        gw.edit(config_file(local_backend("b", tmp_path), {"default": "b"}))
        gw.wait_mapping({"default": "b"})
        client.create_experiment("written-after-a-left")
        assert "backend 'a' (local) removed" in gw.log_text()
        assert "backend 'a' closed" not in gw.log_text(), "closed while its download was in flight"
        assert hashlib.sha256(download.finish()).digest() == hashlib.sha256(data).digest()
        gw.wait_log("backend 'a' closed")
        gw.wait("A's database connections closed", lambda: not gw.open_files(a_db))

        # Broken edits: the running mapping stays and keeps answering; each mistake is logged.
        gw.edit(f"backends:\n  b: {{kind: local, token: {SECRET}\nworkspaces: [\n")
        gw.wait_log("is not valid YAML")
        gw.edit(config_file("  b:\n    kind: no-such-kind\n", {"default": "b"}))
        gw.wait_log("unknown backend kind 'no-such-kind'")
        assert gw.mapping() == {"default": "b"}
        assert client.get_experiment_by_name("written-after-a-left") is not None
        assert SECRET not in gw.log_text()
        assert gw.log_text().count("still serving the previous configuration") == 2
        assert gw.proc.poll() is None


# --- SIGHUP with --no-reload: local A → a real mlflow server → local B ---------------------------


def test_sighup_repoints_to_a_remote_and_back_with_a_download_in_flight(tmp_path, stock_client):
    a_db, b_db = tmp_path / "a.db", tmp_path / "b.db"
    with (
        run_mlflow_server(tmp_path / "remote") as remote_url,
        serve(tmp_path, config_file(local_backend("a", tmp_path), {"default": "a"}), "--no-reload") as gw,
    ):
        client = stock_client(gw.url)
        assert "--no-reload" in gw.log_text()
        a_connections = gw.open_files(a_db)
        remote = f"  remote:\n    kind: mlflow\n    url: {remote_url}\n"

        gw.edit(config_file(local_backend("a", tmp_path) + remote, {"default": "remote", "team-a": "a"}))
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_mapping({"default": "remote", "team-a": "a"})
        assert "reload (SIGHUP)" in gw.log_text()
        run = client.create_run(client.create_experiment("on-the-remote"))
        assert MlflowClient(remote_url).get_run(run.info.run_id).info.experiment_id == run.info.experiment_id
        assert "on-the-remote" not in experiment_names(a_db)

        data = blob()
        assert httpx.put(f"{gw.url}{ARTIFACTS}/big/blob.bin", content=data, timeout=120).status_code == 200
        download = SlowDownload(gw.url, "big/blob.bin")  # through the remote backend's connection pool
        gw.edit(
            config_file(
                local_backend("a", tmp_path) + local_backend("b", tmp_path), {"default": "b", "team-a": "a"}
            )
        )
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_mapping({"default": "b", "team-a": "a"})
        client.create_experiment("back-on-local")
        assert "back-on-local" in experiment_names(b_db)
        assert "backend 'remote' (mlflow) removed" in gw.log_text()
        assert "backend 'remote' closed" not in gw.log_text(), "closed while its download was in flight"
        assert hashlib.sha256(download.finish()).digest() == hashlib.sha256(data).digest()
        gw.wait_log("backend 'remote' closed")
        assert gw.open_files(a_db) == a_connections  # A was never rebuilt across both reloads

        gw.edit(
            config_file(local_backend("b", tmp_path) + "  c:\n    kind: no-such-kind\n", {"default": "b"})
        )
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_log("unknown backend kind 'no-such-kind'")
        assert gw.mapping() == {"default": "b", "team-a": "a"}
        assert client.get_experiment_by_name("back-on-local") is not None


def test_the_embedded_default_has_nothing_to_reload_and_survives_sighup(tmp_path):
    with run_gateway(tmp_path) as embedded:
        embedded.proc.send_signal(signal.SIGHUP)
        gw = Gateway(embedded.url, embedded.proc, tmp_path / "none.yaml", embedded.log)
        gw.wait_log("SIGHUP ignored: no --config file to reload")
        assert "reload " not in gw.log_text()
        assert httpx.get(f"{embedded.url}/health", timeout=10).status_code == 200


# --- the diff and the apply, with stand-in backends ----------------------------------------------


class StandIn(Backend):
    """A backend that records its life and can hold a call open until released."""

    kind = "stand-in"
    capabilities = frozenset({Capability.TRACKING})
    events: list[str] = []

    def __init__(self, name: str, options: dict, *, max_threads: int = 2) -> None:
        super().__init__(name, max_threads=max_threads)
        self.options = options
        self.release = asyncio.Event()

    async def start(self) -> None:
        if self.options.get("fail_start"):
            raise RuntimeError(f"cannot reach https://u:{self.options['password']}@example.internal")
        self.events.append(f"start {self.name}")

    async def close(self) -> None:
        self.events.append(f"close {self.name}")
        await super().close()

    async def get_experiment(
        self, request: tracking_pb2.GetExperiment
    ) -> tracking_pb2.GetExperiment.Response:
        if self.options.get("slow"):
            await self.release.wait()
        return tracking_pb2.GetExperiment.Response(experiment=tracking_pb2.Experiment(name=self.name))


def stand_in(name: str, kind: str, options: dict, *, max_threads: int) -> StandIn:
    if kind != "stand-in":
        raise ValueError(f"unknown backend kind '{kind}'")
    return StandIn(name, options, max_threads=max_threads)


def stand_in_config(backends: dict[str, dict], workspaces: dict[str, str]) -> str:
    lines = ["backends:"]
    for name, options in backends.items():
        lines.append(f"  {name}: {{kind: stand-in, {', '.join(f'{k}: {v}' for k, v in options.items())}}}")
    return "\n".join(lines) + "\nworkspaces:\n" + "".join(f"  {w}: {b}\n" for w, b in workspaces.items())


@contextlib.contextmanager
def reloading(tmp_path, backends, workspaces, drain_timeout: float = 30.0):
    path = tmp_path / "flowport.yaml"
    path.write_text(stand_in_config(backends, workspaces))
    loaded = load_config(path)
    service = GatewayService(
        build_backends(loaded.backends, source=str(path), max_threads=1, build=stand_in),
        loaded.workspaces,
        config_file=str(path),
        specs=loaded.backends,
    )
    StandIn.events = []
    reloader = ConfigReloader(service, str(path), max_threads=1, drain_timeout=drain_timeout, build=stand_in)
    yield service, reloader, path


def call(service: GatewayService, workspace: str = "default"):
    return service.call(Call("GetExperiment", tracking_pb2.GetExperiment(experiment_id="1"), workspace))


def test_plan_keeps_unchanged_backends_and_names_every_change(tmp_path):
    path = tmp_path / "new.yaml"
    path.write_text(
        stand_in_config(
            {"same": {"x": 1}, "changed": {"x": 3}, "new": {"x": 4}},
            {"default": "new", "team-a": "same", "team-c": "changed"},
        )
    )
    old = load_config(path).backends | {}
    old["changed"] = dataclasses.replace(old["changed"], options={"x": 2})
    old["gone"] = dataclasses.replace(old["same"], name="gone")
    del old["new"]
    change = plan(old, {"default": "same", "team-a": "same", "team-g": "gone"}, {}, load_config(path))
    assert change.kept == {"same"}
    assert change.built == {"changed", "new"}
    assert change.dropped == {"changed", "gone"}
    assert change.lines == (
        "backend 'changed' (stand-in) changed: started anew",
        "backend 'new' (stand-in) added",
        "backend 'gone' (stand-in) removed",
        "workspace 'default' → backend 'new' (stand-in)",
        "workspace 'team-c' → backend 'changed' (stand-in)",
        "workspace 'team-g' removed",
    )
    same = plan(load_config(path).backends, load_config(path).workspaces, {}, load_config(path))
    assert same.empty and same.kept == {"same", "changed", "new"}


def test_a_dropped_backend_closes_only_after_its_call_finishes(tmp_path):
    async def scenario() -> None:
        with reloading(tmp_path, {"a": {"slow": True}, "k": {"x": 1}}, {"default": "a", "team-k": "k"}) as (
            service,
            reloader,
            path,
        ):
            await service.start()
            a, k = service.backends["a"], service.backends["k"]
            in_flight = asyncio.create_task(call(service))
            await asyncio.sleep(0)  # the call has routed to A and waits inside it
            path.write_text(stand_in_config({"b": {"x": 2}, "k": {"x": 1}}, {"default": "b", "team-k": "k"}))
            assert await reloader.reload("test")
            assert service.backends["k"] is k  # kept: the same object
            assert (await call(service)).experiment.name == "b"
            assert StandIn.events == ["start a", "start k", "start b"]  # B started before the switch
            assert service.in_flight.count(a) == 1
            a.release.set()
            assert (await in_flight).experiment.name == "a"
            await asyncio.wait_for(asyncio.gather(*service._retiring), 5)
            assert StandIn.events[-1] == "close a"
            await service.close()

    asyncio.run(scenario())


def test_a_stuck_call_delays_the_close_only_up_to_the_drain_timeout(tmp_path, caplog):
    async def scenario() -> None:
        with reloading(tmp_path, {"a": {"slow": True}}, {"default": "a"}, drain_timeout=0.2) as (
            service,
            reloader,
            path,
        ):
            stuck = asyncio.create_task(call(service))
            await asyncio.sleep(0)
            path.write_text(stand_in_config({"b": {"x": 1}}, {"default": "b"}))
            assert await reloader.reload("test")
            await asyncio.wait_for(asyncio.gather(*service._retiring), 5)
            assert "close a" in StandIn.events
            stuck.cancel()
            await service.close()

    with caplog.at_level(logging.WARNING, "flowport"):
        asyncio.run(scenario())
    assert "backend 'a' (stand-in): 1 call(s) still in flight after 0.2s; closing it anyway" in caplog.text


def test_a_backend_that_cannot_start_keeps_the_running_config_and_hides_its_secret(tmp_path, caplog):
    async def scenario() -> None:
        with reloading(tmp_path, {"a": {"x": 1}}, {"default": "a"}) as (service, reloader, path):
            before = service.snapshot
            path.write_text(
                stand_in_config(
                    {"a": {"x": 1}, "b": {"x": 2}, "c": {"fail_start": True, "password": SECRET}},
                    {"default": "c"},
                )
            )
            assert not await reloader.reload("test")
            assert service.snapshot is before
            assert (await call(service)).experiment.name == "a"
            assert sorted(e for e in StandIn.events if e.startswith("close")) == ["close b", "close c"]
            await service.close()

    with caplog.at_level(logging.ERROR, "flowport"):
        asyncio.run(scenario())
    assert (
        "backends.c: could not start: RuntimeError: cannot reach https://u:***@example.internal"
        in caplog.text
    )
    assert SECRET not in caplog.text


def test_file_mistakes_are_logged_one_line_each_and_change_nothing(tmp_path, caplog):
    async def scenario() -> None:
        with reloading(tmp_path, {"a": {"x": 1}}, {"default": "a"}) as (service, reloader, path):
            before = service.snapshot
            path.write_text("backends:\n  a: {kind: stand-in\nworkspaces:\n  Bad_Name: nowhere\n")
            assert not await reloader.reload("test")
            path.write_text("backends:\n  a: {x: 1}\nworkspaces:\n  Bad_Name: nowhere\n")
            assert not await reloader.reload("test")
            assert service.snapshot is before
            await service.close()

    with caplog.at_level(logging.ERROR, "flowport"):
        asyncio.run(scenario())
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert all("\n" not in e for e in errors)
    assert any("is not valid YAML" in e for e in errors)
    assert any("backends.a: needs a 'kind'" in e for e in errors)
    assert any("workspaces.Bad_Name:" in e for e in errors)
