"""The heat a camera's picture shows, carried through time: each displayed frame's own map (0..1
of its window's strength) is blended into what was shown with a time constant, so the heat neither
blinks between analysed frames or windows nor vanishes at once when the evidence fades; it fades.
The paper notes that its model's attention jumps between frames; this is what a guard can follow.
Pure: tested without threads."""

from __future__ import annotations

import math

import numpy as np

# Below this (0..1) nothing is drawn: the heatmap's floor (drawing.draw_heatmap).
HEAT_FLOOR = 0.15


# Seconds for new evidence to take hold: quick, so heat appears with the event, not after it.
ATTACK_S = 0.08


class HeatTrail:
    """shown += (1 - exp(-dt / tau)) * (frame's map - shown) at each cell of the CAM, with tau
    ATTACK_S where the evidence grows and memory_s where it fades (a meter's attack and release):
    heat comes at once and leaves slowly. A memory of 0 shows each frame's own map alone."""

    def __init__(self, memory_s: float):
        self.memory_s = memory_s
        self.shown: np.ndarray | None = None
        self.at: float | None = None

    def update(self, unit: np.ndarray | None, ts: float) -> np.ndarray | None:
        """The map to draw on the frame captured at `ts`; `unit` is its own map, None when it has
        none yet (it fades what was shown)."""
        target = unit if unit is not None else (np.zeros_like(self.shown) if self.shown is not None else None)
        if target is None:
            return None
        if self.shown is None or self.shown.shape != target.shape or self.memory_s <= 0 or self.at is None:
            self.shown = target.astype(np.float32).copy()
        else:
            dt = max(0.0, ts - self.at)
            rise, fade = (
                1.0 - math.exp(-dt / min(ATTACK_S, self.memory_s)),
                1.0 - math.exp(-dt / self.memory_s),
            )
            self.shown += np.where(target > self.shown, rise, fade) * (target - self.shown)
        self.at = ts
        return self.shown


def peak_of(shown: np.ndarray | None) -> tuple[float, float] | None:
    """Where the heat is strongest, as (x, y) shares of the frame; None when no heat is drawn."""
    if shown is None or float(shown.max()) < HEAT_FLOOR:
        return None
    y, x = np.unravel_index(int(np.argmax(shown)), shown.shape)
    h, w = shown.shape
    return (x + 0.5) / w, (y + 0.5) / h
