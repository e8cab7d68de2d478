"""A real Triton Inference Server on 127.0.0.1 (`vigil serve`, in the Triton environment of `make
venv-triton`), for the remote-inference tests and benchmark: started, killed as a whole process
group (as systemd stops a service), and started again on the same ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from streamer.inference.bundle import read_manifest
from streamer.serving.protocol import model_names
from testbed.rtsp import free_port
from vigil.cli import triton_python

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120.0


def triton_available() -> bool:
    """The Triton environment exists, and the monitor's has the client."""
    try:
        import tritonclient.grpc  # noqa: F401
    except ImportError:
        return False
    return triton_python() is not None


def model_counter(text: str, family: str, model_prefix: str) -> float:
    """One of Triton's nv_inference_* counters, summed over the models whose name starts so."""
    return sum(
        sample.value
        for metric in text_string_to_metric_families(text)
        if metric.name == family
        for sample in metric.samples
        if sample.labels.get("model", "").startswith(model_prefix)
    )


class TritonServer:
    """`vigil serve BUNDLE` on free loopback ports; its output goes to `log`."""

    def __init__(self, bundle: Path, log: Path, threads: int = 0):
        self.bundle, self.log, self.threads = bundle, log, threads
        self.grpc_port, self.http_port, self.metrics_port = free_port(), free_port(), free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"grpc://127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self, wait: bool = True) -> None:
        command = [
            sys.executable,
            "-m",
            "vigil",
            "serve",
            str(self.bundle),
            f"--grpc-port={self.grpc_port}",
            f"--http-port={self.http_port}",
            f"--metrics-port={self.metrics_port}",
            f"--threads={self.threads}",
        ]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Until both of the bundle's models answer as ready (the server itself is ready before
        PyTriton has loaded them)."""
        names = model_names(read_manifest(self.bundle))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vigil serve exited ({self.process.returncode}); see {self.log}")
            try:
                for name in (names.backbone, names.head):
                    url = f"http://127.0.0.1:{self.http_port}/v2/models/{name}/ready"
                    with urllib.request.urlopen(url, timeout=2):
                        pass
                return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"Triton not ready in {timeout:.0f} s; see {self.log}")

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return response.read().decode()

    def kill(self) -> None:
        """SIGKILL to the whole group: the server, its Python backend stubs, PyTriton's proxy."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._wait_ports_free()

    def stop(self) -> None:
        """SIGTERM (a clean stop), then the group killed if anything is left."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self._wait_ports_free()

    def _wait_ports_free(self, timeout: float = 20.0) -> None:
        """Until nothing of the group listens: a restart on the same ports must find them free."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.grpc_port)) != 0:
                    return
            time.sleep(0.2)

    def __enter__(self) -> TritonServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
