"""Which of a camera's streams feeds which consumer.

Most IP cameras send a low-resolution substream beside the main one. With a substream configured,
the analysis always reads it. In a grid the guard's tile is no larger than a substream, so it is
drawn from the substream too and the main stream is never decoded: one decode per camera, of the
small stream. A camera shown alone is drawn from its main stream, its frames matched to the
analysed ones by capture time.
"""

from __future__ import annotations

import logging
import threading

from streamer.capture.camera import CaptureMeasures, CaptureThread
from streamer.capture.outlets import Outlet
from streamer.config import CameraConfig, CaptureConfig

logger = logging.getLogger(__name__)


def capture_threads(
    settings: CaptureConfig,
    camera: CameraConfig,
    analysis: Outlet,
    display: Outlet,
    stop: threading.Event,
    measure: CaptureMeasures,
    alone: bool,
) -> list[CaptureThread]:
    """The camera's capture threads, the one feeding the display first. A thread that feeds the
    display is counted as the camera; an analysis-only one as '<name>:substream'."""
    if not camera.substream:
        return [CaptureThread(settings, camera, [analysis, display], stop, measure)]
    if not alone:
        logger.info(
            "%s: analysed and shown from its substream (in a grid the main stream is not decoded)",
            camera.name,
        )
        return [CaptureThread(settings, camera, [analysis, display], stop, measure, camera.substream)]
    logger.info("%s: analysed from its substream, shown from its main stream", camera.name)
    return [
        CaptureThread(settings, camera, [display], stop, measure),
        CaptureThread(
            settings, camera, [analysis], stop, measure, camera.substream, f"{camera.name}:substream"
        ),
    ]
