"""Alembic migrations of the local backend's schema; `upgrade(engine)` brings a database to head."""

from __future__ import annotations

import pathlib

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

SCRIPT_LOCATION = pathlib.Path(__file__).resolve().parent


def config_for(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    # One transaction: a failed migration leaves the schema as it was (PostgreSQL; SQLite DDL is
    # transactional too through SQLAlchemy's pysqlite handling of BEGIN).
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            command.upgrade(config_for(connection), revision)
        return
    with engine.connect() as connection:
        # SQLite alters a table by copying it, and dropping a parent with foreign keys on would
        # cascade into its children: keys are off while migrating (the pragma only takes effect
        # outside a transaction) and checked before the work is committed.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        try:
            with connection.begin():
                command.upgrade(config_for(connection), revision)
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")
        finally:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
