"""Class activation maps on the screen: upsampled over their frame, normalised, contoured, and the
strongest regions an alert names. Pure functions."""

from __future__ import annotations

import cv2
import numpy as np


def upsample(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A [h, w] CAM -> float32 [H, W] over the frame it came from (bilinear, cell-centre aligned)."""
    return cv2.resize(cam.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def normalise(cam_up: np.ndarray, scale: float | None = None) -> np.ndarray:
    """CAM in 0..1 of a scale (default its own max); an all-zero CAM stays zero."""
    top = float(cam_up.max()) if scale is None else scale
    return np.clip(cam_up / top, 0.0, 1.0) if top > 0 else np.zeros_like(cam_up)


def strongest_frame(window_maps: np.ndarray) -> int:
    """The index of a window's frame whose map is strongest (the newest on a tie): what an alert
    shows. The newest frame alone may carry almost none of the evidence (a muzzle flash two frames
    before), and its map's faint maximum then lies anywhere."""
    strength = window_maps.reshape(len(window_maps), -1).max(axis=1)
    return len(strength) - 1 - int(np.argmax(strength[::-1]))


def window_scale(window_maps: np.ndarray, probability: float) -> float:
    """One strength for a whole window, so colours compare across its frames, scaled by the
    explained class's probability, so a weak decision draws faint maps."""
    return float(window_maps.max()) / max(float(probability), 1e-6)


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
        regions.append(
            {"box": [x, y, x + w - 1, y + h - 1], "peak": round(float(unit[labels == i].max()), 4)}
        )
    regions.sort(key=lambda r: -r["peak"])
    return regions[:limit]
