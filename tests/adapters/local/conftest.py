"""Fixtures for the local backend's stores: an empty database on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from flowport.adapters.local import schema_all
from flowport.adapters.local.db import create_engine_for
from tests.fixtures.processes import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    """An engine on a new database holding every table of `Base.metadata`."""
    if request.param == "sqlite":
        eng = create_engine_for(f"sqlite:///{tmp_path / 'flowport.db'}")
        schema_all.metadata.create_all(eng)
        yield eng
        eng.dispose()
    else:
        with fresh_postgres_database() as url:
            eng = create_engine_for(url)
            schema_all.metadata.create_all(eng)
            yield eng
            eng.dispose()
