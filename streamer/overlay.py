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
    """Blend the colour-mapped CAM into the image where it is above `floor`, in place.
    OpenCV calls only (no numpy boolean indexing): this runs on every displayed frame."""
    u8 = cv2.convertScaleAbs(unit, alpha=255.0)
    mask = cv2.compare(u8, int(floor * 255), cv2.CMP_GE)
    x, y, w, h = cv2.boundingRect(mask)          # colour only where the CAM is
    if w == 0 or h == 0:
        return
    roi = image[y:y + h, x:x + w]
    heat = cv2.applyColorMap(u8[y:y + h, x:x + w], cv2.COLORMAP_JET)
    blended = cv2.addWeighted(roi, 1.0 - alpha, heat, alpha, 0.0)
    cv2.copyTo(blended, mask[y:y + h, x:x + w], roi)


def draw_contours(image: np.ndarray, unit: np.ndarray, levels: tuple[float, ...], work_height: int = 180) -> None:
    """Contours found on a smaller copy (the CAM is smooth: nothing is lost) and scaled up."""
    h, w = unit.shape
    factor = max(1, h // work_height)
    small = cv2.resize(unit, (w // factor, h // factor), interpolation=cv2.INTER_AREA) if factor > 1 else unit
    thickness = max(1, image.shape[0] // 360)
    for level, contours in camlib.level_contours(small, levels):
        scaled = [(c * factor + factor // 2).astype(np.int32) for c in contours]
        cv2.drawContours(image, scaled, -1, level_colour(level), thickness + (level >= 0.7), cv2.LINE_AA)


def unit_cam(cam: np.ndarray, scale: float, size: tuple[int, int]) -> np.ndarray:
    """A frame's small CAM -> smoothed, upsampled, in 0..1 of `scale` (the window's strength)."""
    cam = cam.astype(np.float32)
    small = cv2.GaussianBlur(cam, (3, 3), 0)
    peak = float(small.max())
    if peak > 0:   # smoothing must not lower the peak: its height is the frame's strength
        small *= float(cam.max()) / peak
    # Normalise before upsampling: bilinear interpolation keeps values in 0..1, and the
    # full-resolution work is one resize.
    return camlib.upsample(camlib.normalise(small, scale), size)


def draw_panel(image: np.ndarray, camera: str, classes: tuple[str, ...], probs: np.ndarray | None,
               explained: str | None, alert: str | None, fps: float, latency: float | None) -> None:
    """Camera name, rate, latency, a probability bar per class (red when an anomaly leads) and
    an alert banner; sized from the frame height so it reads the same at 360p and 1080p."""
    h, w = image.shape[:2]
    scale = max(0.35, h / 1000)
    (_, text_h), _ = cv2.getTextSize("Ag", FONT, scale, 1)
    line, pad = int(text_h * 1.9), int(text_h * 0.6)
    bar_w = int(text_h * 7)
    header = f"{camera}  {fps:4.1f} fps" + (f"  {latency * 1000:4.0f} ms" if latency is not None else "")
    labels = [f"{name} {float(probs[i]) if probs is not None else 0.0:.2f}" + (" *" if name == explained else "")
              for i, name in enumerate(classes)]
    text_w = max(cv2.getTextSize(t, FONT, scale, 1)[0][0] for t in [header, *labels])
    panel_w = max(text_w, bar_w + pad + max(cv2.getTextSize(t, FONT, scale, 1)[0][0] for t in labels)) + 2 * pad
    cv2.rectangle(image, (0, 0), (min(w - 1, panel_w), line * (len(classes) + 1) + pad), (0, 0, 0), -1)
    cv2.putText(image, header, (pad, line - pad), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    for i, label in enumerate(labels):
        p = float(probs[i]) if probs is not None else 0.0
        top = line * (i + 1) + pad // 2
        colour = (0, 0, 220) if i and probs is not None and p >= float(np.max(probs)) else (0, 170, 0)
        cv2.rectangle(image, (pad, top), (pad + max(1, int(p * bar_w)), top + text_h), colour, -1)
        cv2.putText(image, label, (2 * pad + bar_w, top + text_h), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    if alert:
        banner = int(text_h * 2.6)
        cv2.rectangle(image, (0, h - banner), (w, h), (0, 0, 220), -1)
        cv2.putText(image, f"ALERT: {alert}", (pad, h - banner // 3), FONT, scale * 1.3, (255, 255, 255), 2, cv2.LINE_AA)


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
