"""CaptureThread: one camera -> rings, with reconnects (capped backoff), a stall watchdog and pacing."""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import cv2
import numpy as np

from streamer.capture.outlets import Outlet, compress, fitted
from streamer.capture.packets import KeptFrame
from streamer.capture.sources import OpenedSource, SourceError, open_source, source_kind
from streamer.config import CameraConfig, CaptureConfig
from streamer.redact import redact_url
from streamer.types import Frame

logger = logging.getLogger(__name__)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Greyscale or BGRA frames from odd cameras -> 3-channel BGR, so nothing downstream trips."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class CaptureMeasures(Protocol):
    """What a capture thread reports, from its own thread (streamer.metrics.Metrics is one)."""

    def frame_captured(self, camera: str) -> None: ...
    def frame_dropped(self, camera: str, reason: str, count: int = 1) -> None: ...
    def camera_state(self, camera: str, up: bool) -> None: ...
    def camera_reconnected(self, camera: str) -> None: ...


class CaptureThread(threading.Thread):
    """Reads one camera into its rings until stop is set; never raises, never blocks the others."""

    def __init__(
        self,
        settings: CaptureConfig,
        camera: CameraConfig,
        outlets: list[Outlet],
        stop: threading.Event,
        measure: CaptureMeasures,
        source: str | None = None,
        label: str | None = None,
    ):
        """source: what to read, the camera's main source by default (or its substream); label:
        its name in logs and metrics, the camera's by default (frames carry the camera's name)."""
        super().__init__(name=f"capture:{camera.name}", daemon=True)
        self.camera = camera
        self.source = source or camera.source
        self.label = label or camera.name
        self.settings = settings
        self.outlets = outlets
        self.stop_event = stop
        self.measure = measure
        self.up = False
        self.last_frame_at = time.monotonic()
        self.seq = 0
        self.reconnects = 0
        self.finished = False  # a file played to its end, or one that cannot be read: no retry
        self.failed = False  # finished without a single frame
        self.frames_delivered = 0
        self._last_detail: str | None = None

    def run(self) -> None:
        backoff = self.settings.reconnect_min_s
        first = True
        while not self.stop_event.is_set():
            try:
                source = open_source(self.source, self.settings)
            except SourceError as err:  # refused at start by preflight; never retried
                self._finish(f"{redact_url(self.source)}: {err}")
                return
            except OSError as err:
                if source_kind(self.source) == "file":  # a broken file stays broken: no retry
                    self._finish(str(err))
                    return
                self._set_up(False, str(err))
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, self.settings.reconnect_max_s)
                continue
            if not first:
                self.reconnects += 1
                self.measure.camera_reconnected(self.label)
            first = False
            backoff = self.settings.reconnect_min_s
            self._set_up(True, f"{source.kind} source at {source.fps:.1f} fps, decoded by {source.decoding}")
            try:
                reason = self._read(source)
            except Exception as err:  # a decoder fault must not end the camera for good
                reason = f"read failed: {err}"
            finally:
                source.reader.release()
            if source.kind == "file" and reason != "stopped":  # played to its end (or broken): done
                self._finish(reason if self.frames_delivered else f"{reason}: no frame could be decoded")
                return
            if reason == "stopped":
                logger.info("%s: camera closed (monitor stopping)", self.label)
                self.up = False
                return
            self._set_up(False, reason)
            self.stop_event.wait(backoff)

    def _read(self, source: OpenedSource) -> str:
        """Read until the source fails, stalls or ends; return why."""
        period = 1.0 / source.fps
        paced = source.kind == "file" and self.camera.realtime
        started, count = time.monotonic(), 0
        while not self.stop_event.is_set():
            decoded = source.reader.read()
            now = time.monotonic()
            if decoded is None:
                if source.kind == "file" and self.camera.loop:
                    source.reader.rewind()
                    decoded = source.reader.read()
                    started, count = time.monotonic(), 0
                if decoded is None:
                    return "end of file" if source.kind == "file" else "read failed"
            if now - self.last_frame_at > self.settings.stall_timeout_s and count > 0:
                return f"stalled: no frame for {now - self.last_frame_at:.1f} s"
            image, packets = decoded
            self._publish(as_bgr(image), packets)
            count += 1
            if paced:  # play a file at its own frame rate, as a camera would deliver it
                delay = started + count * period - time.monotonic()
                if delay > 0:
                    self.stop_event.wait(delay)
        return "stopped"

    def _finish(self, reason: str) -> None:
        """A file camera is done: played to its end (info), or never readable (a failure, warned)."""
        self.failed = self.frames_delivered == 0
        if self.failed:
            self._set_up(False, f"failed: {reason}")
        else:
            logger.info("%s: camera finished (%s, %d frames)", self.label, reason, self.frames_delivered)
            self.measure.camera_state(self.label, False)
            self.up = False
        self.finished = True

    def _publish(self, image: np.ndarray, packets: KeptFrame | None) -> None:
        """Hand the frame to each outlet at its size; where an outlet keeps the full frame, it gets
        the frame's packets, or else a JPEG of it (encoded once, whoever asks)."""
        self.frames_delivered += 1
        self.last_frame_at = time.monotonic()
        wall, kept = time.time(), {}
        for outlet in self.outlets:
            quality = outlet.keep_quality
            if quality and quality not in kept:
                kept[quality] = packets if packets is not None else compress(image, quality)
            frame = Frame(
                self.camera.name,
                self.seq,
                self.last_frame_at,
                fitted(image, outlet.box),
                wall,
                kept.get(quality),
            )
            if not outlet.ring.put(frame):
                self.measure.frame_dropped(self.label, outlet.ring.name)
        self.seq += 1
        self.measure.frame_captured(self.label)

    def _set_up(self, up: bool, detail: str) -> None:
        if up != self.up or (not up and detail != self._last_detail):
            # Logged once per change of state, not once per failed retry.
            log = logger.info if up else logger.warning
            log("%s: camera %s (%s)", self.label, "up" if up else "down", detail)
            self.measure.camera_state(self.label, up)
        self.up = up
        self._last_detail = detail
        if up:
            self.last_frame_at = time.monotonic()

    @property
    def status(self) -> str:
        """In a few words, for the tile of a camera without a picture: why there is none."""
        reason = (self._last_detail or "").rsplit(": ", 1)[-1]
        if self.failed:
            return f"failed: {reason}"
        if self.finished:
            return "ended"
        if self.up:
            return "live"
        if self.stop_event.is_set():
            return "stopped"
        if self._last_detail is None:
            return "connecting"
        return f"no signal: {reason}"

    def stalled(self) -> bool:
        """For the supervisor: a read can block inside FFmpeg; then this thread cannot say so itself."""
        return self.up and time.monotonic() - self.last_frame_at > self.settings.stall_timeout_s
