"""The load generator: keep-alive HTTP connections (as the mlflow client holds them), timed loops bounded
in count and time, and N client processes started together (processes, so the GIL of one client
cannot cap the others)."""

from __future__ import annotations

import dataclasses
import http.client
import json
import multiprocessing
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

JSON_HEADERS = {"Content-Type": "application/json"}


class HttpError(RuntimeError):
    pass


class Http:
    """One keep-alive HTTP/1.1 connection; http.client sets TCP_NODELAY on its side."""

    def __init__(self, url: str, timeout: float = 300.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self.url = url
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> bytes:
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise HttpError(f"{method} {path}: HTTP {response.status}: {data[:300]!r}")
        return data

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        query = "?" + urllib.parse.urlencode(params) if params else ""
        return json.loads(self.request("GET", path + query))

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        return json.loads(self.request("POST", path, json.dumps(payload).encode(), JSON_HEADERS))

    def close(self) -> None:
        self.conn.close()


@dataclasses.dataclass
class Timing:
    """Per-call latencies (seconds) and the wall time they took together."""

    latencies: list[float]
    wall: float

    @property
    def calls_per_second(self) -> float:
        return len(self.latencies) / self.wall if self.wall > 0 else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(op: Callable[[], object], count: int, seconds: float, *, minimum: int = 3) -> Timing:
    """Call `op` up to `count` times, stopping early once `seconds` have passed (after `minimum` calls)."""
    latencies = []
    start = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        op()
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        if i + 1 >= minimum and t1 - start > seconds:
            break
    return Timing(latencies, time.perf_counter() - start)


# An op factory is a module-level function (picklable by name) building one client's operation.
OpFactory = Callable[..., Callable[[], object]]


def _client_process(
    factory: OpFactory, args: tuple, index: int, count: int, seconds: float, barrier: Any, out: Any
) -> None:
    try:
        op = factory(*args, index)
        op()  # warm: connect, first request
        barrier.wait(timeout=120)
        latencies, start = [], time.monotonic()
        for i in range(count):
            t0 = time.monotonic()
            op()
            t1 = time.monotonic()
            latencies.append(t1 - t0)
            if i + 1 >= 2 and t1 - start > seconds:
                break
        out.put((latencies, start, time.monotonic(), None))
    except Exception as err:  # reported to the parent, which raises
        barrier.abort()
        out.put(([], 0.0, 0.0, f"client {index}: {err!r}"))


def concurrent(factory: OpFactory, args: tuple, clients: int, count: int, seconds: float) -> Timing:
    """`clients` processes, each with its own connection, start together and each call its op up to
    `count` times within `seconds`. Wall time spans the first start to the last finish."""
    ctx = multiprocessing.get_context("spawn")  # grpc and threads do not survive fork
    barrier, out = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [
        ctx.Process(
            target=_client_process, args=(factory, args, i, count, seconds, barrier, out), daemon=True
        )
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    try:
        try:
            barrier.wait(timeout=180)
        except Exception:
            pass  # a client failed to start; its error is in the queue
        results = [out.get(timeout=seconds + 600) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    errors = [err for *_, err in results if err]
    if errors:
        raise HttpError("; ".join(errors))
    latencies = [lat for lats, *_ in results for lat in lats]
    wall = max(end for _, _, end, _ in results) - min(start for _, start, _, _ in results)
    return Timing(latencies, wall)
