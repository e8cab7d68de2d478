"""A small analysed window (three 64x48 grey frames, a map peaking top right) from which real alerts
are built, for the alert and sink tests and the delivery benchmark."""

from __future__ import annotations

import numpy as np

from streamer.types import Analysis


def analysis_of(camera: str = "gate", newest_wall: float = 1_700_000_000.4) -> Analysis:
    maps = np.zeros((3, 4, 4), np.float32)
    maps[-1, 1, 2] = 1.0
    return Analysis(
        camera,
        (7, 8, 9),
        (1.0, 1.2, 1.4),
        np.array([0.1, 0.8, 0.1], np.float32),
        maps,
        1,
        1.5,
        (newest_wall - 0.4, newest_wall - 0.2, newest_wall),
        tuple(np.full((48, 64, 3), 90, np.uint8) for _ in range(3)),
    )
