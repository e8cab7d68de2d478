"""Drawing the explanation on frames: heatmap, contours, panel, notices, evidence boxes, layout.

Heatmap and contours share one colour scale (OpenCV's JET: blue = weak, red = strong), so a
contour's colour says how strongly the model attends there, not only where (the paper's contours
showed only where).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from streamer.display import maps

FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class Toggles:
    """What the guard switched on or off with the window's keys."""

    heatmap: bool = True
    contours: bool = True
    paused: bool = False


@functools.lru_cache(maxsize=256)
def level_colour(level: float) -> tuple[int, int, int]:
    """The colour of intensity `level` (0..1) on the heatmap's scale (cached: a contour level's
    colour is asked for on every drawn frame)."""
    pixel = cv2.applyColorMap(np.array([[int(level * 255)]], np.uint8), cv2.COLORMAP_JET)[0, 0]
    return int(pixel[0]), int(pixel[1]), int(pixel[2])


def draw_heatmap(image: np.ndarray, unit: np.ndarray, alpha: float, floor: float = 0.15) -> None:
    """Blend the colour-mapped CAM into the image where it is above `floor`, in place.
    OpenCV calls only (no numpy boolean indexing): this runs on every displayed frame."""
    u8 = cv2.convertScaleAbs(unit, alpha=255.0)
    mask = cv2.compare(u8, int(floor * 255), cv2.CMP_GE)
    x, y, w, h = cv2.boundingRect(mask)  # colour only where the CAM is
    if w == 0 or h == 0:
        return
    roi = image[y : y + h, x : x + w]
    heat = cv2.applyColorMap(u8[y : y + h, x : x + w], cv2.COLORMAP_JET)
    blended = cv2.addWeighted(roi, 1.0 - alpha, heat, alpha, 0.0)
    cv2.copyTo(blended, mask[y : y + h, x : x + w], roi)


def draw_contours(
    image: np.ndarray, unit: np.ndarray, levels: tuple[float, ...], work_height: int = 180
) -> None:
    """Contours found on the map at a working size of about `work_height` rows (the CAM is
    smooth: nothing is lost) and scaled up to the image; `unit` may be at any resolution (the
    CAM's own: one small resize, not a full-frame one and back)."""
    h, w = image.shape[:2]
    factor = max(1, h // work_height)
    work_h, work_w = h // factor, w // factor
    if unit.shape != (work_h, work_w):
        shrinking = unit.shape[0] > work_h
        unit = cv2.resize(
            unit.astype(np.float32),
            (work_w, work_h),
            interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
        )
    thickness = max(1, h // 360)
    for level, contours in maps.level_contours(unit, levels):
        scaled = [(c * factor + factor // 2).astype(np.int32) for c in contours]
        cv2.drawContours(image, scaled, -1, level_colour(level), thickness + (level >= 0.7), cv2.LINE_AA)


def unit_small(cam: np.ndarray, scale: float) -> np.ndarray:
    """A frame's small CAM -> smoothed, in 0..1 of `scale` (the window's strength), at the CAM's
    own resolution (where the heat is carried through time: cheap)."""
    cam = cam.astype(np.float32)
    small = cv2.GaussianBlur(cam, (3, 3), 0)
    peak = float(small.max())
    if peak > 0:  # smoothing must not lower the peak: its height is the frame's strength
        small *= float(cam.max()) / peak
    return maps.normalise(small, scale)


def unit_cam(cam: np.ndarray, scale: float, size: tuple[int, int]) -> np.ndarray:
    """A frame's small CAM -> smoothed, upsampled, in 0..1 of `scale`. Normalised before
    upsampling: bilinear interpolation keeps values in 0..1, and the full-resolution work is one
    resize."""
    return maps.upsample(unit_small(cam, scale), size)


def draw_unit(
    image: np.ndarray, unit: np.ndarray, config, heatmap: bool = True, contours: bool = True
) -> None:
    """A 0..1 map at the CAM's resolution over the frame, in place: heatmap and intensity-coloured
    contours on one scale."""
    if not (heatmap or contours):
        return
    if heatmap:
        draw_heatmap(image, maps.upsample(unit, image.shape[:2]), config.heatmap_alpha)
    if contours:
        draw_contours(image, unit, config.contour_levels)


def draw_explanation(
    image: np.ndarray, cam: np.ndarray, scale: float, config, heatmap: bool = True, contours: bool = True
) -> None:
    """A frame's own CAM over it, in place (an alert's snapshot: the decision's own map)."""
    draw_unit(image, unit_small(cam, scale), config, heatmap, contours)


@dataclass(frozen=True)
class Panel:
    """What the panel says about one camera: its decision and what the heat on the frame shows."""

    camera: str
    classes: tuple[str, ...]
    probs: np.ndarray | None = None
    explained: str | None = None  # the class the heat explains, marked '*'
    map_name: str = "CAM"  # the bundle's map: Grad-CAM or HiResCAM
    alert: str | None = None
    fps: float | None = None
    latency: float | None = None
    silent_s: float | None = None  # seconds since the last decision, when overdue: numbers that old
    silent_why: str | None = None  # why, when the monitor knows (its inference server is away)


def panel_scale(height: int) -> float:
    """Font scale for a picture `height` pixels tall: at least 0.55 (about 12 px capitals, what
    Tesseract still reads in a 2x2 grid on a 1600x900 screen), growing with the picture."""
    return max(0.55, height / 900)


def draw_panel(image: np.ndarray, panel: Panel) -> None:
    """Camera name, rate, latency, a probability bar per class (red when an anomaly leads), which
    map the heat is, and an alert banner; sized from the picture's height."""
    h, w = image.shape[:2]
    scale = panel_scale(h)
    thickness = 1 if scale < 0.9 else 2
    (_, text_h), _ = cv2.getTextSize("Ag", FONT, scale, thickness)
    line, pad = int(text_h * 1.9), int(text_h * 0.6)
    bar_w = int(text_h * 7)
    header = panel.camera
    if panel.fps is not None:
        header += f"  {panel.fps:4.1f} fps"
    if panel.latency is not None:
        header += f"  {panel.latency * 1000:4.0f} ms"
    probs = panel.probs
    labels = [
        f"{name} {float(probs[i]) if probs is not None else 0.0:.2f}"
        + (" *" if name == panel.explained else "")
        for i, name in enumerate(panel.classes)
    ]
    notes = [f"* heat: {panel.map_name}"] if panel.explained else []
    if panel.silent_s is not None:  # analysis stalled or its stream is down: say how old the numbers are
        why = f": {panel.silent_why}" if panel.silent_why else ""
        notes.append(f"no decision for {panel.silent_s:.0f} s{why}")
    width = lambda text: cv2.getTextSize(text, FONT, scale, thickness)[0][0]  # noqa: E731
    panel_w = (
        max(max(width(t) for t in [header, *notes]), bar_w + pad + max(width(t) for t in labels)) + 2 * pad
    )
    rows = 1 + len(labels) + len(notes)
    cv2.rectangle(image, (0, 0), (min(w - 1, panel_w), line * rows + pad), (0, 0, 0), -1)
    cv2.putText(image, header, (pad, line - pad), FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    for i, label in enumerate(labels):
        p = float(probs[i]) if probs is not None else 0.0
        top = line * (i + 1) + pad // 2
        colour = (0, 0, 220) if i and probs is not None and p >= float(np.max(probs)) else (0, 170, 0)
        if panel.silent_s is not None:
            colour = (110, 110, 110)  # grey: not a current verdict
        cv2.rectangle(image, (pad, top), (pad + max(1, int(p * bar_w)), top + text_h), colour, -1)
        cv2.putText(
            image,
            label,
            (2 * pad + bar_w, top + text_h),
            FONT,
            scale,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )
    for j, note in enumerate(notes):
        top = line * (1 + len(labels) + j) + pad // 2
        colour = (0, 165, 255) if note.startswith("no decision") else (200, 255, 255)
        cv2.putText(image, note, (pad, top + text_h), FONT, scale, colour, thickness, cv2.LINE_AA)
    if panel.alert:
        banner = int(text_h * 2.6)
        cv2.rectangle(image, (0, h - banner), (w, h), (0, 0, 220), -1)
        cv2.putText(
            image,
            f"ALERT: {panel.alert}",
            (pad, h - banner // 3),
            FONT,
            scale * 1.3,
            (255, 255, 255),
            thickness + 1,
            cv2.LINE_AA,
        )


def draw_notice(image: np.ndarray, lines: list[str]) -> None:
    """Lines for the guard (paused, snapshot saved) at the top right of the picture, in place."""
    h, w = image.shape[:2]
    scale = panel_scale(h)
    (_, text_h), _ = cv2.getTextSize("Ag", FONT, scale, 1)
    line, pad = int(text_h * 1.9), int(text_h * 0.6)
    width = max(cv2.getTextSize(t, FONT, scale, 1)[0][0] for t in lines) + 2 * pad
    x = max(0, w - width)
    cv2.rectangle(image, (x, 0), (w - 1, line * len(lines) + pad), (0, 0, 0), -1)
    for i, text in enumerate(lines):
        cv2.putText(image, text, (x + pad, line * (i + 1) - pad), FONT, scale, (0, 255, 255), 1, cv2.LINE_AA)


def draw_boxes(image: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> None:
    """The alert's evidence regions (x0, y0, x1, y1) as white rectangles, in place."""
    thickness = max(1, image.shape[0] // 360)
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(image, (x0, y0), (x1, y1), (255, 255, 255), thickness, cv2.LINE_AA)


@dataclass(frozen=True)
class Layout:
    """Where each camera goes on a fixed canvas: the canvas never changes size, whichever cameras
    are up, so the window and the annotated video keep one size for the whole run."""

    width: int
    height: int
    tiles: tuple[tuple[int, int, int, int], ...]  # (x, y, w, h) per camera, in config order

    @classmethod
    def grid(cls, count: int, width: int, height: int) -> Layout:
        columns = int(np.ceil(np.sqrt(count)))
        rows = int(np.ceil(count / columns))
        tile_w, tile_h = width // columns, height // rows
        tiles = tuple((c * tile_w, r * tile_h, tile_w, tile_h) for r in range(rows) for c in range(columns))[
            :count
        ]
        return cls(columns * tile_w, rows * tile_h, tiles)


def fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """(w, h) of a picture of `size` (w, h) scaled to fit `box` (w, h), aspect kept."""
    factor = min(box[0] / size[0], box[1] / size[1])
    return max(1, int(size[0] * factor)), max(1, int(size[1] * factor))


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The image scaled to fit width x height, centred on black: aspect kept."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    fw, fh = fit((w, h), (width, height))
    canvas = np.zeros((height, width, 3), np.uint8)
    x, y = (width - fw) // 2, (height - fh) // 2
    canvas[y : y + fh, x : x + fw] = shrink(image, fw, fh)
    return canvas


def shrink(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The image at (width, height), cheaply: halved by area averaging while it is twice the size
    (OpenCV's fast path; any other INTER_AREA factor costs 10x more), then bilinear for the rest.
    It runs on every displayed frame."""
    h, w = image.shape[:2]
    while w >= 2 * width and h >= 2 * height:
        w, h = w // 2, h // 2
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    if (w, h) == (width, height):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def no_signal(width: int, height: int, camera: str, detail: str) -> np.ndarray:
    """A tile for a camera without a picture: its name and why, so a dead camera is not a black
    hole. The reason is wrapped to the tile's width."""
    tile = np.full((height, width, 3), 40, np.uint8)
    scale = panel_scale(height)
    (_, text_h), _ = cv2.getTextSize("Ag", FONT, scale, 1)
    pad, line = int(text_h * 1.2), int(text_h * 1.9)
    lines, current = [camera], ""
    for word in detail.split():
        candidate = f"{current} {word}".strip()
        if current and cv2.getTextSize(candidate, FONT, scale, 1)[0][0] > width - 2 * pad:
            lines.append(current)
            candidate = word
        current = candidate
    lines.append(current)
    top = max(line, (height - line * len(lines)) // 2)
    for i, text in enumerate(lines):
        colour = (255, 255, 255) if i == 0 else (170, 200, 255)
        cv2.putText(tile, text, (pad, top + i * line), FONT, scale, colour, 1, cv2.LINE_AA)
    return tile
