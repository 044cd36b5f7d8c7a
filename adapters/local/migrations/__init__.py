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
    with engine.begin() as connection:
        command.upgrade(config_for(connection), revision)
