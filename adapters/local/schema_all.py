"""Every table of the local backend, imported so `Base.metadata` is complete (Alembic's target)."""

from flowport.adapters.local import logged_model_schema, registry_schema, schema, trace_schema  # noqa: F401
from flowport.adapters.local.db import Base

metadata = Base.metadata
