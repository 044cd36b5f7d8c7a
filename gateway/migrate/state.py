"""The migration's memory: which target object each source object became, and how far each got.

One small database (SQLAlchemy Core; SQLite by default, any URL by `--state`). Every row is
keyed by the (source backend, target backend) pair, so one state database serves many
migrations. A row is written only after the target confirmed the write it records: a crash
leaves the state behind the target, never ahead of it, and the next pass catches up.
"""

from __future__ import annotations

import os
import pathlib

import sqlalchemy as sa

_metadata = sa.MetaData()

# (source, target, kind, source id) → target id.
id_map = sa.Table(
    "migrate_id_map",
    _metadata,
    sa.Column("source", sa.String(256), primary_key=True),
    sa.Column("target", sa.String(256), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("source_id", sa.String(256), primary_key=True),
    sa.Column("target_id", sa.String(256), nullable=False),
)

# What was last written for one aspect of an object (its tags, params, info, lifecycle), as a digest
# of the source's content: an unchanged digest means nothing to write.
aspects = sa.Table(
    "migrate_aspects",
    _metadata,
    sa.Column("source", sa.String(256), primary_key=True),
    sa.Column("target", sa.String(256), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("source_id", sa.String(256), primary_key=True),
    sa.Column("aspect", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# One metric series of one run: how many points the target holds and the digest of the source series
# they came from.
metric_progress = sa.Table(
    "migrate_metric_progress",
    _metadata,
    sa.Column("source", sa.String(256), primary_key=True),
    sa.Column("target", sa.String(256), primary_key=True),
    sa.Column("source_run_id", sa.String(256), primary_key=True),
    sa.Column("key", sa.String(1000), primary_key=True),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
)

# One artifact file of one run, copied (path relative to the run's artifact root).
artifact_progress = sa.Table(
    "migrate_artifact_progress",
    _metadata,
    sa.Column("source", sa.String(256), primary_key=True),
    sa.Column("target", sa.String(256), primary_key=True),
    sa.Column("source_run_id", sa.String(256), primary_key=True),
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
)


def default_state_url(home: pathlib.Path) -> str:
    return f"sqlite:///{home / 'migrate.db'}"


def _engine(url: str) -> sa.Engine:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            pathlib.Path(database).parent.mkdir(parents=True, exist_ok=True)
        return sa.create_engine(url, connect_args={"timeout": 30})
    return sa.create_engine(url)


class MigrationState:
    """The state of one source → target migration. `read_only` (a dry run) records nothing."""

    def __init__(self, url: str, source: str, target: str, *, read_only: bool = False) -> None:
        self.source = source
        self.target = target
        self.read_only = read_only
        self._engine: sa.Engine | None = None
        if read_only and _missing_sqlite_file(url):
            return  # nothing migrated yet, and a dry run must not create the file
        self._engine = _engine(url)
        if not read_only:
            _metadata.create_all(self._engine)
        elif not sa.inspect(self._engine).has_table(id_map.name):
            self._engine.dispose()
            self._engine = None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def _key(self, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        return [table.c.source == self.source, table.c.target == self.target]

    def _select(self, stmt: sa.Select) -> list[sa.Row]:
        if self._engine is None:
            return []
        with self._engine.connect() as conn:
            return list(conn.execute(stmt))

    def _upsert(self, table: sa.Table, keys: dict, values: dict) -> None:
        """Insert or replace one row (portable: delete then insert in one transaction)."""
        if self.read_only or self._engine is None:
            return
        keys = {"source": self.source, "target": self.target, **keys}
        with self._engine.begin() as conn:
            conn.execute(sa.delete(table).where(*(table.c[k] == v for k, v in keys.items())))
            conn.execute(sa.insert(table).values(**keys, **values))

    # ---- the id map ----------------------------------------------------------------------------

    def id_map(self, kind: str) -> dict[str, str]:
        rows = self._select(
            sa.select(id_map.c.source_id, id_map.c.target_id).where(*self._key(id_map), id_map.c.kind == kind)
        )
        return {r.source_id: r.target_id for r in rows}

    def map_id(self, kind: str, source_id: str, target_id: str) -> None:
        self._upsert(id_map, {"kind": kind, "source_id": source_id}, {"target_id": target_id})

    # ---- aspects -------------------------------------------------------------------------------

    def aspects(self, kind: str) -> dict[tuple[str, str], str]:
        """{(source id, aspect): value} of every object of `kind`."""
        rows = self._select(
            sa.select(aspects.c.source_id, aspects.c.aspect, aspects.c.value).where(
                *self._key(aspects), aspects.c.kind == kind
            )
        )
        return {(r.source_id, r.aspect): r.value for r in rows}

    def set_aspect(self, kind: str, source_id: str, aspect: str, value: str) -> None:
        self._upsert(aspects, {"kind": kind, "source_id": source_id, "aspect": aspect}, {"value": value})

    # ---- metric series -------------------------------------------------------------------------

    def metric_progress(self, source_run_id: str) -> dict[str, tuple[int, str]]:
        t = metric_progress
        rows = self._select(
            sa.select(t.c.key, t.c.points, t.c.digest).where(
                *self._key(t), t.c.source_run_id == source_run_id
            )
        )
        return {r.key: (r.points, r.digest) for r in rows}

    def set_metric_progress(self, source_run_id: str, key: str, points: int, digest: str) -> None:
        self._upsert(
            metric_progress,
            {"source_run_id": source_run_id, "key": key},
            {"points": points, "digest": digest},
        )

    # ---- artifact files ------------------------------------------------------------------------

    def artifacts_copied(self, source_run_id: str) -> dict[str, int]:
        t = artifact_progress
        rows = self._select(
            sa.select(t.c.path, t.c.size).where(*self._key(t), t.c.source_run_id == source_run_id)
        )
        return {r.path: r.size for r in rows}

    def artifact_copied(self, source_run_id: str, path: str, size: int) -> None:
        self._upsert(artifact_progress, {"source_run_id": source_run_id, "path": path}, {"size": size})


def _missing_sqlite_file(url: str) -> bool:
    if not url.startswith("sqlite"):
        return False
    database = sa.engine.make_url(url).database
    return bool(database) and database != ":memory:" and not os.path.exists(database)
