"""A contact sheet of a data set's explanations: one tile per clip, its most suspicious window's
evidence frame with that window's map, as the monitor would raise it. A person can then judge at a
glance, clip after clip, whether the heat lands on the people doing it: on real footage there are no
boxes to score it against.

Each tile: the clip's name and true class, the score the bundle gave it (its windows' mean
probability of not being normal, the clip-level score of `vigil evaluate`), the class the map
explains and that window's probability; its caption is green when the clip-level decision is
right, red when wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from evaluation.dataset import Clip
from streamer.config import OverlayConfig
from streamer.display import drawing, maps
from streamer.inference.bundle import Bundle

TILE_WIDTH = 240
CAPTION_HEIGHT = 34
RIGHT, WRONG = (80, 200, 80), (60, 60, 230)


@dataclass
class ContactSheet:
    """Collects one tile per clip while `evaluate` runs (it already holds the frames and their
    cached activations), then writes them as one picture."""

    bundle: Bundle
    config: OverlayConfig = field(default_factory=OverlayConfig)
    tiles: list[tuple[tuple, np.ndarray]] = field(default_factory=list)

    def add(
        self,
        clip: Clip,
        frames: dict[int, np.ndarray],
        windows: list[list[int]],
        activations: dict[int, np.ndarray],
        probs: np.ndarray,
    ) -> None:
        """The clip's tile: its most suspicious window, explained for that window's likeliest
        anomaly class, at its evidence frame."""
        m = self.bundle.manifest
        normal = m.classes.index(m.normal_class)
        anomaly = 1.0 - probs[:, normal]
        chosen = int(np.argmax(anomaly))
        others = [c for c in range(len(m.classes)) if c != normal]
        target = max(others, key=lambda c: probs[chosen, c])
        window = windows[chosen]
        result = self.bundle.head(np.stack([activations[f] for f in window]), target=target)
        k = maps.strongest_frame(result.cam)
        image = frames[window[k]].copy()
        drawing.draw_explanation(
            image, result.cam[k], maps.window_scale(result.cam, result.probs[target]), self.config
        )
        score = float(anomaly.mean())
        right = (score >= 0.5) == (clip.label != normal)
        lines = (
            f"{clip.path.stem}  true {m.classes[clip.label]}",
            f"score {score:.2f}  map: {m.classes[target]} {result.probs[target]:.2f}",
        )
        self.tiles.append(
            ((clip.label, -score, clip.path.stem), tile(image, lines, RIGHT if right else WRONG))
        )

    def write(self, path: str | Path, columns: int = 6) -> Path:
        """All tiles, by true class then score (most suspicious first), as one PNG."""
        path = Path(path)
        ordered = [t for _, t in sorted(self.tiles, key=lambda item: item[0])]
        if not ordered:
            raise ValueError("contact sheet: no clip had a window")
        rows = math.ceil(len(ordered) / columns)
        h, w = ordered[0].shape[:2]
        sheet = np.zeros((rows * h, columns * w, 3), np.uint8)
        for i, picture in enumerate(ordered):
            y, x = divmod(i, columns)
            sheet[y * h : (y + 1) * h, x * w : (x + 1) * w] = picture
        encoded = cv2.imencode(".png", sheet)[1].tobytes()  # PNG whatever the name says
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encoded)
        except OSError as err:
            raise OSError(f"{path}: could not write the contact sheet ({err.strerror or err})") from None
        return path


def tile(image: np.ndarray, lines: tuple[str, ...], colour: tuple[int, int, int]) -> np.ndarray:
    """The frame letterboxed to the tile's width and a 4:3 frame, with two caption lines under it."""
    body = drawing.letterbox(image, TILE_WIDTH, TILE_WIDTH * 3 // 4)
    caption = np.zeros((CAPTION_HEIGHT, TILE_WIDTH, 3), np.uint8)
    for n, text in enumerate(lines):
        cv2.putText(caption, text, (4, 14 + 16 * n), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    framed = np.vstack([body, caption])
    cv2.rectangle(framed, (0, 0), (TILE_WIDTH - 1, framed.shape[0] - 1), (40, 40, 40), 1)
    return framed
