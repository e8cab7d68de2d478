"""Drawing: heatmap and contours where the CAM is, colours by intensity, panel, grid, odd frames."""

from __future__ import annotations

import numpy as np
import pytest

from streamer import overlay
from streamer.capture import as_bgr
from streamer.frames import to_model_input


def hot_spot_cam() -> np.ndarray:
    cam = np.zeros((16, 16), np.float32)
    cam[4, 12] = 2.0                      # one hot cell: x 12/16, y 4/16 of the frame
    return cam


def test_heatmap_and_contours_are_drawn_where_the_cam_is():
    image = np.full((360, 640, 3), 100, np.uint8)
    unit = overlay.unit_cam(hot_spot_cam(), scale=2.0, size=(360, 640))
    assert unit.max() == pytest.approx(1.0, abs=0.02)   # bilinear upsampling shaves the peak a little
    overlay.draw_heatmap(image, unit, alpha=0.5)
    overlay.draw_contours(image, unit, (0.3, 0.5, 0.7, 0.9))
    changed = np.abs(image.astype(int) - 100).max(axis=2) > 20
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 500
    assert abs(xs.mean() / 640 - 12.5 / 16) < 0.05 and abs(ys.mean() / 360 - 4.5 / 16) < 0.05


def test_a_weak_decision_draws_faintly():
    strong, weak = (np.full((360, 640, 3), 100, np.uint8) for _ in range(2))
    overlay.draw_contours(strong, overlay.unit_cam(hot_spot_cam(), 2.0, (360, 640)), (0.3, 0.5, 0.7, 0.9))
    overlay.draw_contours(weak, overlay.unit_cam(hot_spot_cam(), 2.0 / 0.4, (360, 640)), (0.3, 0.5, 0.7, 0.9))
    red = lambda im: ((im[..., 2] > 200) & (im[..., 0] < 80)).sum()  # noqa: E731  (JET's top levels)
    assert red(strong) > 0 and red(weak) == 0


@pytest.mark.parametrize("level,dominant", [(0.1, 0), (0.5, 1), (0.95, 2)])  # blue, green, red (BGR)
def test_level_colours_follow_the_heatmap_scale(level, dominant):
    colour = overlay.level_colour(level)
    assert int(np.argmax(colour)) == dominant


def test_grid_of_cameras_of_different_sizes():
    frames = [np.zeros((720, 1280, 3), np.uint8), np.zeros((480, 640, 3), np.uint8), np.zeros((240, 320, 3), np.uint8)]
    picture = overlay.grid(frames, tile_width=400)
    assert picture.shape == (2 * 300, 800, 3)     # rows as tall as the tallest tile (480 * 400 / 640)


@pytest.mark.parametrize("frame", [np.zeros((50, 70), np.uint8), np.zeros((50, 70, 4), np.uint8), np.zeros((50, 70, 3), np.uint8)],
                         ids=["grey", "bgra", "bgr"])
def test_odd_frames_become_bgr_and_model_input(frame):
    assert as_bgr(frame).shape == (50, 70, 3)
    assert to_model_input(frame, (32, 48)).shape == (32, 48, 3)
