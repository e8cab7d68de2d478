"""A real RTSP server on 127.0.0.1 (GStreamer's, fed in real time by ffmpeg), for the RTSP tests
and the pipeline benchmark. The server itself is testbed/rtsp_server.py, run by the system python."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"


def gst_rtsp_available() -> bool:
    if shutil.which("ffmpeg") is None or not os.path.exists(SYSTEM_PYTHON):
        return False
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30).returncode == 0


class RtspServer:
    """GStreamer's RTSP server, fed in real time by ffmpeg; can be killed, restarted, frozen."""

    def __init__(self, clip: Path, credentials: tuple[str, str] | None = None, auth: str = "basic"):
        self.clip, self.port, self.rtp_port = clip, free_port(), free_port()
        self.credentials, self.auth = credentials, auth
        self.server = self.feeder = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> None:
        extra = [*self.credentials, self.auth] if self.credentials else []
        self.server = subprocess.Popen(
            [
                SYSTEM_PYTHON,
                str(REPO / "testbed" / "rtsp_server.py"),
                str(self.port),
                str(self.rtp_port),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        if self.server.stdout.readline().strip() != "ready":
            raise RuntimeError("the RTSP server did not start")
        self.feeder = subprocess.Popen(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-re",
                "-stream_loop",
                "-1",
                "-i",
                str(self.clip),
                "-an",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
                "-g",
                "10",
                "-f",
                "rtp",
                f"rtp://127.0.0.1:{self.rtp_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        for proc in (self.feeder, self.server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    def freeze(self, frozen: bool) -> None:
        os.kill(self.server.pid, signal.SIGSTOP if frozen else signal.SIGCONT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
