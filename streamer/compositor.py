"""Compositor (the `overlay` thread): each displayed frame gets the CAM of its own analysed frame,
matched by sequence number, drawn after a short delay; it also writes alert snapshots and clips."""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer import overlay
from streamer.config import OverlayConfig
from streamer.ring import FrameRing
from streamer.types import Analysis, Frame

logger = logging.getLogger(__name__)
KEEP_ANALYSED = 256


@dataclass
class Evidence:
    """An alert waiting for its snapshot (the decision's newest frame) and its clip."""

    snapshot: Path
    clip: Path
    newest_seq: int
    until: float            # capture time after which the clip ends (post-roll)
    writer: cv2.VideoWriter | None = None
    snapped: bool = False


class CameraView:
    """What the compositor knows of one camera: CAMs by frame, the latest decision, recent frames."""

    def __init__(self, name: str, preroll_frames: int):
        self.name = name
        self.pending: deque[Frame] = deque()
        self.seqs: list[int] = []                 # analysed frames with a CAM, ascending
        self.cams: dict[int, tuple[np.ndarray, float, int]] = {}  # seq -> (cam, scale, class)
        self.analysis: Analysis | None = None
        self.alert_text: str | None = None
        self.alert_until = 0.0
        self.recent: deque[np.ndarray] = deque(maxlen=max(1, preroll_frames))
        self.evidence: list[Evidence] = []
        self.shown = deque(maxlen=30)             # display times, for the fps readout
        self.latest: np.ndarray | None = None

    def store(self, analysis: Analysis, classes: tuple[str, ...]) -> None:
        # One strength for the whole window: colours compare across its frames, and a weak
        # decision draws faint maps. Scaled by the explained class's probability.
        scale = float(analysis.cams.max()) / max(float(analysis.probs[analysis.explained]), 1e-6)
        for seq, cam in zip(analysis.seqs, analysis.cams):
            if seq not in self.cams:
                bisect.insort(self.seqs, seq)
            self.cams[seq] = (cam, scale, analysis.explained)   # newest decision wins
        while len(self.seqs) > KEEP_ANALYSED:
            self.cams.pop(self.seqs.pop(0), None)
        self.analysis = analysis

    def cam_for(self, seq: int):
        """The CAM of the newest analysed frame at or before this frame."""
        i = bisect.bisect_right(self.seqs, seq)
        return self.cams[self.seqs[i - 1]] if i else None


# A frame this much later than its slot on screen is not drawn: when drawing falls behind (more
# cameras than the cores can draw), skipping keeps the guard's view live and the queue of frames
# waiting to be drawn bounded, instead of drifting ever later and growing by gigabytes.
MAX_DISPLAY_LAG_S = 0.5


class Compositor(threading.Thread):
    def __init__(self, rings: dict[str, FrameRing], classes: tuple[str, ...], config: OverlayConfig,
                 stop: threading.Event, delay_s: float, display_fps: float = 25.0, pre_roll_s: float = 3.0,
                 writer_path: Path | None = None, on_late: Callable[[str, int], None] = lambda c, n: None):
        super().__init__(name="overlay", daemon=True)
        self.rings, self.classes, self.config, self.stop_event = rings, classes, config, stop
        self.delay = delay_s
        self.fps = display_fps
        self.views = {name: CameraView(name, int(pre_roll_s * display_fps)) for name in rings}
        self.toggles = overlay.Toggles(config.heatmap, config.contours)
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._frame_id = 0
        self.writer_path = writer_path
        self._writer: cv2.VideoWriter | None = None
        self.draw_seconds: deque[float] = deque(maxlen=500)
        self.on_late = on_late      # (camera, frames skipped because drawing fell behind)

    # called from the inference thread
    def submit(self, analysis: Analysis) -> None:
        with self._lock:
            self.views[analysis.camera].store(analysis, self.classes)

    def raise_alert(self, camera: str, label: str, newest_seq: int, newest_ts: float, post_roll_s: float,
                    snapshot: Path, clip: Path) -> None:
        with self._lock:
            view = self.views[camera]
            view.alert_text, view.alert_until = label, time.monotonic() + max(5.0, post_roll_s)
            view.evidence.append(Evidence(snapshot, clip, newest_seq, newest_ts + post_roll_s))

    # called from the main thread
    def latest(self) -> tuple[int, np.ndarray | None]:
        with self._lock:
            return self._frame_id, self._frame

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                if not self._tick(time.monotonic()):
                    self.stop_event.wait(0.005)
        finally:
            self.close()

    def _tick(self, now: float) -> bool:
        drew = False
        for name, ring in self.rings.items():
            view = self.views[name]
            view.pending.extend(ring.drain())
            late = 0
            while view.pending and view.pending[0].ts < now - self.delay - MAX_DISPLAY_LAG_S:
                view.pending.popleft()
                late += 1
            if late:
                self.on_late(name, late)
            # Hold frames back by `delay`, so that their own CAM has arrived when they are shown.
            while view.pending and view.pending[0].ts <= now - self.delay:
                frame = view.pending.popleft()
                if not self.toggles.paused:
                    self._draw(view, frame, now)
                    drew = True
        if drew:
            picture = overlay.grid([v.latest for v in self.views.values() if v.latest is not None])
            with self._lock:
                self._frame, self._frame_id = picture, self._frame_id + 1
            self._write(picture)
        return drew

    def _draw(self, view: CameraView, frame: Frame, now: float) -> None:
        started = time.perf_counter()
        image = frame.image.copy()
        with self._lock:
            match = view.cam_for(frame.seq)
            analysis = view.analysis
            alert = view.alert_text if now < view.alert_until else None
        if match is not None and (self.toggles.heatmap or self.toggles.contours):
            cam, scale, _ = match
            unit = overlay.unit_cam(cam, scale, image.shape[:2])
            if self.toggles.heatmap:
                overlay.draw_heatmap(image, unit, self.config.heatmap_alpha)
            if self.toggles.contours:
                overlay.draw_contours(image, unit, self.config.contour_levels)
        view.shown.append(now)
        fps = (len(view.shown) - 1) / (view.shown[-1] - view.shown[0]) if len(view.shown) > 1 and view.shown[-1] > view.shown[0] else 0.0
        overlay.draw_panel(image, view.name, self.classes, analysis.probs if analysis else None,
                           self.classes[match[2]] if match else None, alert, fps,
                           analysis.latency if analysis else None)
        self.draw_seconds.append(time.perf_counter() - started)
        view.latest = image
        self._evidence(view, frame, image)
        view.recent.append(image)

    def _evidence(self, view: CameraView, frame: Frame, image: np.ndarray) -> None:
        for ev in list(view.evidence):
            if not ev.snapped and frame.seq >= ev.newest_seq:
                cv2.imwrite(str(ev.snapshot), image)
                ev.snapped = True
            if ev.writer is None:
                h, w = image.shape[:2]
                ev.writer = cv2.VideoWriter(str(ev.clip), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
                for old in view.recent:           # pre-roll
                    ev.writer.write(old)
            ev.writer.write(image)
            if frame.ts >= ev.until and ev.snapped:
                ev.writer.release()
                view.evidence.remove(ev)
                logger.info("%s: alert clip written: %s", view.name, ev.clip.name)

    def _write(self, picture: np.ndarray) -> None:
        if self.writer_path is None:
            return
        if self._writer is None:
            self._writer_size = picture.shape[:2]
            h, w = self._writer_size
            self._writer = cv2.VideoWriter(str(self.writer_path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        if picture.shape[:2] == self._writer_size:   # the grid grows as cameras come up: keep one size
            self._writer.write(picture)

    def snapshot(self, directory: Path) -> Path | None:
        _, picture = self.latest()
        if picture is None:
            return None
        path = directory / time.strftime("snapshot-%Y%m%dT%H%M%S.jpg", time.gmtime())
        cv2.imwrite(str(path), picture)
        return path

    def close(self) -> None:
        """Finish open clips and the output video: a stopped monitor leaves playable files."""
        for view in self.views.values():
            for ev in view.evidence:
                if ev.writer is not None:
                    ev.writer.release()
            view.evidence.clear()
        if self._writer is not None:
            self._writer.release()
            self._writer = None
