"""Database plumbing of the local backend: the declarative base, engines, sessions.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL is chosen by URL
(`postgresql://…` uses psycopg 3). The schema itself is owned by Alembic
(`migrations/`); `create_engine_for` never creates tables.
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator

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
