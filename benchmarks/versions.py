"""A git revision's monitor beside the working tree's: each measured in a fresh process by this
checkout's benchmark code, so a side-by-side run compares versions on one machine in one run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RUN_IN_TREE = """
import importlib, json, sys
module, name = sys.argv[1].split(":")
print("RESULT " + json.dumps(getattr(importlib.import_module(module), name)(*json.loads(sys.argv[2]))))
"""


def checkout(revision: str, into: Path) -> Path:
    """The repository's tree at `revision`, unpacked under `into` (its committed bundles with it)."""
    tree = into / f"tree-{revision}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    # Measured by this benchmark's code: only the monitor differs between the versions compared.
    shutil.rmtree(tree / "benchmarks")
    (tree / "benchmarks").symlink_to(ROOT / "benchmarks")
    return tree


def run_in_tree(tree: Path, function: str, *args) -> dict:
    """function ("module:name") of the code in `tree`, called with JSON-able args in a fresh
    process (its own RSS, threads and CPU time); its JSON-able result."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_IN_TREE, function, json.dumps(list(args))],
        cwd=tree,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"run in {tree} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(lines[-1][len("RESULT ") :])
