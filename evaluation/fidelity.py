"""How faithful a map is to the ground truth: its peak and the path of the peak, the pointing game
(is the peak in a box, with a margin), the share of its energy in the boxes, and the baselines
(centre prior, a uniformly random point, exactly). Pure functions."""

from __future__ import annotations

import numpy as np

from evaluation.sidecar import Box


def peak(cam: np.ndarray) -> tuple[int, int]:
    """(x, y) of the maximum."""
    y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    return int(x), int(y)


def trajectory(maps_up: np.ndarray) -> tuple[list[tuple[int, int]], list[float]]:
    """Each frame's peak (x, y) over maps [T, H, W], and the jump from the previous frame's peak
    as a share of the frame's diagonal (0 for the first): does attention jump between frames?"""
    peaks = [peak(m) for m in maps_up]
    diagonal = float(np.hypot(*maps_up.shape[1:]))
    jumps = [0.0] + [float(np.hypot(b[0] - a[0], b[1] - a[1]) / diagonal) for a, b in zip(peaks, peaks[1:])]
    return peaks, jumps


def grow(box: Box, margin: int, size: tuple[int, int]) -> Box:
    """The box widened by margin pixels on each side, clipped to a frame of size (H, W)."""
    h, w = size
    return (
        max(0, box[0] - margin),
        max(0, box[1] - margin),
        min(w - 1, box[2] + margin),
        min(h - 1, box[3] + margin),
    )


def inside(point: tuple[int, int], boxes: list[Box], margin: int, size: tuple[int, int]) -> bool:
    for box in boxes:
        x0, y0, x1, y1 = grow(box, margin, size)
        if x0 <= point[0] <= x1 and y0 <= point[1] <= y1:
            return True
    return False


def box_mask(boxes: list[Box], size: tuple[int, int], margin: int = 0) -> np.ndarray:
    mask = np.zeros(size, bool)
    for box in boxes:
        x0, y0, x1, y1 = grow(box, margin, size)
        mask[y0 : y1 + 1, x0 : x1 + 1] = True
    return mask


def energy_in_boxes(cam_up: np.ndarray, boxes: list[Box]) -> float:
    """Share of the (non-negative) CAM's mass inside the boxes; 0 for an all-zero CAM."""
    total = float(cam_up.sum())
    return float(cam_up[box_mask(boxes, cam_up.shape)].sum() / total) if total > 0 else 0.0


def random_point_hit_rate(boxes: list[Box], margin: int, size: tuple[int, int]) -> float:
    """Chance that a uniformly random pixel falls in the (grown) boxes: the random baseline, exactly."""
    return float(box_mask(boxes, size, margin).mean())


def centre_hit(boxes: list[Box], margin: int, size: tuple[int, int]) -> bool:
    """The centre-prior baseline: does the frame's centre fall in the (grown) boxes?"""
    return inside((size[1] // 2, size[0] // 2), boxes, margin, size)
