"""The bench harness (`python -m bench`) still runs end to end: at tiny sizes against the real servers, every
row gets a sane value at every server it applies to. No timing is asserted: only that numbers exist."""

from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys

from bench.servers import ALL, FLOWPORT, PROXY, STOCK_4W
from bench.sizes import SIZES
from bench.workloads import FLOOR, rows
from tests.fixtures.processes import NO_JOBS

CHECKOUT = pathlib.Path(__file__).resolve().parents[1]


def _columns(key: str) -> set[str]:
    """Where a row is measured: floors alone; gRPC at flowport's doors; population and ingest through the
    server that loads each dataset; the proxy probe at the proxy; everything else everywhere."""
    if key.startswith("floor."):
        return {FLOOR}
    if key.startswith("grpc."):
        return {FLOWPORT, PROXY}
    if key.endswith("populate_runs_s") or key == "traces.ingest_spans_s":
        return {STOCK_4W, FLOWPORT}
    if key.startswith("proxy."):
        return {PROXY}
    return set(ALL)


def test_tiny_run_fills_every_row_with_sane_numbers(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--size",
            "tiny",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "data"),
        ],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=600,
        # The harness is under test here, not the stock server's GenAI job runner (six processes that
        # a real bench run keeps, as the server's default).
        env={**os.environ, **NO_JOBS},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads((out / "results.json").read_text())
    assert report["notes"] == []
    assert report["meta"]["size"] == "tiny"
    by_key = {row["key"]: row for row in report["rows"]}
    expected = rows(SIZES["tiny"])
    assert sorted(by_key) == sorted(row.key for row in expected)
    for row in expected:
        cells = by_key[row.key]["columns"]
        assert set(cells) == _columns(row.key), row.key
        for column, cell in cells.items():
            values = cell["values"]
            assert len(values) == SIZES["tiny"].repeats and all(math.isfinite(v) for v in values), (
                row.key,
                column,
            )
            assert cell["min"] <= cell["median"] <= cell["max"]
            # Stalled calls and memory growth may be none, the proxy's overhead is a difference; all else > 0.
            if row.key not in ("health.stall_pct", "artifact.rss_growth_mb", "proxy.overhead_ms"):
                assert cell["min"] > 0, (row.key, column)
    for key, row in by_key.items():
        if row["ratio"] is not None:
            flowport, stock = row["columns"][FLOWPORT]["median"], row["columns"][row["best_stock"]]["median"]
            assert row["ratio"] == flowport / stock, key
    table = (out / "table.md").read_text()
    assert all(row.label in table for row in expected)
