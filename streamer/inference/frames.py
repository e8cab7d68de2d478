"""Camera frame -> model input: the one resize the trainer, the evaluator and the monitor share."""

from __future__ import annotations

import cv2
import numpy as np


def to_model_input(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Any BGR, BGRA or greyscale frame -> uint8 BGR [H, W, 3] at the model's (H, W)."""
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def sample_indices(native_fps: float, sample_fps: float, start: int, count: int) -> list[int]:
    """Frame numbers of `count` frames taken at sample_fps from a video at native_fps."""
    step = max(native_fps, 1e-6) / sample_fps
    return [start + int(round(k * step)) for k in range(count)]
