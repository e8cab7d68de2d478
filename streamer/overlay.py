"""Drawing the explanation on frames, and the guard's window: the only module that touches the GUI.

Heatmap and contours share one colour scale (OpenCV's JET: blue = weak, red = strong), so a
contour's colour says how strongly the model attends there, not only where (the paper's contours
showed only where).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import cv2
import numpy as np

from streamer import cam as camlib

FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class Toggles:
    heatmap: bool = True
    contours: bool = True
    paused: bool = False


def level_colour(level: float) -> tuple[int, int, int]:
    """The colour of intensity `level` (0..1) on the heatmap's scale."""
    pixel = cv2.applyColorMap(np.array([[int(level * 255)]], np.uint8), cv2.COLORMAP_JET)[0, 0]
    return int(pixel[0]), int(pixel[1]), int(pixel[2])


def draw_heatmap(image: np.ndarray, unit: np.ndarray, alpha: float, floor: float = 0.15) -> None:
    """Blend the colour-mapped CAM into the image where it is above `floor`, in place."""
    heat = cv2.applyColorMap((unit * 255).astype(np.uint8), cv2.COLORMAP_JET)
    blended = cv2.addWeighted(image, 1.0 - alpha, heat, alpha, 0.0)
    mask = unit >= floor
    image[mask] = blended[mask]


def draw_contours(image: np.ndarray, unit: np.ndarray, levels: tuple[float, ...]) -> None:
    thickness = max(1, image.shape[0] // 360)
    for level, contours in camlib.level_contours(unit, levels):
        cv2.drawContours(image, contours, -1, level_colour(level), thickness + (level >= 0.7), cv2.LINE_AA)


def unit_cam(cam: np.ndarray, scale: float, size: tuple[int, int]) -> np.ndarray:
    """A frame's small CAM -> smoothed, upsampled, in 0..1 of `scale` (the window's strength)."""
    cam = cam.astype(np.float32)
    small = cv2.GaussianBlur(cam, (3, 3), 0)
    peak = float(small.max())
    if peak > 0:   # smoothing must not lower the peak: its height is the frame's strength
        small *= float(cam.max()) / peak
    return camlib.normalise(camlib.upsample(small, size), scale)


def draw_panel(image: np.ndarray, camera: str, classes: tuple[str, ...], probs: np.ndarray | None,
               explained: str | None, alert: str | None, fps: float, latency: float | None) -> None:
    """Camera name, class probabilities, rate, latency and an alert banner."""
    h, w = image.shape[:2]
    s = max(0.4, h / 900)
    line = int(26 * s / 0.8)
    cv2.rectangle(image, (0, 0), (int(280 * s / 0.8), line * (len(classes) + 2) + 8), (0, 0, 0), -1)
    cv2.putText(image, f"{camera}  {fps:4.1f} fps" + (f"  {latency * 1000:4.0f} ms" if latency is not None else ""),
                (8, line), FONT, s, (255, 255, 255), 1, cv2.LINE_AA)
    for i, name in enumerate(classes):
        p = float(probs[i]) if probs is not None else 0.0
        y = line * (i + 2)
        bar = int(p * 120 * s / 0.8)
        cv2.rectangle(image, (8, y - line + 8), (8 + bar, y), (0, 0, 200) if i and p >= 0.5 else (0, 160, 0), -1)
        mark = " *" if name == explained else ""
        cv2.putText(image, f"{name} {p:.2f}{mark}", (12 + int(120 * s / 0.8), y), FONT, s * 0.9,
                    (255, 255, 255), 1, cv2.LINE_AA)
    if alert:
        cv2.rectangle(image, (0, h - line - 16), (w, h), (0, 0, 220), -1)
        cv2.putText(image, f"ALERT: {alert}", (10, h - 10), FONT, s * 1.2, (255, 255, 255), 2, cv2.LINE_AA)


def grid(images: list[np.ndarray], tile_width: int = 960) -> np.ndarray:
    """Several cameras in one picture, tiles of equal width, two columns."""
    if len(images) == 1:
        return images[0]
    tiles = [cv2.resize(im, (tile_width, int(im.shape[0] * tile_width / im.shape[1]))) for im in images]
    th = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, th - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles]
    if len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)]
    return np.vstack(rows)


def display_usable() -> bool:
    """Can this process open a window? Asked in a child: with no usable display, Qt aborts the
    whole process (SIGABRT, uncatchable), so the monitor must never find out by trying itself."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    probe = "import cv2; cv2.namedWindow('vigil-probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
    try:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class Window:
    """The guard's window; call only from the main thread (Qt's GUI lives on one thread)."""

    KEYS = {ord("h"): "heatmap", ord("c"): "contours", ord("p"): "pause", ord("s"): "snapshot",
            ord("q"): "quit", 27: "quit"}

    def __init__(self, title: str):
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def show(self, image: np.ndarray, wait_ms: int = 1) -> str | None:
        cv2.imshow(self.title, image)
        return self.KEYS.get(cv2.waitKey(wait_ms) & 0xFF)

    def close(self) -> None:
        cv2.destroyAllWindows()
        cv2.waitKey(1)
