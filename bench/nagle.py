"""Why the stock server's small calls sit far above the echo floor: `python -m bench.nagle`.

Starts the stock `mlflow server` with 1 worker and with its default 4, each on uvloop and on asyncio's
loop (`--uvicorn-opts "--loop asyncio"`, what an install without uvloop runs), and times keep-alive
`/health` and `experiments/get` calls. With several workers uvicorn binds the listening socket itself
and leaves its `proto` at 0; asyncio then skips TCP_NODELAY on accepted sockets (uvicorn #3149), so an
answer written in two pieces (headers, then body) waits for the client's delayed ACK (~40 ms). uvloop
sets TCP_NODELAY on every TCP socket, so an install with uvloop (uvicorn[standard]) is spared."""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import statistics
import sys
import tempfile

from bench import ops, servers
from bench.client import Http, timed

STALL_MS = 30.0


def _stock(name: str, data_dir: pathlib.Path, workers: int | None, loop: str | None):
    extra = ("--uvicorn-opts", f"--loop {loop}") if loop else ()
    return servers.stock(name, data_dir, workers, extra=extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nagle", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args(argv)
    configs = [
        ("1 worker", 1, None),
        ("4 workers (default)", None, None),
        ("1 worker, --loop asyncio", 1, "asyncio"),
        ("4 workers, --loop asyncio", 4, "asyncio"),
    ]
    with tempfile.TemporaryDirectory(prefix="flowport-nagle-") as tmp, contextlib.ExitStack() as stack:
        started = [
            (label, stack.enter_context(_stock(f"stock-{i}", pathlib.Path(tmp) / "stock", workers, loop)))
            for i, (label, workers, loop) in enumerate(configs)
        ]
        servers.settle([server.proc.pid for _, server in started])  # job runners, huey consumers
        print("| stock server | call | p50 ms | p99 ms | calls >= 30 ms |\n|---|---|---|---|---|")
        for label, server in started:
            http = Http(server.url)
            calls = {
                "GET /health": lambda http=http: http.request("GET", "/health"),
                "experiments/get": lambda http=http: http.get(
                    f"{ops.API}/experiments/get", {"experiment_id": "0"}
                ),
            }
            for call, op in calls.items():
                timed(op, 50, 5.0)  # warm
                timing = timed(op, args.calls, 30.0)
                stalls = sum(lat * 1000 >= STALL_MS for lat in timing.latencies)
                print(
                    f"| {label} | {call} | {statistics.median(timing.latencies) * 1000:.2f} | "
                    f"{timing.percentile(0.99) * 1000:.1f} | {100 * stalls / len(timing.latencies):.0f}% |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
