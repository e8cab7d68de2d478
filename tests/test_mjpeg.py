"""Capture from a real MJPEG-over-HTTP camera (multipart/x-mixed-replace, as IP cameras serve it)."""

from __future__ import annotations

import http.server
import threading
import time

import cv2
import numpy as np
import pytest

from streamer.capture.packets import KeptDecoder, KeptFrame
from streamer.config import parse_config
from streamer.monitor import build_monitor
from tests.test_monitor import config_dict


class MjpegHandler(http.server.BaseHTTPRequestHandler):
    frames: list[bytes] = []

    def do_GET(self):  # noqa: N802  (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            for i in range(400):
                jpeg = self.frames[i % len(self.frames)]
                self.wfile.write(
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(jpeg)).encode()
                    + b"\r\n\r\n"
                    + jpeg
                    + b"\r\n"
                )
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def mjpeg_camera():
    rng = np.random.default_rng(0)
    MjpegHandler.frames = [
        cv2.imencode(".jpg", rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))[1].tobytes()
        for _ in range(5)
    ]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MjpegHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/video.mjpg"
    server.shutdown()
    server.server_close()


def test_frames_flow_from_an_mjpeg_camera(tiny_bundle, mjpeg_camera, tmp_path):
    config = parse_config(config_dict(tiny_bundle, [{"name": "lobby", "source": mjpeg_camera}], tmp_path))
    monitor = build_monitor(config, threading.Event())
    monitor.start()
    try:
        deadline = time.monotonic() + 15
        sample = monitor.metrics.registry.get_sample_value
        while (
            sample("vigil_frames_analysed_total", {"camera": "lobby"}) or 0
        ) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sample("vigil_camera_up", {"camera": "lobby"}) == 1
        assert sample("vigil_frames_analysed_total", {"camera": "lobby"}) >= 5
        # Clips keep the camera's own JPEGs (one packet each), not a JPEG encoded again here.
        frame = monitor.compositor.views["lobby"].last[0]
        assert isinstance(frame.kept, KeptFrame) and len(frame.kept.group.packets) == 1
        assert frame.kept.group.packets[0][0] in MjpegHandler.frames
        assert np.array_equal(KeptDecoder().picture(frame.kept), frame.image)  # the picture shown
    finally:
        monitor.shutdown()
