"""What a benchmark ran on: CPU, cores, GPU, providers, package versions (numbers mean little without)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

from evaluation.versions import package_versions

PACKAGES = ("onnxruntime-gpu", "numpy", "opencv-python", "tensorflow", "tf2onnx")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def gpu_name() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine_info() -> dict:
    import onnxruntime as ort

    versions = package_versions(PACKAGES)
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gpu": gpu_name(),
        "python": platform.python_version(),
        "providers_available": ort.get_available_providers(),
        "versions": versions,
    }


def emit(report: dict, out: str | None) -> None:
    """Print the report as JSON, and write it to `out` too when given."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        Path(out).write_text(text + "\n")
