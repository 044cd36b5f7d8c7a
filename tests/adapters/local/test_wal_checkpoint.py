"""The local backend's SQLite log is checkpointed by its background thread, not by clients' commits."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import time

from flowport.adapters.local.backend import LocalBackend
from flowport.v1 import tracking_pb2 as pb


def _rows_in_main_file(database, tmp_path) -> int:
    """Runs found in the database file alone, without its write-ahead log: what checkpoints moved there."""
    alone = tmp_path / "alone" / "copy.db"
    shutil.rmtree(alone.parent, ignore_errors=True)
    alone.parent.mkdir()
    shutil.copyfile(database, alone)
    with contextlib.closing(sqlite3.connect(alone)) as conn:
        try:
            return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        except sqlite3.OperationalError:  # not even the schema is there yet
            return 0


def test_writes_reach_the_database_file_through_the_background_checkpoint_and_close_empties_the_log(tmp_path):
    database = tmp_path / "flowport.db"
    uri = f"sqlite:///{database}"
    backend = LocalBackend("local", database_uri=uri, artifact_root=tmp_path / "artifacts")

    async def scenario() -> None:
        await backend.start()
        with backend.engine.connect() as conn:  # a client's connection never checkpoints by itself
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        for i in range(20):
            await backend.invoke("CreateRun", pb.CreateRun(experiment_id="0", run_name=f"r{i}"))
        deadline = time.monotonic() + 30
        while _rows_in_main_file(database, tmp_path) < 20:
            assert time.monotonic() < deadline, "the runs never reached the database file"
            await asyncio.sleep(0.05)
        await backend.invoke("CreateRun", pb.CreateRun(experiment_id="0", run_name="last"))
        await backend.close()

    asyncio.run(scenario())
    wal = database.with_name("flowport.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # emptied at close
    assert _rows_in_main_file(database, tmp_path) == 21


def test_an_in_memory_database_keeps_sqlites_own_checkpoints(tmp_path):
    backend = LocalBackend("local", database_uri="sqlite:///:memory:", artifact_root=tmp_path)
    assert backend._checkpointer is None
    with backend.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000  # SQLite's default
    backend.engine.dispose()
