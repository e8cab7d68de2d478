"""Does a map show what the model used? A box-free test, for footage without ground truth: remove
the pixels the map ranks highest and follow the class probability (deletion, Petsiuk et al. 2018),
beside a centred rectangle and random pixels of the same area.

Removing is blurring (the pixels keep their colour statistics; a black hole would be a new object).
One mask per window, the same on every frame: a mask that moved from frame to frame would itself be
motion, and a model that reads motion would see it (per-frame masks made the fight probability rise).
The window's mask ranks pixels by the map summed over its frames, each frame's map upsampled over the
frame it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

# Shares of the frame removed: the curve's points; DROP_AT is the single number reported.
FRACTIONS = (0.05, 0.1, 0.2, 0.4)
DROP_AT = 0.2
MASKS = ("map", "centre", "random")


def map_mask(maps_up: np.ndarray, fraction: float) -> np.ndarray:
    """bool [H, W]: the `fraction` of pixels with the most map over the window's frames [T, H, W]."""
    total = maps_up.sum(axis=0)
    count = int(round(fraction * total.size))
    mask = np.zeros(total.size, bool)
    if count:
        # A stable sort: ties (flat map areas) are broken by position, the same every run.
        mask[np.argsort(-total.ravel(), kind="stable")[:count]] = True
    return mask.reshape(total.shape)


def centre_mask(size: tuple[int, int], fraction: float) -> np.ndarray:
    """bool [H, W]: a centred rectangle of the frame's aspect covering `fraction` of it."""
    h, w = size
    side = np.sqrt(fraction)
    rh, rw = int(round(h * side)), int(round(w * side))
    mask = np.zeros(size, bool)
    top, left = (h - rh) // 2, (w - rw) // 2
    mask[top : top + rh, left : left + rw] = True
    return mask


def random_mask(size: tuple[int, int], fraction: float, rng: np.random.Generator) -> np.ndarray:
    """bool [H, W]: `fraction` of the pixels, uniformly at random."""
    mask = np.zeros(size[0] * size[1], bool)
    mask[rng.choice(mask.size, int(round(fraction * mask.size)), replace=False)] = True
    return mask.reshape(size)


def blurred(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Each frame blurred enough to erase a person (sigma 1/30 of the frame's diagonal)."""
    out = []
    for frame in frames:
        sigma = np.hypot(*frame.shape[:2]) / 30
        out.append(cv2.GaussianBlur(frame, (0, 0), sigma))
    return out


def remove(frames: list[np.ndarray], soft: list[np.ndarray], mask: np.ndarray) -> list[np.ndarray]:
    """The frames with the masked pixels taken from their blurred copies."""
    return [np.where(mask[..., None], s, f) for f, s in zip(frames, soft)]


@dataclass
class Deletion:
    """Running sums, per mask kind and fraction, of the class probability after removal, and of the
    windows' own probabilities. Absolute probabilities: a ratio to a small base would explode."""

    windows: int = 0
    base: float = 0.0
    after: dict[str, np.ndarray] = field(default_factory=lambda: {k: np.zeros(len(FRACTIONS)) for k in MASKS})

    def add(self, result: dict) -> None:
        """One window's `deletion(...)` result."""
        self.windows += 1
        self.base += result["base"]
        for kind in MASKS:
            self.after[kind] += np.asarray(result[kind])

    def summary(self) -> dict:
        """Per mask: the mean drop of the probability with DROP_AT of the frame removed, and the
        area under the probability-after curve over FRACTIONS (lower: the mask held more of what
        the model used); the windows' mean probability before removal beside them."""
        n = max(self.windows, 1)
        at = FRACTIONS.index(DROP_AT)
        out: dict = {"windows": self.windows, "probability": round(self.base / n, 4)}
        for kind in MASKS:
            curve = self.after[kind] / n
            out[f"{kind}_drop"] = round(float(self.base / n - curve[at]), 4)
            out[f"{kind}_auc"] = round(
                float(np.trapezoid(curve, FRACTIONS) / (FRACTIONS[-1] - FRACTIONS[0])), 4
            )
        return out


def deletion(
    probability: Callable[[list[np.ndarray]], float],
    frames: list[np.ndarray],
    maps_up: np.ndarray,
    rng: np.random.Generator,
) -> dict:
    """{"base": the window's probability, mask kind: [probability after removing each FRACTION]}
    for one window: the native frames its input is made of (with a motion coding, their
    predecessors too, masked alike), their upsampled maps [T, H, W], and `probability(frames)` of
    the class explained."""
    soft = blurred(frames)
    size = frames[0].shape[:2]
    result: dict = {"base": probability(frames), **{kind: [] for kind in MASKS}}
    for fraction in FRACTIONS:
        masks = {
            "map": map_mask(maps_up, fraction),
            "centre": centre_mask(size, fraction),
            "random": random_mask(size, fraction, rng),
        }
        for kind, mask in masks.items():
            result[kind].append(probability(remove(frames, soft, mask)))
    return result
