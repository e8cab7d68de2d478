"""Training report pictures drawn with OpenCV: a confusion matrix and training curves (no plotting
library)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
SERIES_COLORS = ((200, 120, 30), (40, 140, 240), (60, 170, 60), (50, 50, 220))


def confusion_png(matrix: list[list[int]], classes: list[str], path: Path, cell: int = 90) -> None:
    n = len(classes)
    left, top = 130, 60
    img = np.full((top + n * cell + 50, left + n * cell + 20, 3), 255, np.uint8)
    m = np.asarray(matrix, float)
    rows = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    for i in range(n):
        for j in range(n):
            shade = int(255 - 200 * rows[i, j])
            x, y = left + j * cell, top + i * cell
            cv2.rectangle(img, (x, y), (x + cell, y + cell), (255, shade, shade), -1)
            cv2.rectangle(img, (x, y), (x + cell, y + cell), (120, 120, 120), 1)
            color = (255, 255, 255) if rows[i, j] > 0.6 else (0, 0, 0)
            cv2.putText(img, str(int(m[i, j])), (x + 10, y + cell // 2 + 8), FONT, 0.7, color, 2, cv2.LINE_AA)
        cv2.putText(
            img, classes[i][:12], (5, top + i * cell + cell // 2 + 5), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA
        )
        cv2.putText(
            img, classes[i][:10], (left + i * cell + 5, top - 10), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA
        )
    cv2.putText(img, "true (rows) vs predicted (columns)", (5, 25), FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), img)


def curves_png(
    history: dict[str, list[float]],
    path: Path,
    panels=(("loss", "val_loss"), ("accuracy", "val_accuracy")),
    width: int = 420,
    height: int = 280,
) -> None:
    """One panel per group of series, epochs on x; each series labelled in its colour."""
    canvas = []
    for group in panels:
        img = np.full((height, width, 3), 255, np.uint8)
        series = {k: history[k] for k in group if history.get(k)}
        values = [v for s in series.values() for v in s]
        if values:
            lo, hi = min(values), max(values)
            hi = hi if hi > lo else lo + 1
            n = max(len(s) for s in series.values())
            x0, y0, x1, y1 = 50, 20, width - 15, height - 40
            cv2.rectangle(img, (x0, y0), (x1, y1), (180, 180, 180), 1)
            for k, (name, s) in enumerate(series.items()):
                pts = [
                    (int(x0 + (x1 - x0) * i / max(n - 1, 1)), int(y1 - (y1 - y0) * (v - lo) / (hi - lo)))
                    for i, v in enumerate(s)
                ]
                cv2.polylines(img, [np.array(pts, np.int32)], False, SERIES_COLORS[k % 4], 2, cv2.LINE_AA)
                cv2.putText(
                    img,
                    name,
                    (x0 + 5 + 150 * k, height - 12),
                    FONT,
                    0.45,
                    SERIES_COLORS[k % 4],
                    1,
                    cv2.LINE_AA,
                )
            cv2.putText(img, f"{hi:.3g}", (2, y0 + 5), FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.putText(img, f"{lo:.3g}", (2, y1), FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.putText(img, f"epochs 1..{n}", (x1 - 90, y1 + 15), FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        canvas.append(img)
    cv2.imwrite(str(path), np.hstack(canvas))
