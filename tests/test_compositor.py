"""The compositor's display queue: frames wait for their CAM, and drawing that falls behind skips
late frames (counted) instead of queueing without bound."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from streamer.capture.ring import FrameRing
from streamer.config import OverlayConfig
from streamer.display.compositor import MAX_DISPLAY_LAG_S, Compositor
from streamer.metrics import build_metrics
from streamer.types import Frame


def make_compositor(rings: dict, delay: float, metrics=None, **options) -> Compositor:
    """A headless compositor over `rings`, not started: tests drive it with _tick(now)."""
    return Compositor(
        OverlayConfig(display="headless"),
        rings,
        ("normal", "fight"),
        "Grad-CAM",
        threading.Event(),
        delay,
        metrics or build_metrics(),
        **options,
    )


def compositor_with(frames_ts: list[float], delay: float = 1.0):
    ring = FrameRing(512, "display_ring")
    for seq, ts in enumerate(frames_ts):
        ring.put(Frame("cam", seq, ts, np.zeros((36, 64, 3), np.uint8)))
    metrics = build_metrics()
    return make_compositor({"cam": ring}, delay, metrics), metrics


def drawn(metrics) -> int:
    return int(metrics.registry.get_sample_value("vigil_overlay_draw_seconds_count"))


def late(metrics) -> int:
    return int(
        metrics.registry.get_sample_value(
            "vigil_frames_dropped_total", {"camera": "cam", "reason": "display_late"}
        )
        or 0
    )


def test_frames_wait_for_their_slot_and_are_all_drawn_when_on_time():
    compositor, metrics = compositor_with([0.0, 0.04, 0.08, 0.12])
    assert compositor._tick(now=0.5) is False  # none is due yet: held back by the delay
    assert compositor._tick(now=1.2) is True
    assert drawn(metrics) == 4 and late(metrics) == 0
    assert compositor.latest()[1].shape == (36, 64, 3)  # one camera: its own frame size
    assert not compositor.views["cam"].pending


def test_drawing_that_fell_behind_skips_late_frames_and_counts_them():
    # 10 s of 25 fps frames arrive at once, as after a stall of the drawing thread.
    ts = [i / 25 for i in range(250)]
    compositor, metrics = compositor_with(ts, delay=1.0)
    now = 10.0
    compositor._tick(now)
    on_time = [t for t in ts if t >= now - 1.0 - MAX_DISPLAY_LAG_S]
    assert late(metrics) == len(ts) - len(on_time)
    assert drawn(metrics) == sum(1 for t in on_time if t <= now - 1.0)
    assert len(compositor.views["cam"].pending) == sum(1 for t in ts if t > now - 1.0)  # only the future


def test_the_canvas_keeps_its_size_and_every_frame_reaches_the_video_when_a_camera_comes_up_late(tmp_path):
    """Two cameras; the second delivers only after the first has been drawn for a while. The grid
    is laid out for both from the start, so the annotated video keeps one size and every drawn
    picture is written (the old grid grew and every later frame was silently dropped)."""
    rings = {"north": FrameRing(512, "display_ring"), "south": FrameRing(512, "display_ring")}
    video = tmp_path / "annotated.mp4"
    compositor = make_compositor(rings, 0.125, writer_path=video, canvas_size=(640, 360))
    images = {"north": np.full((180, 320, 3), 90, np.uint8), "south": np.full((240, 320, 3), 160, np.uint8)}
    drawn = 0
    for step in range(40):
        ts = step * 0.125  # exact in binary: each frame is due at its tick
        rings["north"].put(Frame("north", step, ts, images["north"]))
        if step >= 20:
            rings["south"].put(Frame("south", step - 20, ts, images["south"]))
        drawn += compositor._tick(now=ts + 0.125)
        assert compositor.latest()[1].shape == (360, 640, 3)
    compositor.close()
    capture = cv2.VideoCapture(str(video))
    sizes, frames = set(), 0
    while True:
        ok, picture = capture.read()
        if not ok:
            break
        sizes.add(picture.shape)
        frames += 1
    capture.release()
    assert frames == drawn == 40 and sizes == {(360, 640, 3)}


def test_the_picture_is_laid_out_at_the_display_rate_not_once_per_drawn_frame():
    """Four cameras at 25 fps, their frames a few ms apart: 100 tiles drawn a second, but the
    guard's 25 Hz picture is laid out about 25 times a second (it was laid out once per tick that
    drew: up to 100 times, a 1080p canvas each time)."""
    rings = {name: FrameRing(512, "display_ring") for name in ("a", "b", "c", "d")}
    for k, (name, ring) in enumerate(rings.items()):
        for i in range(50):
            ring.put(Frame(name, i, i / 25 + k * 0.01, np.zeros((36, 64, 3), np.uint8)))
    metrics = build_metrics()
    compositor = make_compositor(rings, 0.0, metrics, canvas_size=(640, 360))
    for step in range(200):  # ticks every 10 ms over 2 s
        compositor._tick(now=step * 0.01)
    assert drawn(metrics) == 200
    laid_out = compositor.latest()[0]
    assert 45 <= laid_out <= 51  # 2 s at 25 Hz


def test_a_panel_says_how_old_its_numbers_are_once_decisions_stop():
    """A camera still shown whose analysis stopped (its substream is down, inference stalled) must
    not show its last probabilities as if current."""
    from streamer.display import drawing
    from streamer.types import Analysis

    compositor, _ = compositor_with([0.0], delay=1.0)
    view = compositor.views["cam"]
    view.store(Analysis("cam", (0,), (0.0,), np.array([0.1, 0.9]), np.zeros((1, 2, 2)), 1, decided_at=5.0))
    frame = Frame("cam", 0, 0.0, np.zeros((360, 640, 3), np.uint8))
    assert compositor._panel(view, frame, now=7.9).silent_s is None  # on time (overdue after 3 s)
    late = compositor._panel(view, frame, now=17.0)
    assert late.silent_s == pytest.approx(12.0)
    pictures = []
    for panel in (compositor._panel(view, frame, now=7.9), late):
        picture = np.full((360, 640, 3), 255, np.uint8)
        drawing.draw_panel(picture, panel)
        pictures.append(picture)
    on_time, overdue = pictures
    # The overdue panel has one more line, and no red bar: the old verdict is greyed out.
    rows = lambda im: int((im[:, 2] == 0).sum())  # noqa: E731  (the black box down its left edge)
    assert rows(overdue) > rows(on_time)
    red = lambda im: int(((im[..., 2] > 200) & (im[..., 1] < 40) & (im[..., 0] < 40)).sum())  # noqa: E731
    assert red(on_time) > 0 and red(overdue) == 0


def test_clips_are_drawn_and_encoded_off_the_compositor_thread(tmp_path):
    """An alert's pre-roll is drawn at full size when the alert fires: on the compositor's thread
    that froze every camera's picture (3.4 s with four cameras alerting at once, measured by
    benchmarks/alert_burst.py). The compositor only hands frames over; the clip writer writes."""
    ring = FrameRing(512, "display_ring")
    finished = []
    compositor = make_compositor(
        {"cam": ring}, 0.0, clip_finished=lambda *clip: finished.append(clip), pre_roll_s=0.4
    )
    image = np.full((90, 160, 3), 120, np.uint8)
    for seq in range(50):
        ts = seq * 0.04
        if seq == 25:
            compositor.record_alert("cam", "a1", "fight", newest_ts=ts, post_roll_s=0.4, directory=tmp_path)
        ring.put(Frame("cam", seq, ts, image))
        compositor._tick(now=ts)
    assert not list(tmp_path.iterdir())  # nothing written on the compositor's thread
    compositor.close()  # the writer (never started here) writes what was handed over
    (alert_id, camera, label, path, frames, raw), *_ = finished
    assert (alert_id, camera, label) == ("a1", "cam", "fight") and path == tmp_path / "a1.mp4"
    assert raw == tmp_path / "a1.raw.mp4"
    assert frames == 10 + 11  # 0.4 s of pre-roll at 25 fps, then the frames up to 0.4 s after
    for clip in (path, raw):
        capture = cv2.VideoCapture(str(clip))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == frames
        capture.release()
