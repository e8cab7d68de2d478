"""Capture from a real RTSP server on 127.0.0.1: frames flow, a killed server is reconnected to,
a stalled one is caught by the watchdog."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from evaluation import synth
from streamer.capture.packets import KeptDecoder, KeptFrame
from streamer.capture.sources import open_source
from streamer.config import CaptureConfig, parse_config
from streamer.monitor import build_monitor
from testbed.rtsp import RtspServer, gst_rtsp_available
from tests.test_monitor import config_dict, read_log, video_frames

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


def test_an_rtsp_cameras_packets_decode_again_to_the_frames_it_showed(rtsp):
    """H.264 over RTP (headers from the SDP, keyframes flagged by the depacketiser): a pre-roll
    decoded again from the held packets is the very frames the capture thread decoded."""
    time.sleep(1.5)  # the feeder's first keyframe
    opened = open_source(rtsp.url, CaptureConfig(open_timeout_s=5.0))
    assert opened.keeps_packets
    decoded = [opened.reader.read() for _ in range(45)]
    opened.reader.release()
    kept = [(image, packets) for image, packets in decoded if packets is not None]
    assert len(kept) >= 35  # only frames before the first keyframe have no packets to hold
    decoder = KeptDecoder()
    assert all(np.array_equal(decoder.picture(packets), image) for image, packets in kept[-30:])


def test_alert_clips_of_an_rtsp_camera_are_drawn_from_its_packets(rtsp, monitor_on, tmp_path):
    monitor = monitor_on(rtsp.url)
    alerts = tmp_path / "alerts"
    wait_for(lambda: (alerts / "alerts.jsonl").exists() and read_log(alerts)[1], timeout=40)
    assert isinstance(monitor.compositor.views["gate"].last[0].kept, KeptFrame)
    monitor.shutdown()
    for record in read_log(alerts)[1].values():
        assert video_frames(alerts / record["clip"]) == record["frames"] >= 10


def overdue_notice_pixels(picture) -> int:
    """Pixels of the orange of the panel's 'no decision for N s' line."""
    return int((np.abs(picture.astype(int) - (0, 165, 255)).sum(axis=2) < 60).sum())


def test_a_substream_that_vanishes_and_returns_is_said_on_the_tile_and_analysis_resumes(
    rtsp, tiny_bundle, tmp_path
):
    """A camera shown alone, its main stream and its substream from two real RTSP servers. The
    substream's server is killed: the main stream plays on, the analysis stream is counted down,
    and the tile says its verdict is getting old; back, analysis resumes and the notice goes."""
    small = tmp_path / "sub.mp4"
    synth.make_demo(small, seed=5, width=160, height=90, fps=10.0, timeline=(("normal", 6.0),))
    sub = RtspServer(small)
    sub.start()
    capture = {"reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "open_timeout_s": 2.0, "read_timeout_s": 1.0}
    cameras = [{"name": "gate", "source": rtsp.url, "substream": sub.url}]
    config = parse_config(config_dict(tiny_bundle, cameras, tmp_path, capture=capture))
    monitor = build_monitor(config, threading.Event())
    labelled = lambda name, label: monitor.metrics.registry.get_sample_value(name, {"camera": label}) or 0  # noqa: E731
    picture = lambda: monitor.compositor.latest()[1]  # noqa: E731
    monitor.start()
    try:
        wait_for(lambda: sample(monitor, "vigil_frames_analysed_total") > 5 and picture() is not None, 30)
        assert picture().shape[:2] == (180, 320)  # shown from the main stream
        baseline = overdue_notice_pixels(picture())  # the scene's own orange, if any
        sub.kill()
        wait_for(lambda: labelled("vigil_camera_up", "gate:substream") == 0, timeout=6)
        assert sample(monitor, "vigil_camera_up") == 1  # the main stream plays on
        wait_for(lambda: overdue_notice_pixels(picture()) > baseline + 20, timeout=10)
        analysed = sample(monitor, "vigil_frames_analysed_total")
        sub.start()
        wait_for(lambda: sample(monitor, "vigil_frames_analysed_total") > analysed + 5, timeout=20)
        wait_for(lambda: overdue_notice_pixels(picture()) <= baseline + 5, timeout=10)
    finally:
        monitor.shutdown()
        sub.kill()
