"""SQLite's WAL checkpoints, run by a background thread instead of by a client's commit.

By default the commit that takes the write-ahead log past 1000 pages copies the log back into the
database and fsyncs it, inside that client's call: profiles of span and metric ingest had commits at
21–29% of the server's time, the slow ones 30–70 ms. With automatic checkpoints off on the backend's
connections, this thread checkpoints instead, PASSIVE (it never waits for, nor blocks, a reader or a
writer) a few times a second. Durability is unchanged: with synchronous=NORMAL a commit is durable
once the log is synced at a checkpoint either way, and a crash replays the log on the next open.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

import sqlalchemy as sa
from sqlalchemy import event

log = logging.getLogger("flowport.local")


class WalCheckpointer:
    """Checkpoints one SQLite database every `interval` seconds from its own connection and thread."""

    def __init__(self, engine: sa.Engine, interval: float = 0.25) -> None:
        self.database = engine.url.database
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Every connection the engine opens from now on leaves checkpoints to this thread.
        event.listen(engine, "connect", _no_automatic_checkpoints)

    @staticmethod
    def applies_to(engine: sa.Engine) -> bool:
        """A SQLite database in a file (an in-memory one has no log to checkpoint)."""
        return engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sqlite-wal-checkpoint", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread after one last checkpoint that also empties the log file."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        connection = sqlite3.connect(self.database, timeout=30, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                self._checkpoint(connection, "PASSIVE")
            self._checkpoint(connection, "TRUNCATE")
        finally:
            connection.close()

    @staticmethod
    def _checkpoint(connection: sqlite3.Connection, mode: str) -> None:
        try:
            connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as err:  # a busy or vanished database: the next round tries again
            log.debug("WAL checkpoint (%s) skipped: %s", mode, err)


def _no_automatic_checkpoints(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()
