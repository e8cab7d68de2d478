"""Each camera's annotated picture as JPEG for the browsers: encoded at most `fps` times a second
and once for every viewer, at a bounded width, on the console's threads (never the compositor's).
A viewer that reads slowly is simply sent the newest picture when it is ready for one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from streamer.display import drawing

JPEG_QUALITY = 75
PLACEHOLDER_SIZE = (640, 360)


class LiveFeed:
    """picture(camera) -> (frame id, annotated tile) or None; status(camera) -> why there is none."""

    def __init__(
        self,
        cameras: list[str],
        picture: Callable[[str], tuple[int, np.ndarray] | None],
        status: Callable[[str], str],
        fps: float,
        width: int,
    ):
        self.cameras, self.picture, self.status = cameras, picture, status
        self.period, self.width = 1.0 / fps, width
        # One lock a camera: two cameras encode at once, one camera's picture is encoded once.
        self._locks = {camera: threading.Lock() for camera in cameras}
        self._cache: dict[str, tuple[int, float, bytes]] = {}  # camera -> (frame id, encoded at, jpeg)

    def jpeg(self, camera: str) -> tuple[int, bytes]:
        """(frame id, JPEG) of the camera's newest picture; the cached one while it is younger than
        one period; a 'no picture' card (id -1) while the camera has none."""
        now = time.monotonic()
        with self._locks[camera]:
            cached = self._cache.get(camera)
            if cached is not None and now - cached[1] < self.period:
                return cached[0], cached[2]
            got = self.picture(camera)
            if got is None:
                card = drawing.no_signal(*PLACEHOLDER_SIZE, camera, self.status(camera))
                return -1, _encode(card)
            if cached is not None and cached[0] == got[0]:
                return cached[0], cached[2]
            data = _encode(_bounded(got[1], self.width))
            self._cache[camera] = (got[0], now, data)
            return got[0], data


def _bounded(image: np.ndarray, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    if w <= width:
        return image
    return cv2.resize(image, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)


def _encode(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()
