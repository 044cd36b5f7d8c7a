"""The gateway process: bounded memory while a 1 GB artifact streams, clean shutdown, the CLI."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time

import httpx

from tests.fixtures.processes import run_gateway

GiB = 1 << 30
BLOCK = os.urandom(1 << 20)


def _peak_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_1gb_artifact_streams_with_bounded_memory(tmp_path):
    with run_gateway(tmp_path / "gw") as gw, httpx.Client(base_url=gw.url, timeout=300) as http:
        # Warm up every code path first so the baseline includes imports and buffers.
        assert http.put("/api/2.0/mlflow-artifacts/artifacts/warm/up.bin", content=BLOCK).status_code == 200
        assert len(http.get("/api/2.0/mlflow-artifacts/artifacts/warm/up.bin").content) == len(BLOCK)
        baseline = _peak_rss_bytes(gw.proc.pid)

        sent = hashlib.sha256()

        def body():
            for _ in range(GiB // len(BLOCK)):
                sent.update(BLOCK)
                yield BLOCK

        r = http.put("/api/2.0/mlflow-artifacts/artifacts/big/one-gib.bin", content=body())
        assert r.status_code == 200, r.text
        assert (gw.artifacts_dir / "big" / "one-gib.bin").stat().st_size == GiB

        received, size = hashlib.sha256(), 0
        with http.stream("GET", "/api/2.0/mlflow-artifacts/artifacts/big/one-gib.bin") as resp:
            assert resp.status_code == 200
            for chunk in resp.iter_bytes():
                received.update(chunk)
                size += len(chunk)
        assert size == GiB and received.digest() == sent.digest()
        growth = _peak_rss_bytes(gw.proc.pid) - baseline
        print(f"peak RSS growth while streaming 1 GiB up and down: {growth / (1 << 20):.1f} MiB")
        assert growth < 128 << 20


def test_sigterm_lets_an_inflight_upload_finish(tmp_path):
    with run_gateway(tmp_path / "gw") as gw:
        started = threading.Event()
        result: dict = {}

        def slow_body():
            for i in range(20):
                if i == 2:
                    started.set()
                time.sleep(0.05)
                yield BLOCK

        def upload():
            with httpx.Client(timeout=60) as c:
                result["response"] = c.put(
                    gw.url + "/api/2.0/mlflow-artifacts/artifacts/slow/file.bin", content=slow_body()
                )

        t = threading.Thread(target=upload)
        t.start()
        started.wait(10)
        gw.proc.send_signal(signal.SIGTERM)
        t.join(60)
        assert result["response"].status_code == 200
        assert gw.proc.wait(60) == 0
        assert (gw.artifacts_dir / "slow" / "file.bin").stat().st_size == 20 * len(BLOCK)
        leftovers = [
            p
            for p in gw.artifacts_dir.rglob("*")
            if p.is_file() and p.name != "file.bin" and "warm" not in p.parts
        ]
        assert leftovers == []


def test_cli_version_and_help():
    out = subprocess.run(
        [sys.executable, "-m", "flowport.gateway.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip()
    out = subprocess.run(
        [sys.executable, "-m", "flowport.gateway.cli", "serve", "--help"], capture_output=True, text=True
    )
    for flag in ("--host", "--port", "--grpc-port", "--backend-store-uri", "--artifacts-destination"):
        assert flag in out.stdout


def test_serve_with_no_arguments_uses_the_embedded_default(tmp_path):
    env = {**os.environ, "FLOWPORT_HOME": str(tmp_path / "home")}
    # Default ports may be taken on a shared machine; only the storage defaults are under test here.
    from tests.fixtures.processes import free_port, stop_process, wait_http

    port = free_port()
    log = tmp_path / "log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowport.gateway.cli", "serve", "--port", str(port), "--grpc-port", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, log)
        assert (tmp_path / "home" / "flowport.db").exists()
        # The banner follows the doors opening; give it a moment rather than racing it.
        deadline = time.monotonic() + 30
        while "artifacts" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        printed = log.read_text()
        assert str(tmp_path / "home" / "flowport.db") in printed
        assert str(tmp_path / "home" / "artifacts") in printed
    finally:
        stop_process(proc)
