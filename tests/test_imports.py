"""Every module imports on its own in a fresh interpreter (catches import cycles that the test
session's import order would hide)."""
import subprocess
import sys

import pytest

MODULES = ["mer3d.inference.video", "mer3d.data.manifest", "mer3d.data.cache", "mer3d.models.export",
           "mer3d.inference.recognizer", "mer3d.training.trainer", "mer3d.training.distributed", "mer3d.cli"]


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1]
