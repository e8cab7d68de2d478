"""Camera frame -> model input: the one resize and the one input coding that the trainer, the
evaluator, the explainer and the monitor share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# How a bundle's frames enter its backbone (the manifest's "input").
BGR_INPUT = "bgr"
MOTION_INPUT = "motion"
INPUT_CODINGS = {
    BGR_INPUT: "each frame as the camera shows it",
    MOTION_INPUT: "each frame in grey, its change since the previous sampled frame, and that frame",
}
# The change channel is 128 + MOTION_GAIN * (now - before): most of a person's movement is a few
# grey levels, and x2 keeps it clear of the 8-bit rounding without clipping much.
MOTION_GAIN = 2


def to_model_input(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Any BGR, BGRA or greyscale frame -> uint8 BGR [H, W, 3] at the model's (H, W)."""
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def motion_coded(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Two uint8 BGR frames at the model's size -> uint8 [H, W, 3]: grey now, 128 + gain x its
    change since before, grey before. The backbone then sees movement in a single frame's input,
    so a frame's activations (and its CAM) answer "what moved here", which a fight is made of; and
    the per-frame cache still holds, since a frame's predecessor never changes."""
    grey_now = cv2.cvtColor(now, cv2.COLOR_BGR2GRAY)
    grey_before = cv2.cvtColor(before, cv2.COLOR_BGR2GRAY)
    change = 128 + MOTION_GAIN * (grey_now.astype(np.int16) - grey_before.astype(np.int16))
    return np.dstack([grey_now, np.clip(change, 0, 255).astype(np.uint8), grey_before])


@dataclass(frozen=True)
class ModelInput:
    """A bundle's input: its frame size, its coding, and the rate its frames are sampled at.

    With the motion coding each frame is paired with the frame one sample period earlier. Read from
    a file that is frame `previous(index)`; in the monitor, the camera's previous sampled frame.
    """

    size: tuple[int, int]
    coding: str = BGR_INPUT
    sample_fps: float = 5.0

    def __post_init__(self):
        if self.coding not in INPUT_CODINGS:
            raise ValueError(f"input: expected one of {list(INPUT_CODINGS)}, got {self.coding!r}")

    @property
    def uses_motion(self) -> bool:
        return self.coding == MOTION_INPUT

    def previous(self, index: int, native_fps: float) -> int:
        """The frame number one sample period before `index` (the first frame is its own)."""
        step = max(1, int(round(max(native_fps, 1e-6) / self.sample_fps)))
        return max(0, index - step)

    def sources(self, indices: Sequence[int], native_fps: float) -> list[int]:
        """The frame numbers that `encode` needs for these frames: the frames, then (motion) each
        one's predecessor."""
        indices = list(indices)
        if not self.uses_motion:
            return indices
        return indices + [self.previous(f, native_fps) for f in indices]

    def encode(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The frames named by `sources` (any size, BGR) -> uint8 [N, H, W, 3], the backbone's input."""
        if not self.uses_motion:
            return np.stack([to_model_input(f, self.size) for f in images])
        half = len(images) // 2
        return np.stack([self.encode_frame(now, before) for now, before in zip(images[:half], images[half:])])

    def encode_frame(self, frame: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        """One frame and the one before it (None: none yet; the frame stands still) -> [H, W, 3]."""
        now = to_model_input(frame, self.size)
        if not self.uses_motion:
            return now
        return motion_coded(now, now if previous is None else to_model_input(previous, self.size))


def sample_indices(native_fps: float, sample_fps: float, start: int, count: int) -> list[int]:
    """Frame numbers of `count` frames taken at sample_fps from a video at native_fps."""
    step = max(native_fps, 1e-6) / sample_fps
    return [start + int(round(k * step)) for k in range(count)]
