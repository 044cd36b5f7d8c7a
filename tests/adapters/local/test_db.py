"""Database plumbing: passwords never printed, SQLite folders made on demand, prepared statements."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from flowport.adapters.local.db import Prepared, Sessions, create_engine_for, redacted


def test_redacted_hides_the_password_only():
    assert redacted("postgresql://bob:s3cret@db:5432/mlflow") == "postgresql://bob:***@db:5432/mlflow"
    assert "s3cret" not in redacted("postgresql+psycopg://bob:s3cret@db/mlflow")
    assert redacted("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_sqlite_database_folder_is_created(tmp_path):
    engine = create_engine_for(f"sqlite:///{tmp_path / 'new' / 'deeper' / 'flowport.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    assert (tmp_path / "new" / "deeper" / "flowport.db").exists()


_POINTS = sa.Table(
    "prepared_points",
    sa.MetaData(),
    sa.Column("key", sa.String(50), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
)
_INSERT = Prepared(sa.insert(_POINTS), column_keys=("key", "value"))
_VALUE_OF = Prepared(sa.select(_POINTS.c.value, _POINTS.c.key).where(_POINTS.c.key == sa.bindparam("key")))


@pytest.mark.parametrize("kind", ["transaction", "core_transaction"])
def test_prepared_statements_run_in_the_callers_transaction(engine, kind):
    _POINTS.create(engine)
    sessions = Sessions(engine)
    transaction = getattr(sessions, kind)  # an ORM session's, or a Core connection's
    with transaction() as s:
        _INSERT.execute(s, [{"value": 1.5, "key": "a"}, {"key": "b", "value": 2.0}])  # one executemany
        _INSERT.execute(s, {"key": "c", "value": -3.0})
        assert _VALUE_OF.first(s, {"key": "b"}) == (2.0, "b")  # its own writes, columns in order
        assert _VALUE_OF.first(s, {"key": "zz"}) is None
    with pytest.raises(RuntimeError), transaction() as s:
        _INSERT.execute(s, {"key": "d", "value": 4.0})
        raise RuntimeError("the call fails after its write")
    with transaction() as s:
        assert _VALUE_OF.first(s, {"key": "c"}) == (-3.0, "c")
        assert _VALUE_OF.first(s, {"key": "d"}) is None  # rolled back with its transaction


def test_prepared_statement_errors_are_sqlalchemy_errors_and_roll_back(engine):
    _POINTS.create(engine)
    sessions = Sessions(engine)
    with pytest.raises(sa.exc.IntegrityError), sessions.transaction() as s:
        _INSERT.execute(s, {"key": "a", "value": 1.0})
        _INSERT.execute(s, [{"key": "b", "value": 2.0}, {"key": "a", "value": 3.0}])
    with sessions.transaction() as s:
        assert _VALUE_OF.first(s, {"key": "a"}) is None
        assert _VALUE_OF.first(s, {"key": "b"}) is None
        _INSERT.execute(s, {"key": "a", "value": 1.0})  # the connection went back to the pool usable
    with sessions.transaction() as s:
        assert _VALUE_OF.first(s, {"key": "a"}) == (1.0, "a")
