"""One `flowport migrate` invocation: open both backends and the state, copy experiment by
experiment (runs, their data and artifacts), list what was not copied, optionally verify, report.

The exit code is 0 when everything asked for was copied (and verified), 1 when an object failed or
verification found a mismatch, 2 for a usage or configuration mistake.
"""

from __future__ import annotations

import dataclasses
import logging

from rich.console import Console

from flowport.adapters.backend import Backend
from flowport.adapters.capabilities import Capability
from flowport.adapters.registry import build_backend
from flowport.gateway.config import ConfigError, default_home, load_config
from flowport.gateway.migrate import reading, registry, report, verify
from flowport.gateway.migrate.context import MigrationContext
from flowport.gateway.migrate.endpoints import WorkspaceView, resolve, workspace_of
from flowport.gateway.migrate.experiments import ExperimentCopy
from flowport.gateway.migrate.gaps import gaps
from flowport.gateway.migrate.run_links import RunLinks
from flowport.gateway.migrate.runs import RunCopies
from flowport.gateway.migrate.state import MigrationState, default_state_url
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError

log = logging.getLogger(__name__)


@dataclasses.dataclass
class MigrateOptions:
    config_file: str
    source: str
    target: str
    experiments: list[str] | None = None  # names; None means all
    dry_run: bool = False
    verify: bool = False
    verify_only: bool = False
    state_url: str | None = None
    no_progress: bool = False
    report_json: str | None = None
    concurrency: int = 4


async def _open(config_file: str, name: str, option: str) -> WorkspaceView:
    """The backend `name` resolves to, seen as the workspace it names (`default` for a backend)."""
    config = load_config(config_file)
    spec = resolve(config, name, option)
    try:
        backend = build_backend(spec.name, spec.kind, spec.options, max_threads=4)
    except ValueError as err:
        raise ConfigError(f"{config_file}: backends.{spec.name}: {err}") from None
    await backend.start()
    if Capability.TRACKING not in backend.capabilities:
        await backend.close()
        raise ConfigError(f"{option} {name}: backend '{spec.name}' ({spec.kind}) has no experiment tracking")
    return WorkspaceView(backend, workspace_of(config, name))


def _chosen(
    experiments: list[tracking_pb2.Experiment], names: list[str] | None
) -> list[tracking_pb2.Experiment]:
    if not names:
        return experiments
    known = {e.name for e in experiments}
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(
            f"--experiments: no experiment named {', '.join(repr(n) for n in missing)} in the source"
        )
    return [e for e in experiments if e.name in names]


async def migrate(options: MigrateOptions, console: Console) -> int:
    source = await _open(options.config_file, options.source, "--from")
    try:
        target = await _open(options.config_file, options.target, "--to")
    except BaseException:
        await source.close()
        raise
    if source.name == target.name:
        await source.close()
        await target.close()
        raise ConfigError(f"--from and --to both name backend '{source.name}'")
    state = MigrationState(
        options.state_url or default_state_url(default_home()),
        source.name,
        target.name,
        read_only=options.dry_run or options.verify_only,
    )
    try:
        return await _migrate(options, console, source, target, state)
    finally:
        state.close()
        await source.close()
        await target.close()


async def _migrate(
    options: MigrateOptions, console: Console, source: Backend, target: Backend, state: MigrationState
) -> int:
    clock = report.Clock()
    tally = report.Tally(dry_run=options.dry_run)
    experiments = _chosen(await reading.experiments(source), options.experiments)
    if not options.verify_only:
        live = report.live_display_wanted(options.no_progress)
        with report.Display(live) as display:
            ctx = MigrationContext(
                source, target, state, tally, display, options.dry_run, options.concurrency
            )
            display.found("experiments", len(experiments))
            for experiment in experiments:
                runs = await reading.runs(source, experiment.experiment_id)
                copy = ExperimentCopy(ctx, experiment)
                links = RunLinks(ctx, copy)  # logged models, traces, and what links runs to them
                try:
                    await copy.sync()
                    await RunCopies(ctx, copy, links.copy_objects, links.sync).sync(runs)
                    await links.finish()
                    await copy.finish()
                except ApiError as err:
                    tally.experiments.failed += 1
                    tally.failures.append(
                        f"experiment '{experiment.name}' ({experiment.experiment_id}): "
                        f"{err.error_code}: {err.message}"
                    )
                display.advance("experiments")
            scope = {e.experiment_id for e in experiments} if options.experiments else None
            await registry.sync_registry(ctx, scope)  # after the runs: versions link to their copies
        tally.gaps[:0] = await gaps(source, target, [e.experiment_id for e in experiments])
        tally.seconds = clock.elapsed()
        report.render(tally, console)
    verification = None
    if (options.verify or options.verify_only) and not options.dry_run:
        verification = await verify.Verifier(source, target, state, options.concurrency).verify(experiments)
        verify.render(verification, console)
    if options.report_json:
        report.write_json(tally, options.report_json, verification.as_json() if verification else None)
    failed = bool(tally.failures) or (verification is not None and not verification.ok)
    return 1 if failed else 0
