"""The servers under test, each on a free loopback port: the stock `mlflow server` (default 4 workers, and
`--workers 1`), `flowport serve` on its local backend, flowport in front of the stock server (proxy
mode), and the echo floors. Also the memory watch over a server's process tree."""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psutil

from tests.fixtures.processes import free_port, mlflow_server_command, stop_process, wait_http

STOCK_4W, STOCK_1W, FLOWPORT, PROXY = "stock-4w", "stock-1w", "flowport", "flowport-proxy"
STOCK = (STOCK_4W, STOCK_1W)
ALL = (STOCK_4W, STOCK_1W, FLOWPORT, PROXY)
CHECKOUT = pathlib.Path(__file__).resolve().parents[1]  # where `python -m bench.echo` is found


@dataclasses.dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen
    grpc_target: str | None = None  # flowport's gRPC door
    remote_url: str | None = None  # proxy mode: the stock server behind it


def _spawn(cmd: list[str], log: pathlib.Path, cwd: pathlib.Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)


@contextlib.contextmanager
def _running(
    name: str, cmd: list[str], url: str, data_dir: pathlib.Path, cwd: pathlib.Path | None = None, **extra: str
) -> Iterator[Server]:
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"{name}.log"
    proc = _spawn(cmd, log, cwd or data_dir)
    try:
        wait_http(url + "/health", proc, log, timeout=180)
        yield Server(name, url, proc, **extra)
    finally:
        stop_process(proc)


def stock(
    name: str, data_dir: pathlib.Path, workers: int | None, extra: tuple[str, ...] = ()
) -> contextlib.AbstractContextManager[Server]:
    """`mlflow server` on SQLite with proxied artifacts; no `--workers` is its default (4)."""
    port = free_port()
    cmd = mlflow_server_command(port, data_dir, workers=workers, extra=("--serve-artifacts", *extra))
    return _running(name, cmd, f"http://127.0.0.1:{port}", data_dir)


def _flowport_cmd(port: int, grpc_port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "flowport.gateway.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--grpc-port",
        str(grpc_port),
        "--log-level",
        "warning",
    ]


def flowport(data_dir: pathlib.Path) -> contextlib.AbstractContextManager[Server]:
    """`flowport serve` on its local backend: SQLite and an artifact folder in a fresh `data_dir`."""
    port, grpc_port = free_port(), free_port()
    cmd = _flowport_cmd(port, grpc_port) + [
        "--backend-store-uri",
        f"sqlite:///{data_dir / 'flowport.db'}",
        "--artifacts-destination",
        str(data_dir / "artifacts"),
    ]
    url = f"http://127.0.0.1:{port}"
    return _running(FLOWPORT, cmd, url, data_dir, grpc_target=f"127.0.0.1:{grpc_port}")


def flowport_proxy(data_dir: pathlib.Path, remote_url: str) -> contextlib.AbstractContextManager[Server]:
    """`flowport serve` whose default workspace is an `mlflow` backend: the stock server at `remote_url`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "flowport.yaml"
    config.write_text(
        f"backends:\n  remote:\n    kind: mlflow\n    url: {remote_url}\nworkspaces:\n  default: remote\n"
    )
    port, grpc_port = free_port(), free_port()
    cmd = _flowport_cmd(port, grpc_port) + ["--config", str(config), "--no-reload"]
    url = f"http://127.0.0.1:{port}"
    return _running(PROXY, cmd, url, data_dir, grpc_target=f"127.0.0.1:{grpc_port}", remote_url=remote_url)


def http_echo(data_dir: pathlib.Path) -> contextlib.AbstractContextManager[Server]:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.echo", "http", str(port)]
    return _running("http-echo", cmd, f"http://127.0.0.1:{port}", data_dir, cwd=CHECKOUT)


@contextlib.contextmanager
def grpc_echo(data_dir: pathlib.Path) -> Iterator[Server]:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = _spawn(
        [sys.executable, "-m", "bench.echo", "grpc", str(port)], data_dir / "grpc-echo.log", CHECKOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"grpc echo did not start: {(data_dir / 'grpc-echo.log').read_text()}")
            time.sleep(0.1)
        yield Server("grpc-echo", "", proc, grpc_target=f"127.0.0.1:{port}")
    finally:
        stop_process(proc)


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (uvicorn workers included)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


def _tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for proc in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
    return total


def settle(pids: list[int], idle_cores: float = 0.15, timeout: float = 120.0) -> float:
    """Wait until the servers' trees use less than `idle_cores` of CPU over a second: the stock server
    answers /health while its job runner and huey consumers are still importing MLflow for a while.
    Returns the seconds waited."""
    started = time.monotonic()
    before = sum(_tree_cpu_seconds(pid) for pid in pids)
    while time.monotonic() - started < timeout:
        time.sleep(1.0)
        now = sum(_tree_cpu_seconds(pid) for pid in pids)
        if now - before < idle_cores:
            break
        before = now
    return time.monotonic() - started


class RssWatch:
    """Samples a process tree's RSS every 20 ms while in use: the baseline before and the peak during."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, tree_rss(self.pid))

    def __enter__(self) -> RssWatch:
        self.baseline = self.peak = tree_rss(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid))
