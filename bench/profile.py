"""Where a server spends a workload's time: py-spy samples the server's process tree while the workload
runs (`python -m bench --profile ...`), and the samples are folded into the functions that hold the most
of them. Sampling slows the server, so a profiled run's numbers do not go into the table."""

from __future__ import annotations

import collections
import contextlib
import pathlib
import re
import signal
import subprocess
from collections.abc import Iterator

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_LOCATION = re.compile(r" \((?P<file>[^()]*?):\d+\)$")
# Frames every sample passes through (thread start, executors, the event loop): they say nothing.
_PLUMBING = ("threading.py", "concurrent/futures/", "runpy", "asyncio/", "anyio/_backends/", "<frozen")


@contextlib.contextmanager
def sampled(pid: int, out: pathlib.Path, rate: int = 250) -> Iterator[None]:
    """py-spy record over `pid` and its children (uvicorn workers) while the block runs; raw folded stacks."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["py-spy", "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--rate", str(rate)]
    spy = subprocess.Popen(
        [*cmd, "--nonblocking", "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def _frame(frame: str) -> str:
    """`handler (/site-packages/mlflow/server/handlers.py:123)` → `handler (mlflow/server/handlers.py)`."""
    match = _LOCATION.search(frame)
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "lib/python3.", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{frame[: match.start()].strip()} ({path})"


def top_functions(raw: pathlib.Path, limit: int = 15) -> dict:
    """Share of samples per function (inclusive: anywhere on the stack; self: on top), busiest first."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        count = int(match["count"])
        frames = [
            _frame(f)
            for f in match["stack"].split(";")
            if not f.startswith(("process ", "thread ")) and not any(p in f for p in _PLUMBING)
        ]
        if not frames:
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if not total:
        return {"samples": 0, "inclusive": [], "self": []}

    def share(counter: collections.Counter[str]) -> list[tuple[float, str]]:
        return [(round(100 * n / total, 1), frame) for frame, n in counter.most_common(limit)]

    return {"samples": total, "inclusive": share(inclusive), "self": share(own)}
