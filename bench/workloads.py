"""The workload rows of issue 8: the same calls at every server, repeated with the servers' order rotated
each time (A/B alternation), each value recorded per repeat."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import pathlib
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator

from bench import ops, profile
from bench.client import Http, HttpError, Timing, concurrent, timed
from bench.servers import FLOWPORT, PROXY, STOCK_1W, STOCK_4W, RssWatch, Server
from bench.sizes import Sizes

FLOOR = "floor"
STALL_SECONDS = 0.030  # a call this slow on loopback waited on a timer (Nagle + delayed ACK is ~40 ms)
MB = 1 << 20


@dataclasses.dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str
    better: str  # "lower" or "higher"
    compare: bool = True  # False where a ratio of two near-zero numbers would only show noise


def rows(sizes: Sizes) -> list[Row]:
    """Every row of the table, in order."""
    out = [
        Row("floor.http.p50_ms", "floor: HTTP keep-alive echo p50", "ms", "lower"),
        Row("floor.http.c8_calls_s", f"floor: HTTP echo, {sizes.clients} clients", "calls/s", "higher"),
        Row("floor.grpc.p50_ms", "floor: grpcio unary echo p50", "ms", "lower"),
        Row("floor.grpc.c8_calls_s", f"floor: grpcio echo, {sizes.clients} clients", "calls/s", "higher"),
        Row("health.p50_ms", "GET /health p50", "ms", "lower"),
        Row("health.p99_ms", "GET /health p99", "ms", "lower"),
        Row("health.stall_pct", "GET /health calls >= 30 ms", "%", "lower", compare=False),
        Row("create.p50_ms", "runs/create p50, sequential", "ms", "lower"),
        Row("create.p99_ms", "runs/create p99, sequential", "ms", "lower"),
        Row("create.runs_s", "runs/create, sequential", "runs/s", "higher"),
        Row("create.c8_p50_ms", f"runs/create p50, {sizes.clients} clients", "ms", "lower"),
        Row("create.c8_p99_ms", f"runs/create p99, {sizes.clients} clients", "ms", "lower"),
        Row("create.c8_runs_s", f"runs/create, {sizes.clients} clients", "runs/s", "higher"),
        Row("log_metric.p50_ms", "runs/log-metric p50", "ms", "lower"),
        Row("log_metric.calls_s", "runs/log-metric, sequential", "calls/s", "higher"),
        Row("log_batch.p50_ms", "runs/log-batch (1000 points) p50", "ms", "lower"),
        Row("log_batch.points_s", "runs/log-batch, sequential", "points/s", "higher"),
        Row("log_batch.c8_points_s", f"runs/log-batch, {sizes.clients} clients", "points/s", "higher"),
        Row("grpc.log_batch.points_s", "gRPC LogBatch, sequential", "points/s", "higher"),
        Row("grpc.log_batch.c8_points_s", f"gRPC LogBatch, {sizes.clients} clients", "points/s", "higher"),
        Row("grpc.metric_stream.points_s", "gRPC metric stream, sequential", "points/s", "higher"),
    ]
    for n in sizes.history_points:
        out.append(Row(f"history.{n}.ms", f"get-history, {n:,} points (paged)", "ms", "lower"))
    for n in sizes.search_runs:
        out.append(
            Row(f"search.{n}.populate_runs_s", f"populate {n:,} runs (create+log-batch)", "runs/s", "higher")
        )
        out.append(Row(f"search.{n}.p50_ms", f"runs/search over {n:,} runs p50", "ms", "lower"))
    out += [
        Row("registry.create_ms", "registry: model+version+alias p50", "ms", "lower"),
        Row("registry.get_alias_ms", "registry: get-by-alias p50", "ms", "lower"),
        Row("artifact.up_mb_s", f"artifact upload {sizes.artifact_mb} MB", "MB/s", "higher"),
        Row("artifact.down_mb_s", f"artifact download {sizes.artifact_mb} MB", "MB/s", "higher"),
        Row("artifact.rss_growth_mb", "artifact: server peak RSS growth", "MB", "lower", compare=False),
        Row("artifact.peak_rss_mb", "artifact: server peak RSS (process tree)", "MB", "lower"),
        Row("traces.ingest_spans_s", f"OTLP/HTTP ingest, {sizes.clients} clients", "spans/s", "higher"),
        Row("traces.search_ms", f"traces/search over {sizes.traces:,} traces p50", "ms", "lower"),
        Row("proxy.direct_p50_ms", "experiments/get, direct to the stock server", "ms", "lower"),
        Row("proxy.via_p50_ms", "experiments/get, through flowport", "ms", "lower"),
        Row("proxy.overhead_ms", "proxy overhead p50", "ms", "lower"),
    ]
    return out


class Results:
    """Values per column (server) and row, one per repeat; plus notes (populated counts, errors)."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, list[float]]] = {}
        self.notes: list[str] = []
        self.profiles: dict[str, dict] = {}

    def record(self, column: str, measured: dict[str, float]) -> None:
        for key, value in measured.items():
            self.values.setdefault(column, {}).setdefault(key, []).append(value)


@dataclasses.dataclass
class Context:
    sizes: Sizes
    workdir: pathlib.Path
    servers: dict[str, Server]
    floors: dict[str, Server]
    results: Results = dataclasses.field(default_factory=Results)
    log: Callable[[str], None] = print
    groups: frozenset[str] = frozenset()  # workload groups to run (GROUPS); empty means all
    profile: frozenset[str] = frozenset()  # servers sampled with py-spy while they work
    profile_dir: pathlib.Path | None = None
    _experiments: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    _runs: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    _populated: dict[str, int] = dataclasses.field(default_factory=dict)

    def dataset(self, name: str) -> str:
        """Which data a server sees: both stock configurations and the proxy share one stock database."""
        return "flowport" if name == FLOWPORT else "stock"

    def loader(self, dataset: str) -> Server:
        """The server that populates a dataset: the stock default (4 workers) if running, else the other."""
        for name in (FLOWPORT,) if dataset == "flowport" else (STOCK_4W, STOCK_1W):
            if name in self.servers:
                return self.servers[name]
        raise KeyError(dataset)

    def datasets(self, names: list[str]) -> list[str]:
        return sorted({self.dataset(n) for n in names})

    def experiment(self, server: Server, purpose: str) -> str:
        key = (server.name, purpose)
        if key not in self._experiments:
            self._experiments[key] = ops.create_experiment(Http(server.url), f"bench-{purpose}")
        return self._experiments[key]

    def shared_experiment(self, dataset: str, purpose: str) -> str:
        """An experiment in a dataset, created through its loader, read by every server on it."""
        return self.experiment(self.loader(dataset), purpose)

    @contextlib.contextmanager
    def sampling(self, server: Server, what: str) -> Iterator[None]:
        """py-spy over the server during the block if it is profiled; the summary kept under `what`."""
        if server.name not in self.profile or self.profile_dir is None:
            yield
            return
        slug = "".join(c if c.isalnum() else "-" for c in what).strip("-")
        raw = self.profile_dir / f"{slug}.{server.name}.txt"
        with profile.sampled(server.proc.pid, raw):
            yield
        if raw.exists():
            self.results.profiles[f"{what} @ {server.name}"] = profile.top_functions(raw)

    def alternate(self, names: list[str], measure: Callable[[Server], dict[str, float]], what: str) -> None:
        """Each repeat runs `measure` at every server, the order rotated by one each time."""
        for repeat in range(self.sizes.repeats):
            order = names[repeat % len(names) :] + names[: repeat % len(names)] if names else []
            for name in order:
                started = time.monotonic()
                try:
                    with self.sampling(self.servers[name], what):
                        self.results.record(name, measure(self.servers[name]))
                except (HttpError, OSError, RuntimeError) as err:
                    self.results.notes.append(f"{what} at {name}: {err}")
                    self.log(f"  ! {what} at {name}: {err}")
                self.log(f"  {what} {name} (repeat {repeat + 1}) {time.monotonic() - started:.1f}s")


def _ms(seconds: float) -> float:
    return seconds * 1000


def _latency(timing: Timing, prefix: str) -> dict[str, float]:
    return {f"{prefix}p50_ms": _ms(timing.percentile(0.5)), f"{prefix}p99_ms": _ms(timing.percentile(0.99))}


# -- the floor ----------------------------------------------------------------------------------------


def floor(ctx: Context) -> None:
    s = ctx.sizes
    for repeat in range(s.repeats):
        measured = {}
        if http_echo := ctx.floors.get("http"):
            measured["floor.http.p50_ms"] = _ms(
                timed(ops.health(http_echo.url, 0), s.calls * 2, s.seconds).percentile(0.5)
            )
            c8 = concurrent(ops.health, (http_echo.url,), s.clients, s.client_calls * 20, s.seconds)
            measured["floor.http.c8_calls_s"] = c8.calls_per_second
        if grpc_echo := ctx.floors.get("grpc"):
            measured["floor.grpc.p50_ms"] = _ms(
                timed(ops.grpc_echo(grpc_echo.grpc_target, 0), s.calls * 2, s.seconds).percentile(0.5)
            )
            c8 = concurrent(
                ops.grpc_echo, (grpc_echo.grpc_target,), s.clients, s.client_calls * 20, s.seconds
            )
            measured["floor.grpc.c8_calls_s"] = c8.calls_per_second
        ctx.results.record(FLOOR, measured)
        ctx.log(f"  floor (repeat {repeat + 1})")


# -- per call: latency and rate ----------------------------------------------------------------------


def health(ctx: Context, server: Server) -> dict[str, float]:
    timing = timed(ops.health(server.url, 0), ctx.sizes.calls * 2, ctx.sizes.seconds)
    stalls = sum(1 for lat in timing.latencies if lat >= STALL_SECONDS)
    return {**_latency(timing, "health."), "health.stall_pct": 100 * stalls / len(timing.latencies)}


def runs_create(ctx: Context, server: Server) -> dict[str, float]:
    s, experiment_id = ctx.sizes, ctx.experiment(server, "create")
    seq = timed(ops.runs_create(server.url, experiment_id, 0), s.calls, s.seconds)
    c8 = concurrent(ops.runs_create, (server.url, experiment_id), s.clients, s.client_calls, s.seconds)
    return {
        **_latency(seq, "create."),
        "create.runs_s": seq.calls_per_second,
        **_latency(c8, "create.c8_"),
        "create.c8_runs_s": c8.calls_per_second,
    }


def log_metric(ctx: Context, server: Server) -> dict[str, float]:
    timing = timed(
        ops.log_metric(server.url, ctx.experiment(server, "log-metric"), 0),
        ctx.sizes.calls,
        ctx.sizes.seconds,
    )
    return {"log_metric.p50_ms": _ms(timing.percentile(0.5)), "log_metric.calls_s": timing.calls_per_second}


def log_batch(ctx: Context, server: Server) -> dict[str, float]:
    s, experiment_id = ctx.sizes, ctx.experiment(server, "log-batch")
    points = ops.BATCH_KEYS * ops.BATCH_STEPS
    seq = timed(ops.log_batch(server.url, experiment_id, 0), s.batches, s.seconds * 2)
    c8 = concurrent(
        ops.log_batch, (server.url, experiment_id), s.clients, max(2, s.batches // 2), s.seconds * 2
    )
    return {
        "log_batch.p50_ms": _ms(seq.percentile(0.5)),
        "log_batch.points_s": seq.calls_per_second * points,
        "log_batch.c8_points_s": c8.calls_per_second * points,
    }


def grpc_log_batch(ctx: Context, server: Server) -> dict[str, float]:
    s, experiment_id = ctx.sizes, ctx.experiment(server, "grpc-log-batch")
    points = ops.BATCH_KEYS * ops.BATCH_STEPS
    seq = timed(ops.grpc_log_batch(server.grpc_target, experiment_id, 0), s.batches, s.seconds * 2)
    c8 = concurrent(
        ops.grpc_log_batch,
        (server.grpc_target, experiment_id),
        s.clients,
        max(2, s.batches // 2),
        s.seconds * 2,
    )
    # flowport's LogMetricStream: BATCH_KEYS columns of 100 steps per log-batch call of the size, per call.
    steps = 10 * s.batches * ops.BATCH_STEPS
    stream = timed(ops.grpc_metric_stream(server.grpc_target, experiment_id, steps), s.batches, s.seconds * 2)
    return {
        "grpc.log_batch.points_s": seq.calls_per_second * points,
        "grpc.log_batch.c8_points_s": c8.calls_per_second * points,
        "grpc.metric_stream.points_s": stream.calls_per_second * ops.BATCH_KEYS * steps,
    }


def registry(ctx: Context, server: Server) -> dict[str, float]:
    http = Http(server.url)
    experiment_id = ctx.experiment(server, "registry")
    run_id = ops.create_run(http, experiment_id)
    source = f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model"
    names = []

    def create() -> None:
        name = f"bench-{uuid.uuid4().hex[:12]}"
        http.post(f"{ops.API}/registered-models/create", {"name": name})
        version = http.post(
            f"{ops.API}/model-versions/create", {"name": name, "source": source, "run_id": run_id}
        )
        http.post(
            f"{ops.API}/registered-models/alias",
            {"name": name, "alias": "champion", "version": version["model_version"]["version"]},
        )
        names.append(name)

    created = timed(create, max(3, ctx.sizes.calls // 10), ctx.sizes.seconds)
    name = names[-1]
    get = timed(
        lambda: http.get(f"{ops.API}/registered-models/alias", {"name": name, "alias": "champion"}),
        ctx.sizes.calls,
        ctx.sizes.seconds,
    )
    return {
        "registry.create_ms": _ms(created.percentile(0.5)),
        "registry.get_alias_ms": _ms(get.percentile(0.5)),
    }


# -- artifacts -----------------------------------------------------------------------------------------


def _blob(ctx: Context) -> pathlib.Path:
    path = ctx.workdir / f"blob-{ctx.sizes.artifact_mb}mb.bin"
    if not path.exists():
        with open(path, "wb") as f:
            for _ in range(ctx.sizes.artifact_mb):
                f.write(os.urandom(MB))
    return path


def artifacts(ctx: Context, server: Server) -> dict[str, float]:
    """One upload and one download of the blob through the server's artifact proxy, as the mlflow client
    streams them (a PUT with Content-Length, a GET read in chunks), the server's tree RSS watched."""
    blob = _blob(ctx)
    size = blob.stat().st_size
    parts = urllib.parse.urlsplit(server.url)
    path = f"/api/2.0/mlflow-artifacts/artifacts/bench/{uuid.uuid4().hex}/blob.bin"
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600, blocksize=MB)
    try:
        with RssWatch(server.proc.pid) as up_rss, open(blob, "rb") as f:
            started = time.perf_counter()
            conn.request("PUT", path, body=f, headers={"Content-Length": str(size)})
            response = conn.getresponse()
            body = response.read()
            up = time.perf_counter() - started
        if response.status != 200:
            raise HttpError(f"PUT artifact: HTTP {response.status} {body[:200]!r}")
        with RssWatch(server.proc.pid) as down_rss:
            started = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            received = 0
            while chunk := response.read(MB):
                received += len(chunk)
            down = time.perf_counter() - started
        if response.status != 200 or received != size:
            raise HttpError(f"GET artifact: HTTP {response.status}, {received} of {size} bytes")
    finally:
        conn.close()
    growth = max(up_rss.peak - up_rss.baseline, down_rss.peak - down_rss.baseline)
    return {
        "artifact.up_mb_s": size / MB / up,
        "artifact.down_mb_s": size / MB / down,
        "artifact.rss_growth_mb": growth / MB,
        "artifact.peak_rss_mb": max(up_rss.peak, down_rss.peak) / MB,
    }


# -- proxy mode ------------------------------------------------------------------------------------------


def proxy_overhead(ctx: Context, server: Server) -> dict[str, float]:
    """The same small read, alternately direct to the stock server and through flowport in front of it."""
    experiment_id = ctx.shared_experiment("stock", "proxy")
    direct, via = (
        ops.get_experiment(server.remote_url, experiment_id, 0),
        ops.get_experiment(server.url, experiment_id, 0),
    )
    direct_lat, via_lat = [], []
    deadline = time.monotonic() + ctx.sizes.seconds * 2
    for _ in range(ctx.sizes.calls):
        for op, out in ((direct, direct_lat), (via, via_lat)):
            t0 = time.perf_counter()
            op()
            out.append(time.perf_counter() - t0)
        if time.monotonic() > deadline:
            break
    d50, v50 = Timing(direct_lat, 1).percentile(0.5), Timing(via_lat, 1).percentile(0.5)
    return {
        "proxy.direct_p50_ms": _ms(d50),
        "proxy.via_p50_ms": _ms(v50),
        "proxy.overhead_ms": _ms(v50 - d50),
    }


# -- data at scale: history, search, traces -----------------------------------------------------------


def metric_history(ctx: Context, names: list[str]) -> None:
    history_runs: dict[tuple[str, int], str] = {}
    for dataset in ctx.datasets(names):
        loader = ctx.loader(dataset)
        http = Http(loader.url)
        experiment_id = ctx.shared_experiment(dataset, "history")
        for n in ctx.sizes.history_points:
            run_id = ops.create_run(http, experiment_id)
            started, ts = time.monotonic(), ops.now_ms()
            for first in range(0, n, 1000):
                points = [
                    {"key": "loss", "value": 1 / (step + 1), "timestamp": ts + step, "step": step}
                    for step in range(first, min(n, first + 1000))
                ]
                http.post(f"{ops.API}/runs/log-batch", {"run_id": run_id, "metrics": points})
            ctx.log(f"  history: {n:,} points into {loader.name} in {time.monotonic() - started:.1f}s")
            history_runs[dataset, n] = run_id

    def measure(server: Server) -> dict[str, float]:
        http, out = Http(server.url), {}
        for n in ctx.sizes.history_points:
            run_id = history_runs[ctx.dataset(server.name), n]
            timing = timed(
                lambda run_id=run_id: ops.metric_history(http, run_id, "loss"), 3, ctx.sizes.seconds
            )
            got = ops.metric_history(http, run_id, "loss")
            if got != n:
                raise HttpError(f"get-history returned {got} of {n} points")
            out[f"history.{n}.ms"] = _ms(timing.percentile(0.5))
        return out

    ctx.alternate(names, measure, "get-history")


def search_runs(ctx: Context, names: list[str]) -> None:
    s = ctx.sizes
    for n in s.search_runs:
        for dataset in ctx.datasets(names):
            loader = ctx.loader(dataset)
            experiment_id = ctx.shared_experiment(dataset, "search")
            have = ctx._populated.get(dataset, 0)
            per_client = -(-(n - have) // s.clients)
            with ctx.sampling(loader, f"populate {n} runs"):
                timing = concurrent(
                    ops.populate_runs,
                    (loader.url, experiment_id, n),
                    s.clients,
                    per_client,
                    s.population_seconds,
                )
            ctx._populated[dataset] = have + len(timing.latencies)
            if ctx._populated[dataset] < n:
                ctx.results.notes.append(
                    f"{dataset}: only {ctx._populated[dataset]} of {n} runs populated in time"
                )
            ctx.results.record(loader.name, {f"search.{n}.populate_runs_s": timing.calls_per_second})
            rate = timing.calls_per_second
            ctx.log(f"  search: {dataset} now {ctx._populated[dataset]:,} runs ({rate:.0f} runs/s)")

        def measure(server: Server, n: int = n) -> dict[str, float]:
            http = Http(server.url)
            experiment_id = ctx.shared_experiment(ctx.dataset(server.name), "search")
            answer = ops.search_runs(http, experiment_id)
            if not answer.get("runs"):
                raise HttpError("runs/search found nothing")
            timing = timed(lambda: ops.search_runs(http, experiment_id), s.search_queries, s.seconds * 2)
            return {f"search.{n}.p50_ms": _ms(timing.percentile(0.5))}

        ctx.alternate(names, measure, f"runs/search {n:,}")


def traces(ctx: Context, names: list[str]) -> None:
    """OTLP ingest in one slice per repeat (so ingest alternates too), then traces/search over all."""
    s = ctx.sizes
    exports_per_repeat = max(s.clients, s.traces // s.traces_per_export // s.repeats)
    for repeat in range(s.repeats):
        for dataset in ctx.datasets(names)[:: 1 if repeat % 2 == 0 else -1]:
            loader = ctx.loader(dataset)
            experiment_id = ctx.shared_experiment(dataset, "traces")
            with ctx.sampling(loader, "OTLP ingest"):
                timing = concurrent(
                    ops.otlp_ingest,
                    (loader.url, experiment_id, s.traces_per_export),
                    s.clients,
                    -(-exports_per_repeat // s.clients),
                    s.population_seconds,
                )
            spans_s = timing.calls_per_second * s.traces_per_export * 2
            ctx.results.record(loader.name, {"traces.ingest_spans_s": spans_s})
            ctx.log(f"  traces: ingest into {loader.name} {spans_s:.0f} spans/s (repeat {repeat + 1})")

    def measure(server: Server) -> dict[str, float]:
        http = Http(server.url)
        experiment_id = ctx.shared_experiment(ctx.dataset(server.name), "traces")
        if len(ops.search_traces(http, experiment_id).get("traces", ())) == 0:
            raise HttpError("traces/search found nothing")
        timing = timed(lambda: ops.search_traces(http, experiment_id), s.search_queries, s.seconds * 2)
        return {"traces.search_ms": _ms(timing.percentile(0.5))}

    ctx.alternate(names, measure, "traces/search")


# -- the whole run ----------------------------------------------------------------------------------------


GROUPS = (
    "floor",
    "health",
    "create",
    "log-metric",
    "log-batch",
    "grpc",
    "registry",
    "artifacts",
    "proxy",
    "history",
    "search",
    "traces",
)


def run_all(ctx: Context) -> None:
    """Every group in GROUPS order (or those in `ctx.groups`)."""
    names = list(ctx.servers)
    grpc_names = [n for n in names if ctx.servers[n].grpc_target]
    proxy = [PROXY] if PROXY in names else []
    per_call: dict[str, tuple[Callable[[Context, Server], dict[str, float]], list[str]]] = {
        "health": (health, names),
        "create": (runs_create, names),
        "log-metric": (log_metric, names),
        "log-batch": (log_batch, names),
        "grpc": (grpc_log_batch, grpc_names),
        "registry": (registry, names),
        "artifacts": (artifacts, names),
        "proxy": (proxy_overhead, proxy),
    }
    at_scale = {"history": metric_history, "search": search_runs, "traces": traces}
    for group in GROUPS:
        if ctx.groups and group not in ctx.groups:
            continue
        ctx.log(group)
        if group == "floor":
            floor(ctx)
        elif group in per_call:
            measure, on = per_call[group]
            ctx.alternate(on, lambda server, measure=measure: measure(ctx, server), group)
        else:
            at_scale[group](ctx, names)
