"""Pure functions on CAMs: upsampling, peaks, pointing game, energy in a box."""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]


def upsample(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A [h, w] CAM -> float32 [H, W] over the frame it came from (bilinear, cell-centre aligned)."""
    return cv2.resize(cam.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


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
    return (max(0, box[0] - margin), max(0, box[1] - margin), min(w - 1, box[2] + margin), min(h - 1, box[3] + margin))


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
        mask[y0:y1 + 1, x0:x1 + 1] = True
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


def normalise(cam_up: np.ndarray, scale: float | None = None) -> np.ndarray:
    """CAM in 0..1 of a scale (default its own max); an all-zero CAM stays zero."""
    top = float(cam_up.max()) if scale is None else scale
    return np.clip(cam_up / top, 0.0, 1.0) if top > 0 else np.zeros_like(cam_up)


def level_contours(unit_cam: np.ndarray, levels: tuple[float, ...]) -> list[tuple[float, list[np.ndarray]]]:
    """Outer contours of the CAM at each level (0..1), lowest level first."""
    out = []
    for level in levels:
        mask = (unit_cam >= level).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        out.append((level, list(contours)))
    return out


def strongest_regions(cam_up: np.ndarray, level: float = 0.5, limit: int = 3) -> list[dict]:
    """Boxes of the CAM's hottest regions (above level x max), strongest first: an alert's evidence."""
    unit = normalise(cam_up)
    mask = (unit >= level).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    regions = []
    for i in range(1, count):
        x, y, w, h = (int(v) for v in stats[i, :4])
        regions.append({"box": [x, y, x + w - 1, y + h - 1], "peak": round(float(unit[labels == i].max()), 4)})
    regions.sort(key=lambda r: -r["peak"])
    return regions[:limit]
