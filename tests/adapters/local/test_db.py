"""Database plumbing: passwords never printed, SQLite folders made on demand."""

from __future__ import annotations

from flowport.adapters.local.db import create_engine_for, redacted


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
