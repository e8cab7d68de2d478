"""Drawing: heatmap and contours where the CAM is, colours by intensity, panel, grid, odd frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamer.capture.camera import as_bgr
from streamer.display import drawing
from streamer.inference.frames import to_model_input


def hot_spot_cam() -> np.ndarray:
    cam = np.zeros((16, 16), np.float32)
    cam[4, 12] = 2.0  # one hot cell: x 12/16, y 4/16 of the frame
    return cam


def test_heatmap_and_contours_are_drawn_where_the_cam_is():
    image = np.full((360, 640, 3), 100, np.uint8)
    unit = drawing.unit_cam(hot_spot_cam(), scale=2.0, size=(360, 640))
    assert unit.max() == pytest.approx(1.0, abs=0.02)  # bilinear upsampling shaves the peak a little
    drawing.draw_heatmap(image, unit, alpha=0.5)
    drawing.draw_contours(image, unit, (0.3, 0.5, 0.7, 0.9))
    changed = np.abs(image.astype(int) - 100).max(axis=2) > 20
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 500
    assert abs(xs.mean() / 640 - 12.5 / 16) < 0.05 and abs(ys.mean() / 360 - 4.5 / 16) < 0.05


def test_contours_from_the_small_map_lie_where_those_from_the_full_size_map_do():
    """The monitor hands draw_contours the CAM at its own resolution (no full-frame upsample and
    back): the lines drawn must be the same lines, within a pixel or two."""
    small = drawing.unit_small(hot_spot_cam(), 2.0)
    lines = []
    for unit in (small, drawing.unit_cam(hot_spot_cam(), 2.0, (720, 1280))):
        image = np.zeros((720, 1280, 3), np.uint8)
        drawing.draw_contours(image, unit, (0.3, 0.5, 0.7, 0.9))
        lines.append(image.max(axis=2) > 0)
    near = lambda mask: cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # noqa: E731
    from_small, from_full = lines
    assert from_small.sum() > 300 and from_full.sum() > 300
    assert (from_small & ~near(from_full)).sum() < 0.02 * from_small.sum()
    assert (from_full & ~near(from_small)).sum() < 0.02 * from_full.sum()


def test_a_weak_decision_draws_faintly():
    strong, weak = (np.full((360, 640, 3), 100, np.uint8) for _ in range(2))
    drawing.draw_contours(strong, drawing.unit_cam(hot_spot_cam(), 2.0, (360, 640)), (0.3, 0.5, 0.7, 0.9))
    drawing.draw_contours(weak, drawing.unit_cam(hot_spot_cam(), 2.0 / 0.4, (360, 640)), (0.3, 0.5, 0.7, 0.9))
    red = lambda im: ((im[..., 2] > 200) & (im[..., 0] < 80)).sum()  # noqa: E731  (JET's top levels)
    assert red(strong) > 0 and red(weak) == 0


@pytest.mark.parametrize("level,dominant", [(0.1, 0), (0.5, 1), (0.95, 2)])  # blue, green, red (BGR)
def test_level_colours_follow_the_heatmap_scale(level, dominant):
    colour = drawing.level_colour(level)
    assert int(np.argmax(colour)) == dominant


@pytest.mark.parametrize(
    "count,tiles",
    [
        (1, [(0, 0, 1600, 900)]),
        (2, [(0, 0, 800, 900), (800, 0, 800, 900)]),
        (3, [(0, 0, 800, 450), (800, 0, 800, 450), (0, 450, 800, 450)]),
        (
            5,
            [
                (0, 0, 533, 450),
                (533, 0, 533, 450),
                (1066, 0, 533, 450),
                (0, 450, 533, 450),
                (533, 450, 533, 450),
            ],
        ),
    ],
)
def test_grid_layout_has_one_tile_per_camera_on_a_fixed_canvas(count, tiles):
    layout = drawing.Layout.grid(count, 1600, 900)
    assert list(layout.tiles) == tiles
    assert layout.width <= 1600 and layout.height <= 900


def test_letterbox_keeps_the_aspect_on_black():
    frame = np.full((480, 640, 3), 200, np.uint8)  # 4:3 into a 16:9 tile
    tile = drawing.letterbox(frame, 800, 450)
    assert tile.shape == (450, 800, 3)
    columns = np.nonzero(tile[225, :, 0] > 100)[0]
    assert columns.min() == 100 and columns.max() == 699  # 600 px wide picture, centred
    assert tile[:, :100].max() == 0 and tile[:, 700:].max() == 0


@pytest.mark.parametrize(
    "frame",
    [np.zeros((50, 70), np.uint8), np.zeros((50, 70, 4), np.uint8), np.zeros((50, 70, 3), np.uint8)],
    ids=["grey", "bgra", "bgr"],
)
def test_odd_frames_become_bgr_and_model_input(frame):
    assert as_bgr(frame).shape == (50, 70, 3)
    assert to_model_input(frame, (32, 48)).shape == (32, 48, 3)
