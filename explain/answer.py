"""The plain-language answer an investigator reads first: what was decided, when, where the evidence
is, how sure, and which frames mattered, over the frames themselves, before any table for engineers.
Numbers are said in words and labelled (a percentage is the model's probability)."""

from __future__ import annotations

import cv2
import numpy as np

from streamer.alerts.words import certainty, where_in_words
from streamer.display import maps

# Width of each frame in the answer's picture: readable on a laptop, two frames a row.
THUMB_WIDTH = 560


def answer(result, classes: tuple[str, ...], clip_name: str, map_name: str, own_maps: np.ndarray) -> dict:
    """{"sentences": [...], "box": [x0, y0, x1, y1] or None, "frames": indices of the frames that
    mattered most}: the window's decision in words. own_maps: the bundle's map [T, h, w]."""
    decided = int(np.argmax(result.probs))
    explained = classes[result.target]
    size = result.images[0].shape[:2]
    up = np.stack([maps.upsample(m, size) for m in own_maps])
    regions = maps.strongest_regions(up.sum(axis=0))
    box = regions[0]["box"] if regions else None
    order = np.argsort(-result.importance)
    mattered = sorted(int(i) for i in order[:2] if result.importance[i] > 0)
    sentences = [
        f"Vigil judged this moment in {clip_name} as {classes[decided].upper()}: "
        f"{certainty(float(result.probs[decided]))}.",
        f"When: from {result.times[0]:.1f} s to {result.times[-1]:.1f} s of the video "
        f"({len(result.frames)} frames looked at, frames {result.frames[0]} to {result.frames[-1]}).",
    ]
    if box is not None:
        sentences.append(
            f"Where: the evidence for {explained} is strongest in {where_in_words(box, size)} "
            "(the white box; the heat shows where the model looked, red strongest), from the bundle's "
            f"own map ({map_name}), the one the live monitor draws."
        )
    else:
        sentences.append(
            f"Where: the model's map for {explained} is empty on these frames: no place stands out."
        )
    if mattered:
        times = " and ".join(f"{result.times[i]:.1f} s" for i in mattered)
        sentences.append(
            f"Which frames mattered: the frames at {times} pushed the decision most (marked below)."
        )
    if classes[decided] != explained:
        sentences.append(
            f"The heat explains {explained}, not the decision ({classes[decided]}): it was asked for."
        )
    return {"sentences": sentences, "box": box, "frames": mattered}


def answer_picture(annotated: list[np.ndarray], times: list[float], said: dict) -> np.ndarray:
    """The window's frames as the monitor draws them, two a row at a readable size, each with its
    time; the evidence box in white, and the frames that mattered framed in yellow."""
    tiles = []
    for i, frame in enumerate(annotated):
        scale = THUMB_WIDTH / frame.shape[1]
        tile = cv2.resize(frame, (THUMB_WIDTH, int(frame.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        if said["box"] is not None:
            x0, y0, x1, y1 = (int(v * scale) for v in said["box"])
            cv2.rectangle(tile, (x0, y0), (x1, y1), (255, 255, 255), 2, cv2.LINE_AA)
        label = f"{times[i]:.1f} s" + ("  mattered most" if i in said["frames"] else "")
        cv2.rectangle(tile, (0, tile.shape[0] - 30), (tile.shape[1], tile.shape[0]), (0, 0, 0), -1)
        cv2.putText(
            tile,
            label,
            (8, tile.shape[0] - 9),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.65,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
        border = (0, 220, 255) if i in said["frames"] else (255, 255, 255)
        tiles.append(cv2.copyMakeBorder(tile, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=border))
    if len(tiles) % 2:
        tiles.append(np.full_like(tiles[0], 255))
    return np.vstack([np.hstack(tiles[i : i + 2]) for i in range(0, len(tiles), 2)])
