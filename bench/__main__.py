"""`python -m bench [--quick | --size tiny|quick|full]`: start the servers, run every workload row, print
the table and write it with the raw values as JSON. Run from the checkout (bench is not installed)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from bench import report, servers
from bench.sizes import SIZES, Sizes
from bench.workloads import GROUPS, Context, rows, run_all


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full", help="workload sizes (default full)")
    parser.add_argument("--quick", action="store_const", const="quick", dest="size", help="--size quick")
    parser.add_argument(
        "--servers",
        default=",".join(servers.ALL),
        help=f"comma-separated subset of {','.join(servers.ALL)} (default all)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="override the size's repeat count")
    parser.add_argument(
        "--search-runs", default=None, help="override the run counts searched, e.g. 1000,10000,100000"
    )
    parser.add_argument(
        "--out", default="bench/results", help="folder for results.json and table.md (default bench/results)"
    )
    parser.add_argument(
        "--workdir", default=None, help="where the servers keep their data (default: a temp dir)"
    )
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated workload groups to run, of {','.join(GROUPS)} (default all)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="comma-separated servers to sample with py-spy while they work (summaries in results.json "
        "and profiles/ under --out); their numbers are slowed by it",
    )
    parser.add_argument("--keep", action="store_true", help="keep the servers' data and logs afterwards")
    return parser


def _names(text: str | None) -> set[str]:
    return {name.strip() for name in (text or "").split(",") if name.strip()}


def _meta(size: str, sizes: Sizes, started: float) -> dict:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    import mlflow

    return {
        "size": size,
        "sizes": dataclasses.asdict(sizes),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "commit": commit,
        "mlflow": mlflow.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = SIZES[args.size]
    if args.repeats:
        sizes = dataclasses.replace(sizes, repeats=args.repeats)
    if args.search_runs:
        sizes = sizes.with_search_runs(tuple(int(n) for n in args.search_runs.split(",")))
    wanted = [name for name in servers.ALL if name in _names(args.servers)]
    groups = _names(args.only)
    profiled = _names(args.profile)
    unknown = (_names(args.servers) | profiled) - set(servers.ALL) | groups - set(GROUPS)
    if unknown:
        print(f"unknown servers or groups: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="flowport-bench-"))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"bench: size {args.size}, servers {', '.join(wanted)}, data in {workdir}; load {os.getloadavg()}")
    try:
        with contextlib.ExitStack() as stack:
            running: dict[str, servers.Server] = {}
            stock_dir = workdir / "stock"  # both stock configurations serve one database
            if servers.STOCK_4W in wanted:
                running[servers.STOCK_4W] = stack.enter_context(
                    servers.stock(servers.STOCK_4W, stock_dir, None)
                )
            if servers.STOCK_1W in wanted or servers.PROXY in wanted:
                stock_1w = stack.enter_context(servers.stock(servers.STOCK_1W, stock_dir, 1))
                if servers.STOCK_1W in wanted:
                    running[servers.STOCK_1W] = stock_1w
            if servers.FLOWPORT in wanted:
                running[servers.FLOWPORT] = stack.enter_context(servers.flowport(workdir / "flowport"))
            if servers.PROXY in wanted:
                running[servers.PROXY] = stack.enter_context(
                    servers.flowport_proxy(workdir / "proxy", stock_1w.url)
                )
            floors = {
                "http": stack.enter_context(servers.http_echo(workdir / "echo")),
                "grpc": stack.enter_context(servers.grpc_echo(workdir / "echo")),
            }
            order = [name for name in servers.ALL if name in running]
            trees = {server.proc.pid for server in running.values()}
            if servers.PROXY in running:
                trees.add(stock_1w.proc.pid)
            waited = servers.settle(sorted(trees))
            print(f"bench: servers settled after {waited:.0f}s")
            ctx = Context(
                sizes,
                workdir,
                {name: running[name] for name in order},
                floors,
                groups=frozenset(groups),
                profile=frozenset(profiled),
                profile_dir=out / "profiles",
            )
            run_all(ctx)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    table_rows = rows(sizes)
    summary = report.summarize(ctx.results, table_rows, order)
    table = report.markdown(summary, order)
    result = {
        "meta": _meta(args.size, sizes, started),
        "rows": summary,
        "notes": ctx.results.notes,
        "profiles": ctx.results.profiles,
    }
    (out / "results.json").write_text(json.dumps(result, indent=1))
    (out / "table.md").write_text(table + "\n")
    print(table)
    for what, top in ctx.results.profiles.items():
        print(f"\nprofile: {what} ({top['samples']} samples)")
        for kind in ("inclusive", "self"):
            print(f"  {kind} %:")
            for share, frame in top[kind][:10]:
                print(f"    {share:5.1f}  {frame}")
    for note in ctx.results.notes:
        print(f"note: {note}")
    print(f"bench: {result['meta']['seconds']}s; wrote {out / 'results.json'} and {out / 'table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
