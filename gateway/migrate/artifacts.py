"""Copy the artifact files of a run or a logged model from the source's artifact store to the target's,
streamed chunk by chunk (memory stays at a few chunks whatever the file size). A file is recorded once
the target's atomic write returned; one recorded with the same size is not copied again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from flowport.gateway.migrate import reading
from flowport.gateway.migrate.context import MigrationContext
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError


async def copy_artifacts(
    ctx: MigrationContext,
    run: tracking_pb2.Run,
    target_root_uri: str | None,
    writable: Callable[[], Awaitable[None]],
) -> bool:
    """True when any file was (or would be) copied."""
    return await copy_tree(ctx, run.info.run_id, run.info.artifact_uri, target_root_uri, writable)


async def copy_tree(
    ctx: MigrationContext,
    source_id: str,
    source_root_uri: str,
    target_root_uri: str | None,
    writable: Callable[[], Awaitable[None]],
) -> bool:
    """The files under one object's artifact location (a run's, a logged model's), progress kept
    under its source id; True when any file was (or would be) copied."""
    source_root = reading.store_path(source_root_uri)
    if source_root is None:
        raise ApiError(
            f"artifacts at '{source_root_uri}' are outside the source backend's artifact store",
            "INVALID_STATE",
        )
    target_root = reading.store_path(target_root_uri) if target_root_uri else None
    if target_root_uri and target_root is None:
        raise ApiError(
            f"the copy's artifact location '{target_root_uri}' is outside the target's artifact store",
            "INVALID_STATE",
        )
    copied = ctx.state.artifacts_copied(source_id)
    any_copied = False
    for info in await reading.artifact_files(ctx.source.artifact_store, source_root):
        relative = info.path[len(source_root) :].lstrip("/")
        size = info.file_size or 0
        if copied.get(relative) == size:
            continue
        any_copied = True
        ctx.tally.artifact_files += 1
        if ctx.dry_run:
            ctx.tally.artifact_bytes += size
            continue
        await writable()
        written = await ctx.target.artifact_store.write(
            f"{target_root}/{relative}", _counted(ctx, ctx.source.artifact_store.read(info.path))
        )
        ctx.state.artifact_copied(source_id, relative, written)
    return any_copied


async def _counted(ctx: MigrationContext, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        ctx.tally.artifact_bytes += len(chunk)
        ctx.display.advance("artifact bytes", len(chunk))
        yield chunk
