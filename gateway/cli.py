"""The `flowport` command. `flowport serve` mirrors `mlflow server`'s flags where they mean the same."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from flowport.gateway.config import ServeConfig


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowport",
        description="One endpoint for MLflow tracking, registry and artifacts, in front of any backend.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the gateway (HTTP MLflow REST API + gRPC)")
    d = ServeConfig()
    serve.add_argument("--host", default=d.host, help=f"address of the HTTP door (default {d.host})")
    serve.add_argument("--port", type=int, default=d.port, help=f"port of the HTTP door (default {d.port})")
    serve.add_argument("--grpc-host", default=None, help="address of the gRPC door (default: --host)")
    serve.add_argument(
        "--grpc-port",
        type=int,
        default=d.grpc_port,
        help=f"port of the gRPC door; 0 picks a free one (default {d.grpc_port})",
    )
    serve.add_argument(
        "--backend-store-uri",
        default=None,
        help="sqlite:///path.db or postgresql://user:pw@host/db "
        "(default: sqlite under $FLOWPORT_HOME or ~/.flowport)",
    )
    serve.add_argument(
        "--artifacts-destination",
        default=None,
        help="folder where proxied artifacts are stored (default: artifacts/ beside the database)",
    )
    serve.add_argument(
        "--config",
        default=None,
        help="YAML file naming the backends (local, mlflow, sagemaker, ...) and mapping workspaces to them; "
        "replaces --backend-store-uri and --artifacts-destination",
    )
    serve.add_argument(
        "--max-threads",
        type=int,
        default=d.max_threads,
        help=f"threads for blocking backend work (default {d.max_threads})",
    )
    serve.add_argument(
        "--reload-interval",
        type=_positive_seconds,
        default=d.reload_interval,
        help="seconds between checks of the --config file for changes, which are applied live "
        f"(default {d.reload_interval:g})",
    )
    serve.add_argument(
        "--no-reload",
        action="store_true",
        help="do not watch the --config file; it is still reloaded on SIGHUP",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="serve an address other machines can reach without authentication (no 'auth:' section)",
    )
    workspaces = sub.add_parser(
        "workspaces",
        help="list workspaces with their backend and health (exit 1 if any backend is unhealthy)",
    )
    source = workspaces.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="the configuration file: start each backend and read from it")
    source.add_argument("--url", help="a running gateway (http://host:port): ask it via its workspace API")
    workspaces.add_argument(
        "--timeout", type=float, default=10.0, help="seconds each backend has to answer (default 10)"
    )
    workspaces.add_argument(
        "--token",
        help="with --url: a flowport API token or OIDC JWT ('-': read it from standard input); "
        "default: MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, else MLFLOW_TRACKING_TOKEN",
    )
    _add_migrate(sub)
    from flowport.gateway import auth_cli

    auth_cli.add_commands(sub)
    return parser


def _add_migrate(sub: argparse._SubParsersAction) -> None:
    migrate = sub.add_parser(
        "migrate",
        help="copy experiments, runs (params, every metric point, tags, nesting) and artifacts from one "
        "backend or workspace to another; resumable, incremental, verifiable",
    )
    migrate.add_argument("--config", required=True, help="the configuration file naming the backends")
    migrate.add_argument(
        "--from",
        dest="source",
        required=True,
        help="source: a backend or workspace name (backend:X, workspace:X)",
    )
    migrate.add_argument("--to", dest="target", required=True, help="target: a backend or workspace name")
    migrate.add_argument("--experiments", nargs="+", metavar="NAME", help="only these experiments (by name)")
    migrate.add_argument("--dry-run", action="store_true", help="print the plan; write nothing anywhere")
    check = migrate.add_mutually_exclusive_group()
    check.add_argument(
        "--verify", action="store_true", help="after copying, compare every object (exit 1 on a mismatch)"
    )
    check.add_argument("--verify-only", action="store_true", help="compare without copying")
    migrate.add_argument(
        "--state",
        default=None,
        help="database of the id map and progress (default sqlite:///$FLOWPORT_HOME/migrate.db)",
    )
    migrate.add_argument("--no-progress", action="store_true", help="no live display, only the summary")
    migrate.add_argument("--report-json", default=None, help="also write the report as JSON to this file")
    migrate.add_argument("--concurrency", type=int, default=4, help="runs copied at once (default 4)")


def _migrate(args: argparse.Namespace) -> int:
    """`flowport migrate`: the report, then 0 (all copied/verified), 1 (failures, mismatches) or 2."""
    from rich.console import Console

    from flowport.gateway.config import ConfigError
    from flowport.gateway.migrate.migration import MigrateOptions, migrate
    from flowport.v1.errors import ApiError

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    options = MigrateOptions(
        config_file=args.config,
        source=args.source,
        target=args.target,
        experiments=args.experiments,
        dry_run=args.dry_run,
        verify=args.verify,
        verify_only=args.verify_only,
        state_url=args.state,
        no_progress=args.no_progress,
        report_json=args.report_json,
        concurrency=max(1, args.concurrency),
    )
    try:
        return asyncio.run(migrate(options, Console()))
    except ConfigError as err:
        print(f"flowport: configuration error\n{err}", file=sys.stderr)
        return 2
    except ApiError as err:
        print(f"flowport migrate: {err.error_code}: {err.message}", file=sys.stderr)
        return 1


def _workspaces(args: argparse.Namespace) -> int:
    """`flowport workspaces`: the table, then 0 if every backend answered, else 1."""
    import httpx

    from flowport.gateway import workspace_health
    from flowport.gateway.config import ConfigError
    from flowport.sdk.credentials import authorization
    from flowport.v1.errors import ApiError

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if args.token and args.config:
        print("flowport workspaces: --token signs in to a gateway: use it with --url", file=sys.stderr)
        return 2
    try:
        if args.config:
            rows = asyncio.run(workspace_health.check_config(args.config, args.timeout))
        else:
            token = sys.stdin.readline().strip() if args.token == "-" else args.token
            rows = workspace_health.check_url(args.url, args.timeout, authorization(token))
    except ConfigError as err:
        print(f"flowport: configuration error\n{err}", file=sys.stderr)
        return 2
    except (ApiError, httpx.HTTPError, ValueError) as err:
        print(f"flowport: cannot list workspaces from {args.url}: {err}", file=sys.stderr)
        return 2
    print(workspace_health.render(rows))
    return 0 if all(row.healthy for row in rows) else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.version:
        from flowport.gateway.server import flowport_version

        print(flowport_version())
        return 0
    if args.command == "workspaces":
        return _workspaces(args)
    if args.command == "migrate":
        return _migrate(args)
    if args.command in ("auth", "audit"):
        from flowport.gateway import auth_cli

        logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        return auth_cli.main(args)
    if args.command != "serve":
        _parser().print_help()
        return 2
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations report only problems
    # One INFO line per upstream request would drown the log (and URLs may carry presigned queries).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("azure").setLevel(logging.WARNING)  # else one INFO block per Azure SDK request
    if args.config and (args.backend_store_uri or args.artifacts_destination):
        print(
            "flowport: --config names the backends; drop --backend-store-uri and --artifacts-destination "
            "(give them as a 'local' backend in the file instead)",
            file=sys.stderr,
        )
        return 2
    config = ServeConfig(
        host=args.host,
        port=args.port,
        grpc_host=args.grpc_host,
        grpc_port=args.grpc_port,
        backend_store_uri=args.backend_store_uri,
        artifacts_destination=args.artifacts_destination,
        max_threads=args.max_threads,
        config_file=args.config,
        reload_interval=args.reload_interval,
        watch_config=not args.no_reload,
        insecure=args.insecure,
    )
    from flowport.gateway.config import ConfigError
    from flowport.gateway.server import serve

    try:
        asyncio.run(serve(config))
    except KeyboardInterrupt:
        pass
    except ConfigError as err:
        print(f"flowport: configuration error\n{err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
