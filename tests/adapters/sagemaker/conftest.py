"""The SageMaker adapter tests use the session's `mlflow_upstream` and `moto` (tests/conftest.py)."""
