"""Decode once, hand each consumer the size it needs: the capture thread's outlets.

A 720p frame shown in a 480x270 grid cell is shrunk here, once, on the camera's own thread; the
full-size picture that alert clips may need is kept JPEG-compressed beside it (about 0.1 MB instead
of 2.7 MB), so the frames held back for display and the clips' pre-roll stay small.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer.capture.ring import FrameRing
from streamer.display.drawing import fit, shrink


@dataclass(frozen=True)
class Outlet:
    """A ring, and the form its consumer takes frames in."""

    ring: FrameRing
    box: tuple[int, int] | None = None  # (w, h) the frame is shown within; None: as decoded
    keep_quality: int = 0  # JPEG quality of the full-size copy kept with each frame; 0: none


def fitted(image: np.ndarray, box: tuple[int, int] | None) -> np.ndarray:
    """The image shrunk to fit `box` (never enlarged: drawing at the size shown, not above)."""
    if box is None:
        return image
    h, w = image.shape[:2]
    width, height = fit((w, h), box)
    if width >= w or height >= h:
        return image
    return shrink(image, width, height)


def compress(image: np.ndarray, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def decompress(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
