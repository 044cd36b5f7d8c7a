"""Database plumbing of the local backend: the declarative base, engines, sessions.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL is chosen by URL
(`postgresql://…` uses psycopg 3). The schema itself is owned by Alembic
(`migrations/`); `create_engine_for` never creates tables.
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, orm


class Base(orm.DeclarativeBase):
    pass


def normalize_url(url: str) -> str:
    """Accept the URLs `mlflow server --backend-store-uri` accepts for SQLite and PostgreSQL."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redacted(url: str) -> str:
    """The URL with any password masked, for printing and logs."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def create_engine_for(url: str) -> sa.Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            pathlib.Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # MLflow's LIKE is case-sensitive on every database (ILIKE is the insensitive one).
            cur.execute("PRAGMA case_sensitive_like=true")
            cur.close()

        return engine
    return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Sessions:
    """A session factory whose `transaction()` commits on success and rolls back on any error,
    so no call ever leaves half its writes behind."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._factory = orm.sessionmaker(bind=engine, expire_on_commit=False)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[orm.Session]:
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


class Prepared:
    """A Core statement compiled once per dialect and executed as driver SQL.

    For the hot small calls (runs/create, log-metric): SQLAlchemy's per-execution work on a built
    statement (cache key, execution context, bind and result processing) costs more than SQLite's
    own work, and building the statement anew costs as much again. Parameters reach the driver as
    given, so they must be plain values (str, int, float, bool, None); bind parameters are named.
    """

    def __init__(self, statement: sa.Executable, *, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        self._sql: dict[tuple[str, str], tuple[str, tuple[str, ...] | None]] = {}

    def _compiled(self, dialect: sa.Dialect) -> tuple[str, tuple[str, ...] | None]:
        """(SQL, bind names in order for a positional driver, else None)."""
        key = (dialect.name, dialect.driver)
        found = self._sql.get(key)
        if found is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=self._column_keys)
            sql = str(compiled)
            if "POSTCOMPILE" in sql:
                raise ValueError("a Prepared statement takes no expanding (IN list) parameters")
            found = self._sql[key] = (sql, tuple(compiled.positiontup) if compiled.positional else None)
        return found

    def execute(
        self, session: orm.Session, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> sa.CursorResult:
        """Run in `session`'s transaction; a sequence of parameter sets is one executemany."""
        connection = session.connection()
        sql, names = self._compiled(connection.dialect)
        if names is None:
            return connection.exec_driver_sql(sql, params if isinstance(params, Mapping) else list(params))
        if isinstance(params, Mapping):
            return connection.exec_driver_sql(sql, tuple([params[n] for n in names]))
        return connection.exec_driver_sql(sql, [tuple([p[n] for n in names]) for p in params])
