"""Alert clips, drawn and encoded on a thread of their own.

An alert's pre-roll is drawn at full size from its held frames (the camera's packets, decoded again
from their keyframe, or JPEGs) when the alert fires: about 0.6 s of work for 3 s of 720p. On the
compositor's thread that would freeze every camera's picture at the moment the guard looks at it,
once per camera alerting. The compositor hands frames over here as
they come; the clip is written as <id>.recording.mp4, fsynced, renamed, and only then logged.

Beside it goes the same frames as captured, without heat or panel (<id>.raw.mp4): what the overlay
covers, for an investigator, and what a site's reviewed alerts become as training examples (a model
must not learn from its own drawing).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from streamer.alerts.log import RECORDING_SUFFIX, sync_folder
from streamer.capture.outlets import decompress
from streamer.capture.packets import KeptDecoder, KeptFrame
from streamer.config import OverlayConfig
from streamer.display import drawing

logger = logging.getLogger(__name__)
# (alert id, camera, class, clip path, frames, raw clip path)
ClipFinished = Callable[[str, str, str, Path, int, Path], None]
RAW_SUFFIX = ".raw.mp4"
# At a stop, what is still queued is written within this; a clip cut short stays .recording.mp4.
# With the threads' 1.5 s and the sinks' 3 s, a stop stays inside systemd's TimeoutStopSec of 10 s.
DRAIN_S = 5.0


@dataclass(frozen=True)
class Evidence:
    """What a drawn frame's evidence picture is made of: the frame at full size (as the camera's
    packets, or a JPEG: a few kB or 0.1 MB, not 2.7 MB), its heat and its panel. Drawn only for a clip."""

    picture: KeptFrame | bytes | np.ndarray
    heat: np.ndarray | None
    panel: drawing.Panel

    def image(self, decoder: KeptDecoder) -> np.ndarray | None:
        """The full-size frame as captured (a copy of its own); None if its packets no longer
        decode (a damaged stream)."""
        if isinstance(self.picture, KeptFrame):
            return decoder.picture(self.picture)
        if isinstance(self.picture, bytes):
            return decompress(self.picture)
        return self.picture.copy()

    def annotate(self, image: np.ndarray, config: OverlayConfig) -> np.ndarray:
        """The frame with the map (whatever the guard's keys) and the panel, drawn in place."""
        if self.heat is not None:
            drawing.draw_unit(image, self.heat, config)
        drawing.draw_panel(image, self.panel)
        return image


@dataclass
class Clip:
    """An alert's clip: its frames from the pre-roll to `until` (capture time: the post-roll)."""

    camera: str
    alert_id: str
    label: str
    path: Path  # the final name; recorded under <id>.recording.mp4 until finished
    until: float
    started: bool = False  # its pre-roll was handed over (compositor's side)
    writer: cv2.VideoWriter | None = field(default=None, repr=False)  # writer thread's side from here
    raw_writer: cv2.VideoWriter | None = field(default=None, repr=False)
    decoder: KeptDecoder = field(default_factory=KeptDecoder, repr=False)
    size: tuple[int, int] = (0, 0)
    frames: int = 0

    @property
    def recording(self) -> Path:
        return self.path.with_name(self.alert_id + RECORDING_SUFFIX)

    @property
    def raw_path(self) -> Path:
        return self.path.with_name(self.alert_id + RAW_SUFFIX)

    @property
    def raw_recording(self) -> Path:
        return self.path.with_name(self.alert_id + ".raw" + RECORDING_SUFFIX)


class ClipWriter(threading.Thread):
    """Writes clips in the order their frames were handed over; one thread for every camera."""

    def __init__(self, config: OverlayConfig, fps: float, finished: ClipFinished):
        super().__init__(name="clips", daemon=True)
        self.config, self.fps, self.finished = config, fps, finished
        self._jobs: queue.Queue = queue.Queue()
        self._closed = threading.Event()

    def add(self, clip: Clip, evidence: list[Evidence]) -> None:
        self._jobs.put(("frames", clip, evidence))

    def finish(self, clip: Clip) -> None:
        self._jobs.put(("finish", clip, None))

    def run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            kind, clip, evidence = job
            try:
                if kind == "frames":
                    self._write(clip, evidence)
                else:
                    self._finish(clip)
            except Exception:  # one clip's fault must not end the others
                logger.exception("%s: alert clip %s failed", clip.camera, clip.path.name)

    def close(self) -> None:
        """Write what is queued (bounded by DRAIN_S), then stop. Safe to call twice."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._jobs.put(None)
        if self.is_alive():
            self.join(timeout=DRAIN_S)
            if self.is_alive():
                logger.error("alert clips still being written after %.0f s: left unfinished", DRAIN_S)
        else:  # never started (a monitor stopped at once): write them here
            self.run()

    def _write(self, clip: Clip, evidence: list[Evidence]) -> None:
        for item in evidence:
            image = item.image(clip.decoder)
            if image is None:
                continue
            if clip.writer is None:
                h, w = image.shape[:2]
                clip.size = (w, h)
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                clip.writer = cv2.VideoWriter(str(clip.recording), fourcc, self.fps, (w, h))
                clip.raw_writer = cv2.VideoWriter(str(clip.raw_recording), fourcc, self.fps, (w, h))
            image = drawing.letterbox(image, *clip.size)
            clip.raw_writer.write(image)
            clip.writer.write(item.annotate(image.copy(), self.config))
            clip.frames += 1

    def _finish(self, clip: Clip) -> None:
        """Close the clip, give it its final name, and only then let it be logged."""
        if clip.writer is None:
            logger.warning("%s: alert clip %s has no frame to record", clip.camera, clip.path.name)
            return
        clip.writer.release()
        clip.raw_writer.release()
        clip.decoder = KeptDecoder()  # lets go of the packets it held
        try:
            for recording, final in ((clip.raw_recording, clip.raw_path), (clip.recording, clip.path)):
                fd = os.open(recording, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(recording, final)
            sync_folder(clip.path.parent)
        except OSError as err:
            logger.error("%s: alert clip %s not finished: %s", clip.camera, clip.path.name, err)
            return
        logger.info("%s: alert clip written: %s", clip.camera, clip.path.name)
        self.finished(clip.alert_id, clip.camera, clip.label, clip.path, clip.frames, clip.raw_path)
