"""`vigil explain`'s outputs: PNG grids, an annotated MP4, per-frame JSON and one HTML report.

Drawn with the monitor's own overlay code (heatmap and intensity-coloured contours on one colour
scale), so the picture an investigator reads is the picture the guard saw. No TensorFlow here.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import cv2
import numpy as np

from evaluation import fidelity
from explain.windows import PIXEL_METHODS
from streamer.config import OverlayConfig
from streamer.display import maps
from streamer.display.drawing import FONT, Panel, draw_contours, draw_heatmap, draw_panel, unit_cam
from streamer.inference.bundle import CAM_DEFINITIONS

TILE_WIDTH = 192
LEVELS = OverlayConfig().contour_levels  # the monitor's contours, drawn the same here
LABEL_WIDTH = 170


def resize_to_width(image: np.ndarray, width: int, interpolation=cv2.INTER_AREA) -> np.ndarray:
    return cv2.resize(
        image, (width, max(1, round(image.shape[0] * width / image.shape[1]))), interpolation=interpolation
    )


def unit_map(small: np.ndarray, scale: float, size: tuple[int, int], pixel: bool) -> np.ndarray:
    """A map in 0..1 of `scale` over a tile: CAMs as the monitor smooths them; pixel maps blurred a
    little, since single-pixel gradients vanish when shrunk."""
    if not pixel:
        return unit_cam(small, scale, size)
    blurred = cv2.GaussianBlur(small.astype(np.float32), (0, 0), max(1.0, small.shape[0] / 96))
    top = float(blurred.max())
    return maps.upsample(maps.normalise(blurred, top if top > 0 else None), size)


def tile(
    image: np.ndarray,
    small: np.ndarray | None = None,
    scale: float = 0.0,
    pixel: bool = False,
    heat: bool = True,
    contours: bool = True,
    boxes: list | None = None,
    width: int = TILE_WIDTH,
) -> np.ndarray:
    """One frame at tile width, with a map drawn over it and the ground-truth boxes in white."""
    out = resize_to_width(image, width)
    if small is not None:
        unit = unit_map(small, scale, out.shape[:2], pixel)
        if heat:
            draw_heatmap(out, unit, alpha=0.45, floor=0.05 if pixel else 0.15)
        if contours:
            draw_contours(out, unit, LEVELS)
    factor = width / image.shape[1]
    for box in boxes or []:
        x0, y0, x1, y1 = (int(round(v * factor)) for v in box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 255), 1)
    return out


def text_block(lines: list[str], width: int, height: int, scale: float = 0.42) -> np.ndarray:
    block = np.full((height, width, 3), 255, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(block, line, (6, 18 + 17 * i), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return block


def grid(rows: list[tuple[list[str], list[np.ndarray]]], header: list[str]) -> np.ndarray:
    """Labelled rows of equal-size tiles under a header (one column per frame)."""
    th, tw = rows[0][1][0].shape[:2]
    gap = 2
    top = text_block([""], LABEL_WIDTH, 26)
    head = [text_block([h], tw, 26) for h in header]
    lines = [np.hstack([top] + sum([[h, np.full((26, gap, 3), 255, np.uint8)] for h in head], []))]
    for labels, tiles in rows:
        cells = [text_block(labels, LABEL_WIDTH, th)]
        for t in tiles:
            cells += [t, np.full((th, gap, 3), 255, np.uint8)]
        lines.append(np.hstack(cells))
        lines.append(np.full((gap, lines[-1].shape[1], 3), 255, np.uint8))
    return np.vstack(lines)


def frame_header(result) -> list[str]:
    return [f"frame {f}  {t:.2f} s" for f, t in zip(result.frames, result.times)]


def methods_png(result, labels: dict[str, str]) -> np.ndarray:
    """Frames x methods: each method's maps on the frames they came from, one scale per row (the
    window's strongest frame), so a row also shows which frames matter."""
    rows = [(["frames"], [tile(im, boxes=b) for im, b in zip(result.images, result.boxes)])]
    for name, method_maps in result.maps.items():
        pixel = name in PIXEL_METHODS
        scale = float(method_maps.max())
        tally = result.pointing.get(name)
        extra = [f"pointing {tally.summary()['pointing_game']:.2f}"] if tally else []
        rows.append(
            (
                [labels.get(name, name), f"max {scale:.3g}", *extra],
                [
                    tile(im, m, scale, pixel, boxes=b)
                    for im, m, b in zip(result.images, method_maps, result.boxes)
                ],
            )
        )
    cam = result.maps.get(result.monitor_cam)
    if cam is not None:  # the monitor's contours alone: where, and by colour how strongly
        rows.append(
            (
                [f"{labels.get(result.monitor_cam, result.monitor_cam)} contours", "(as the monitor)"],
                [tile(im, m, float(cam.max()), heat=False) for im, m in zip(result.images, cam)],
            )
        )
    return grid(rows, frame_header(result))


def features_png(result, channels: list[int]) -> np.ndarray:
    """The strongest last-conv channels of every frame (the paper's feature-map figure), each
    channel on its own scale over the window."""
    rows = []
    acts = result.activations
    for k in channels:
        top = float(acts[..., k].max())
        tiles = []
        for a in acts[..., k]:
            unit = np.clip(a / top, 0, 1) if top > 0 else np.zeros_like(a)
            small = cv2.applyColorMap((unit * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
            tiles.append(
                cv2.resize(small, (TILE_WIDTH // 2, TILE_WIDTH // 2), interpolation=cv2.INTER_NEAREST)
            )
        rows.append(
            ([f"channel {k}", f"max {top:.3g}", f"weight {float(result.weights[:, k].mean()):+.3g}"], tiles)
        )
    return grid(rows, [f"{t:.2f} s" for t in result.times])


def importance_png(result) -> np.ndarray:
    """The video views: each frame's weight in the decision (bars), and the path of the CAM's peak
    across the window, raw and smoothed in time (does attention jump?)."""
    t = len(result.frames)
    thumbs = [tile(im, width=TILE_WIDTH // 2) for im in result.images]
    strip = np.hstack(thumbs)
    bars = np.full((110, strip.shape[1], 3), 255, np.uint8)
    values = result.importance
    top = float(np.abs(values).max()) or 1.0
    mid = 55
    cv2.line(bars, (0, mid), (bars.shape[1], mid), (150, 150, 150), 1)
    for i, v in enumerate(values):
        x = i * (TILE_WIDTH // 2)
        y = int(mid - 50 * v / top)
        cv2.rectangle(
            bars,
            (x + 8, min(mid, y)),
            (x + TILE_WIDTH // 2 - 8, max(mid, y)),
            (60, 160, 60) if v >= 0 else (60, 60, 220),
            -1,
        )
        cv2.putText(bars, f"{v:+.2g}", (x + 8, 105 if v >= 0 else 12), FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    panel = [
        text_block(
            ["frame importance: sum_k w[t,k] mean A[t,k]", "(green: pushes towards the class)"],
            strip.shape[1],
            40,
        ),
        strip,
        bars,
    ]
    views = []
    for name in (result.monitor_cam, "gradcam-smoothed"):
        if name not in result.maps:
            continue
        peaks, jumps = result.trajectory(name)
        canvas = resize_to_width(result.images[-1], TILE_WIDTH * 2)
        factor = canvas.shape[1] / result.images[-1].shape[1]
        points = [(int(x * factor), int(y * factor)) for x, y in peaks]
        for a, b in zip(points, points[1:]):
            cv2.line(canvas, a, b, (255, 255, 255), 2, cv2.LINE_AA)
        for i, p in enumerate(points):
            colour = tuple(
                int(c)
                for c in cv2.applyColorMap(
                    np.array([[int(255 * i / max(t - 1, 1))]], np.uint8), cv2.COLORMAP_JET
                )[0, 0]
            )
            cv2.circle(canvas, p, 6, colour, -1, cv2.LINE_AA)
            cv2.putText(canvas, str(i), (p[0] + 7, p[1] - 4), FONT, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        title = "smoothed in time" if name == "gradcam-smoothed" else f"{name} peak path"
        views.append(
            np.vstack(
                [
                    text_block(
                        [title, f"mean jump {np.mean(jumps[1:]) if t > 1 else 0:.2f} of diagonal"],
                        canvas.shape[1],
                        40,
                    ),
                    canvas,
                ]
            )
        )
    if views:
        height = max(v.shape[0] for v in views)
        row = np.hstack(
            [
                cv2.copyMakeBorder(
                    v, 0, height - v.shape[0], 0, 6, cv2.BORDER_CONSTANT, value=(255, 255, 255)
                )
                for v in views
            ]
        )
        width = max(row.shape[1], strip.shape[1])
        panel = [
            cv2.copyMakeBorder(p, 0, 0, 0, width - p.shape[1], cv2.BORDER_CONSTANT, value=(255, 255, 255))
            for p in panel + [row]
        ]
    return np.vstack(panel)


def gallery_png(
    images: list[np.ndarray], captions: list[str], cell: int, title: str, columns: int = 8
) -> np.ndarray:
    """Small images (filters, activation-maximisation frames) upscaled to cells, captioned."""
    tiles = []
    for image, caption in zip(images, captions):
        big = cv2.resize(image, (cell, cell), interpolation=cv2.INTER_NEAREST)
        tiles.append(np.vstack([big, text_block([caption], cell, 22, 0.38)]))
    while len(tiles) % columns:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [
        np.hstack(
            [
                cv2.copyMakeBorder(t, 3, 3, 3, 3, cv2.BORDER_CONSTANT, value=(255, 255, 255))
                for t in tiles[i : i + columns]
            ]
        )
        for i in range(0, len(tiles), columns)
    ]
    body = np.vstack(rows)
    return np.vstack([text_block([title], body.shape[1], 28, 0.5), body])


def compare_png(rows: list[dict], classes_of: dict[str, tuple[str, ...]]) -> np.ndarray:
    """The same moment explained by several bundles: one row of Grad-CAMs per bundle."""
    drawn, width = [], 0
    for row in rows:
        if "error" in row:
            continue
        r = row["explanation"]
        classes = classes_of[row["name"]]
        maps = r.maps[r.monitor_cam]
        scale = float(maps.max())
        top = int(np.argmax(r.probs))
        labels = [
            row["name"][:20],
            f"{classes[top]} {float(r.probs[top]):.2f}",
            f"{r.monitor_cam} of {classes[r.target]}",
        ]
        drawn.append((labels, [tile(im, m, scale) for im, m in zip(r.images, maps)]))
        width = max(width, len(drawn[-1][1]))
    th = max(t.shape[0] for _, tiles in drawn for t in tiles)
    blank = np.full((th, TILE_WIDTH, 3), 255, np.uint8)
    padded = [
        (
            labels,
            [
                cv2.copyMakeBorder(t, 0, th - t.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
                for t in tiles
            ]
            + [blank] * (width - len(tiles)),
        )
        for labels, tiles in drawn
    ]
    return grid(padded, [f"frame {i + 1}" for i in range(width)])


def annotated_frames(
    result, classes: tuple[str, ...], camera: str, fps: float, own_maps: np.ndarray | None = None
) -> list[np.ndarray]:
    """The window's frames as the monitor would draw them (heatmap, contours, panel); own_maps: the
    bundle's map when the report's methods left it out."""
    maps = result.maps[result.monitor_cam] if own_maps is None else own_maps
    scale = float(maps.max())
    frames = []
    for image, cam in zip(result.images, maps):
        out = image.copy()
        unit = unit_cam(cam, scale, out.shape[:2])
        draw_heatmap(out, unit, alpha=0.4)
        draw_contours(out, unit, LEVELS)
        draw_panel(
            out,
            Panel(
                camera,
                classes,
                result.probs,
                classes[result.target],
                CAM_DEFINITIONS[result.monitor_cam],
                fps=fps,
            ),
        )
        frames.append(out)
    return frames


class VideoFile:
    """An MP4 written frame by frame (opened on the first frame, which sets its size), so a long
    clip's every window never sits in memory."""

    def __init__(self, path: Path, fps: float):
        self.path, self.fps, self.writer, self.size = path, fps, None, None

    def write(self, frames: list[np.ndarray]) -> None:
        for frame in frames:
            if self.writer is None:
                self.size = (frame.shape[1], frame.shape[0])
                self.writer = cv2.VideoWriter(
                    str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size
                )
                if not self.writer.isOpened():
                    raise OSError(f"{self.path}: cannot open a video writer (mp4v)")
            self.writer.write(
                frame if (frame.shape[1], frame.shape[0]) == self.size else cv2.resize(frame, self.size)
            )

    def close(self) -> bool:
        """True if anything was written."""
        if self.writer is None:
            return False
        self.writer.release()
        return True


def window_record(result, classes: tuple[str, ...]) -> dict:
    """The per-frame numbers of one window, for the JSON."""
    methods = {}
    for name in result.maps:
        up = result.upsampled(name)
        peaks, jumps = fidelity.trajectory(up)
        methods[name] = {
            "peak_xy": [list(p) for p in peaks],
            "peak_jump": [round(j, 4) for j in jumps],
            "max": [round(float(m.max()), 6) for m in result.maps[name]],
        }
        if name in result.pointing:
            methods[name]["pointing"] = result.pointing[name].summary()
    return {
        "window": result.index,
        "frames": result.frames,
        "times_s": [round(t, 3) for t in result.times],
        "probs": {c: round(float(p), 4) for c, p in zip(classes, result.probs)},
        "predicted": classes[int(np.argmax(result.probs))],
        "explained_class": classes[result.target],
        "frame_importance": [round(float(v), 6) for v in result.importance],
        "ground_truth_boxes": result.boxes,
        "methods": methods,
    }


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def write_html(out: Path, title: str, sections: list[dict], files: list[str]) -> Path:
    """One self-contained page (pictures inlined) that also links every file it was made from."""
    esc = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;margin:24px;max-width:1400px}img{max-width:100%;"
        "border:1px solid #ccc}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
        ".why{color:#444;font-size:90%}.answer{font-size:120%;max-width:60em}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    for section in sections:
        parts.append(f"<h2>{esc(section['heading'])}</h2>")
        for paragraph in section.get("text", []):
            parts.append(f"<p class='{'answer' if section.get('plain') else 'why'}'>{esc(paragraph)}</p>")
        for table in section.get("tables", []):
            head, *body = table
            parts.append("<p><table><tr>" + "".join(f"<th>{esc(str(h))}</th>" for h in head) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>" for row in body]
            parts.append("</table></p>")
        for name in section.get("images", []):
            parts.append(
                f"<p><a href='{esc(name)}'><img src='{data_uri(out / name)}' alt='{esc(name)}'></a></p>"
            )
    parts.append(
        "<h2>Files</h2><ul>" + "".join(f"<li><a href='{esc(f)}'>{esc(f)}</a></li>" for f in files) + "</ul>"
    )
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts))
    return path


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2))
