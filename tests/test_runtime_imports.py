"""The runtime never imports TensorFlow: every streamer module, and the commands a guard runs."""

import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import importlib, pkgutil, sys
import evaluation, streamer, vigil
for package in (streamer, evaluation, vigil):        # the runtime install: no TensorFlow in any of these
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if module.name != "vigil.__main__":
            importlib.import_module(module.name)
from vigil.cli import main
main(["check-config", "config.toml"])
if len(sys.argv) > 1:
    main(["inspect", sys.argv[1]])
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx", "models", "explain"))
print("HEAVY", heavy)
"""


def test_runtime_imports_no_tensorflow(tiny_bundle):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(tiny_bundle)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout, result.stdout
