"""Capture from a real RTSP server on 127.0.0.1: frames flow, a killed server is reconnected to,
a stalled one is caught by the watchdog."""

from __future__ import annotations

import threading
import time

import pytest

from evaluation import synth
from streamer.config import parse_config
from streamer.monitor import build_monitor
from testbed.rtsp import RtspServer, gst_rtsp_available
from tests.test_monitor import config_dict

pytestmark = pytest.mark.rtsp


@pytest.fixture
def rtsp(tmp_path):
    if not gst_rtsp_available():
        pytest.skip(
            "needs ffmpeg and GStreamer's RTSP server (Debian gir1.2-gst-rtsp-server-1.0, python3-gi)"
        )
    clip = tmp_path / "feed.mp4"
    synth.make_demo(clip, seed=5, width=320, height=180, fps=10.0, timeline=(("normal", 6.0),))
    server = RtspServer(clip)
    server.start()
    yield server
    if server.server is not None and server.server.poll() is None:
        server.freeze(False)
    server.kill()


def wait_for(condition, timeout: float) -> float:
    """Seconds until condition() held; fails the test after timeout."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def monitor_on(tiny_bundle, tmp_path):
    monitors = []

    def start(url: str):
        capture = {
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 1.0,
            "open_timeout_s": 2.0,
            "read_timeout_s": 1.0,
            "stall_timeout_s": 2.0,
        }
        config = parse_config(
            config_dict(tiny_bundle, [{"name": "gate", "source": url}], tmp_path, capture=capture)
        )
        monitor = build_monitor(config, threading.Event())
        monitor.start()
        monitors.append(monitor)
        return monitor

    yield start
    for monitor in monitors:
        monitor.shutdown()


def sample(monitor, name: str) -> float:
    return monitor.metrics.registry.get_sample_value(name, {"camera": "gate"}) or 0.0


def test_frames_flow_and_a_killed_server_is_reconnected(rtsp, monitor_on):
    monitor = monitor_on(rtsp.url)
    wait_for(lambda: sample(monitor, "vigil_frames_captured_total") > 20, timeout=20)
    assert sample(monitor, "vigil_camera_up") == 1
    wait_for(lambda: sample(monitor, "vigil_frames_analysed_total") > 3, timeout=20)
    rtsp.kill()
    down_after = wait_for(lambda: sample(monitor, "vigil_camera_up") == 0, timeout=5)
    assert down_after < 5
    rtsp.start()
    wait_for(lambda: sample(monitor, "vigil_camera_up") == 1, timeout=15)
    assert sample(monitor, "vigil_camera_reconnects_total") >= 1
    before = sample(monitor, "vigil_frames_captured_total")
    wait_for(lambda: sample(monitor, "vigil_frames_captured_total") > before + 10, timeout=10)


def test_a_stalled_server_is_caught_by_the_watchdog(rtsp, monitor_on):
    monitor = monitor_on(rtsp.url)
    wait_for(lambda: sample(monitor, "vigil_frames_captured_total") > 20, timeout=20)
    rtsp.freeze(True)
    # read timeout (1 s) or stall watchdog (2 s), whichever first; never the 30 s FFmpeg default
    detected = wait_for(lambda: sample(monitor, "vigil_camera_up") == 0, timeout=6)
    assert detected < 6
    rtsp.freeze(False)
    wait_for(lambda: sample(monitor, "vigil_camera_up") == 1, timeout=20)
