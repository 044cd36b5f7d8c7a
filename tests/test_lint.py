"""The tree is ruff-clean (rules in pyproject.toml)."""

import subprocess
import sys


def test_ruff_check_passes():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
