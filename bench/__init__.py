"""flowport measured against the stock `mlflow server`, side by side (issue 8). Not part of the test suite
and not installed: run `python -m bench` from the checkout."""
