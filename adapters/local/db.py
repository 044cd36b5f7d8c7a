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

    @contextlib.contextmanager
    def core_transaction(self) -> Iterator[sa.Connection]:
        """`transaction()` without the ORM, for calls made of Core statements only: a Session's own
        begin, commit and close cost more than the connection's."""
        with self.engine.begin() as connection:
            yield connection


# Where a Prepared statement runs: an ORM session's transaction or a Core connection's.
Transaction = orm.Session | sa.Connection


class Prepared:
    """A Core statement compiled once per dialect and run straight on the driver's cursor.

    For the hot small calls (runs/create, log-metric): SQLAlchemy's per-execution work on a built
    statement (cache key, execution context, result set-up) costs more than SQLite's own work, and
    building the statement anew costs as much again. It runs in the caller's transaction, and a
    driver error is raised as SQLAlchemy raises it (`sqlalchemy.exc.IntegrityError`, ...), a lost
    connection invalidated. Parameters reach the driver as given, so they must be plain values
    (str, int, float, bool, None); bind parameters are named.
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

    def first(self, session: Transaction, params: Mapping[str, Any]) -> tuple | None:
        """The first row of a query, as a tuple in the order of its columns; None if there is none."""
        cursor = self._run(session, params, many=False)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

    def execute(self, session: Transaction, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
        """Run a write; a sequence of parameter sets is one executemany."""
        self._run(session, params, many=not isinstance(params, Mapping)).close()

    def _run(self, session: Transaction, params: Any, *, many: bool) -> Any:
        connection = session.connection() if isinstance(session, orm.Session) else session
        dialect = connection.dialect
        sql, names = self._compiled(dialect)
        if names is not None:  # a positional driver (SQLite): values in the order of the SQL
            params = (
                [tuple([p[n] for n in names]) for p in params] if many else tuple([params[n] for n in names])
            )
        elif many:
            params = list(params)
        dbapi_connection = connection.connection
        cursor = dbapi_connection.cursor()
        try:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
        except dialect.loaded_dbapi.Error as err:
            cursor.close()
            lost = dialect.is_disconnect(err, dbapi_connection, cursor)
            if lost:
                connection.invalidate(err)
            raise sa.exc.DBAPIError.instance(
                sql,
                params,
                err,
                dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=dialect,
                ismulti=many,
            ) from err
        return cursor
