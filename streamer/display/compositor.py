"""The compositor thread: each displayed frame gets the CAM of its own analysed frame,
matched by sequence number, drawn after a short delay, and laid out on a canvas of fixed size; it
also records alert clips. Pausing freezes the picture the guard sees, never the drawing: clips and
the annotated video go on."""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from streamer.capture.ring import FrameRing
from streamer.config import OverlayConfig
from streamer.display import drawing
from streamer.display.clips import Clip, ClipFinished, ClipWriter, Evidence
from streamer.display.trail import HeatTrail, peak_of
from streamer.types import Analysis, Frame

logger = logging.getLogger(__name__)
KEEP_ANALYSED = 256
# Seconds a notice ("snapshot saved: ...") stays on the picture.
NOTICE_S = 4.0
# The annotated video of several headless cameras: a grid on a 1080p canvas.
HEADLESS_CANVAS = (1920, 1080)


@dataclass
class CameraView:
    """What the compositor knows of one camera: CAMs by frame, the latest decision, recent frames."""

    name: str
    preroll_frames: int
    pending: deque[Frame] = field(default_factory=deque)
    stamps: list[float] = field(default_factory=list)  # capture times of analysed frames, ascending
    # capture time -> (cam, window's colour scale, class explained)
    maps: dict[float, tuple[np.ndarray, float, int]] = field(default_factory=dict)
    analysis: Analysis | None = None
    alert_text: str | None = None
    alert_until: float = 0.0
    recent: deque[Evidence] = field(default_factory=deque)  # the clips' pre-roll
    clips: list[Clip] = field(default_factory=list)
    shown: deque = field(default_factory=lambda: deque(maxlen=30))  # draw times, for the fps readout
    first_drawn: float | None = None
    last: tuple[Frame, float, np.ndarray | None] | None = None  # on screen: frame, when, its heat
    trail: HeatTrail = field(default_factory=lambda: HeatTrail(0.0))
    tile: np.ndarray | None = None
    live: tuple[int, np.ndarray] | None = None  # the newest tile drawn (paused or not): the web's view

    def store(self, analysis: Analysis) -> None:
        scale = analysis.map_scale
        for ts, cam in zip(analysis.stamps, analysis.maps):
            if ts not in self.maps:
                bisect.insort(self.stamps, ts)
            self.maps[ts] = (cam, scale, analysis.explained)  # newest decision wins
        while len(self.stamps) > KEEP_ANALYSED:
            self.maps.pop(self.stamps.pop(0), None)
        self.analysis = analysis

    def map_for(self, ts: float):
        """The CAM of the newest analysed frame captured at or before `ts`: the frame itself when
        one stream feeds both, the nearest earlier one when a substream is analysed."""
        i = bisect.bisect_right(self.stamps, ts)
        return self.maps[self.stamps[i - 1]] if i else None

    def fps(self) -> float:
        if len(self.shown) < 2 or self.shown[-1] <= self.shown[0]:
            return 0.0
        return (len(self.shown) - 1) / (self.shown[-1] - self.shown[0])


# A frame this much later than its slot on screen is not drawn: when drawing falls behind (more
# cameras than the cores can draw), skipping keeps the guard's view live and the queue of frames
# waiting to be drawn bounded, instead of drifting ever later and growing by gigabytes.
MAX_DISPLAY_LAG_S = 0.5
# How long a stopping compositor waits for the inference thread's last decision (a step in flight:
# milliseconds here, up to a request's timeout on an inference server).
UPSTREAM_GRACE_S = 5.0


class DisplayMeasures(Protocol):
    """What the compositor reports, from its own thread (streamer.metrics.Metrics is one)."""

    def frames_late(self, camera: str, count: int) -> None: ...
    def frame_drawn(self, seconds: float) -> None: ...
    def heat_shown(self, camera: str, seq: int, peak: tuple[float, float] | None) -> None: ...


class Compositor(threading.Thread):
    """canvas_size: (w, h) of the picture; None with one camera: its own frame size (the first).
    clip_finished is called once a clip has its final name, so that it can be logged."""

    def __init__(
        self,
        config: OverlayConfig,
        rings: dict[str, FrameRing],
        classes: tuple[str, ...],
        map_name: str,
        stop: threading.Event,
        delay_s: float,
        measure: DisplayMeasures,
        clip_finished: ClipFinished = lambda *clip: None,
        pre_roll_s: float = 3.0,
        display_fps: float = 25.0,
        writer_path: Path | None = None,
        canvas_size: tuple[int, int] | None = None,
        camera_status: Callable[[str], str] = lambda name: "connecting",
        inference_up: Callable[[], bool] = lambda: True,
        upstream_done: Callable[[], bool] = lambda: True,
    ):
        super().__init__(name="compositor", daemon=True)
        self.rings, self.classes, self.config, self.stop_event = rings, classes, config, stop
        self.delay = delay_s
        # A decision comes every `delay - 0.4` s or so: twice the hold-back and a second more without
        # one means analysis stalled (or a substream is down), and the panel says how old it is.
        self.overdue_s = 2 * delay_s + 1.0
        self.fps = display_fps
        self.map_name = map_name
        self.views = {name: CameraView(name, max(1, int(pre_roll_s * display_fps))) for name in rings}
        for view in self.views.values():
            view.recent = deque(maxlen=view.preroll_frames)
            view.trail = HeatTrail(config.heat_memory_s)
        self.toggles = drawing.Toggles(config.heatmap, config.contours)
        if canvas_size is None and len(rings) > 1:
            canvas_size = HEADLESS_CANVAS
        self.layout = drawing.Layout.grid(len(rings), *canvas_size) if canvas_size else None
        # Each camera's tile (w, h); None with one camera: it is drawn at its own size.
        self.tile_box: tuple[int, int] | None = self.layout.tiles[0][2:] if self.layout else None
        self._lock = threading.Lock()
        self._closing = threading.Lock()  # the thread's own end and shutdown may both close
        self._frame: np.ndarray | None = None
        self._frame_id = 0
        self._dirty = False  # toggles changed: redraw the (paused) picture
        self._notice: tuple[str, float] | None = None
        self._shown_notice: str | None = None
        self._stale = False  # tiles drawn since the picture was last laid out
        self._next_canvas = 0.0  # when the next picture may be laid out
        self._canvas_size: tuple[int, int] | None = None
        self.writer_path = writer_path
        self._writer: cv2.VideoWriter | None = None
        self.measure = measure
        self.clip_writer = ClipWriter(config, display_fps, clip_finished)
        self.camera_status = camera_status
        self.inference_up = inference_up  # False while the bundle's inference server is away
        # True once no decision can come any more (the inference thread ended): a decision made as
        # the monitor stops may still raise an alert, whose clip this thread must record.
        self.upstream_done = upstream_done
        # Set while a browser watches: tiles are then drawn during a guard's pause too, for the web.
        self.live_wanted = threading.Event()

    # ------------------------------------------------------------ from the inference thread
    def submit(self, analysis: Analysis) -> None:
        with self._lock:
            self.views[analysis.camera].store(analysis)

    def record_alert(
        self, camera: str, alert_id: str, label: str, newest_ts: float, post_roll_s: float, directory: Path
    ) -> None:
        """Show the alert banner and record its clip: the pre-roll held now, then frames up to
        `post_roll_s` after the decision's newest frame."""
        with self._lock:
            view = self.views[camera]
            view.alert_text, view.alert_until = label, time.monotonic() + max(5.0, post_roll_s)
            view.clips.append(
                Clip(camera, alert_id, label, directory / f"{alert_id}.mp4", newest_ts + post_roll_s)
            )

    # ------------------------------------------------------------ from the main thread (keys)
    def latest(self) -> tuple[int, np.ndarray | None]:
        with self._lock:
            return self._frame_id, self._frame

    def live_picture(self, camera: str) -> tuple[int, np.ndarray] | None:
        """(sequence number, tile) of the camera's newest drawn frame, heat and panel on it; a
        guard's pause does not freeze it."""
        with self._lock:
            return self.views[camera].live

    def toggle(self, name: str) -> bool:
        """Flip 'heatmap', 'contours' or 'paused'; the new state. A paused picture is redrawn."""
        with self._lock:
            setattr(self.toggles, name, not getattr(self.toggles, name))
            self._dirty = True
            return getattr(self.toggles, name)

    def notify(self, text: str) -> None:
        with self._lock:
            self._notice = (text, time.monotonic() + NOTICE_S)
            self._dirty = True

    def snapshot(self, directory: Path) -> Path | None:
        """The picture the guard sees now (paused or not), as a JPEG in `directory`."""
        _, picture = self.latest()
        if picture is None:
            return None
        path = directory / time.strftime("snapshot-%Y%m%dT%H%M%S.jpg", time.gmtime())
        if not cv2.imwrite(str(path), picture):
            raise OSError(f"{path}: cannot write")
        return path

    # ------------------------------------------------------------ the thread
    def run(self) -> None:
        self.clip_writer.start()
        try:
            while not self.stop_event.is_set():
                if not self._tick(time.monotonic()):
                    self.stop_event.wait(0.005)
            deadline = time.monotonic() + UPSTREAM_GRACE_S
            while not self.upstream_done() and time.monotonic() < deadline:
                time.sleep(0.01)
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
                self.measure.frames_late(name, late)
            # Hold frames back by `delay`, so that their own CAM has arrived when they are shown.
            while view.pending and view.pending[0].ts <= now - self.delay:
                self._draw(view, view.pending.popleft(), now)
                drew = True
        with self._lock:
            dirty, self._dirty = self._dirty, False
            paused = self.toggles.paused
            notice = self._notice[0] if self._notice and now < self._notice[1] else None
        if dirty and paused:  # keys pressed while paused: redraw the frozen frames
            for view in self.views.values():
                if view.last is not None:
                    frame, at, heat = view.last
                    view.tile = self._display_tile(frame, self._panel(view, frame, at), heat)
        # The picture is laid out at the display's rate, not once per drawn frame (8 cameras at
        # 25 fps would lay out a 1080p canvas up to 200 times a second for a 25 Hz screen).
        self._stale = self._stale or drew
        canvas = None
        if self._stale and now >= self._next_canvas:
            self._stale = False
            self._next_canvas = max(self._next_canvas, now - 1.0 / self.fps) + 1.0 / self.fps
            canvas = self._canvas()
            self._write(canvas)
        if (canvas is not None and not paused) or dirty or notice != self._shown_notice:
            self._publish(paused, notice, canvas if canvas is not None else self._canvas())
        return drew

    def _draw(self, view: CameraView, frame: Frame, now: float) -> None:
        """One frame: unless paused, the guard's tile, drawn at the size it is shown; and the
        makings of its evidence picture, drawn at full size only when a clip keeps it."""
        started = time.perf_counter()
        view.shown.append(now)
        view.first_drawn = view.first_drawn or now
        panel = self._panel(view, frame, now)
        with self._lock:
            match = view.map_for(frame.ts)
            paused = self.toggles.paused
        # The frame's own map, carried through time (trail.py): what the guard and the clips see.
        heat = view.trail.update(drawing.unit_small(match[0], match[1]) if match else None, frame.ts)
        heat = heat.copy() if heat is not None else None
        self.measure.heat_shown(view.name, frame.seq, peak_of(heat))
        if not paused or self.live_wanted.is_set():
            tile = self._display_tile(frame, panel, heat)
            with self._lock:
                view.live = (frame.seq, tile)
            if not paused:  # the frozen frame stays the one to redraw on a key
                view.last = (frame, now, heat)
                view.tile = tile
        self.measure.frame_drawn(time.perf_counter() - started)
        evidence = Evidence(frame.kept if frame.kept is not None else frame.image, heat, panel)
        self._record(view, frame, evidence)
        view.recent.append(evidence)

    def _panel(self, view: CameraView, frame: Frame, now: float) -> drawing.Panel:
        with self._lock:
            match = view.map_for(frame.ts)
            analysis = view.analysis
            alert = view.alert_text if now < view.alert_until else None
        # Since the last decision, or (none yet) since the camera's first frame was drawn.
        silent = now - (analysis.decided_at if analysis else view.first_drawn or now)
        return drawing.Panel(
            view.name,
            self.classes,
            analysis.probs if analysis else None,
            self.classes[match[2]] if match else None,
            self.map_name,
            alert,
            view.fps(),
            analysis.latency if analysis else None,
            silent if silent > self.overdue_s else None,
            None if self.inference_up() else "inference server away",
        )

    def _display_tile(self, frame: Frame, panel: drawing.Panel, heat: np.ndarray | None) -> np.ndarray:
        """The frame as the guard's keys ask, at its tile's size, with a panel sized for the tile."""
        with self._lock:
            heatmap, contours = self.toggles.heatmap, self.toggles.contours
        base = frame.image.copy()  # already at the tile's size (capture/outlets.py)
        if heat is not None:
            drawing.draw_unit(base, heat, self.config, heatmap, contours)
        tile = base if self.tile_box is None else drawing.letterbox(base, *self.tile_box)
        drawing.draw_panel(tile, panel)
        return tile

    def _canvas(self) -> np.ndarray | None:
        """Every camera's latest tile on the fixed canvas; cameras without one say why."""
        if self.layout is None:
            view = next(iter(self.views.values()))
            if view.tile is None:
                return None
            if self._canvas_size is None:
                self._canvas_size = view.tile.shape[1], view.tile.shape[0]
            return drawing.letterbox(view.tile, *self._canvas_size)
        canvas = np.zeros((self.layout.height, self.layout.width, 3), np.uint8)
        for (x, y, w, h), view in zip(self.layout.tiles, self.views.values()):
            if view.tile is None:
                canvas[y : y + h, x : x + w] = drawing.no_signal(
                    w, h, view.name, self.camera_status(view.name)
                )
            else:
                canvas[y : y + h, x : x + w] = drawing.letterbox(view.tile, w, h)
        return canvas

    def _publish(self, paused: bool, notice: str | None, picture: np.ndarray | None) -> None:
        if picture is None:
            return
        lines = [text for text in ("PAUSED - press p to resume" if paused else None, notice) if text]
        if lines:
            picture = picture.copy()
            drawing.draw_notice(picture, lines)
        self._shown_notice = notice
        with self._lock:
            self._frame, self._frame_id = picture, self._frame_id + 1

    # ------------------------------------------------------------ evidence and the output video
    def _record(self, view: CameraView, frame: Frame, evidence: Evidence) -> None:
        """Hand the frame to each clip being recorded (the first time, with the pre-roll held);
        a clip past its post-roll is finished. The clip writer draws and encodes them."""
        if not view.clips:
            return
        with self._lock:
            clips = list(view.clips)
        for clip in clips:
            self.clip_writer.add(clip, [evidence] if clip.started else [*view.recent, evidence])
            clip.started = True
            if frame.ts >= clip.until:
                self._finish(view, clip)

    def _finish(self, view: CameraView, clip: Clip) -> None:
        with self._lock:
            view.clips.remove(clip)
        if not clip.started:  # stopped before the alert's frame was drawn: the pre-roll alone
            self.clip_writer.add(clip, list(view.recent))
            clip.started = True
        self.clip_writer.finish(clip)

    def _write(self, picture: np.ndarray | None) -> None:
        if self.writer_path is None or picture is None:
            return
        if self._writer is None:
            h, w = picture.shape[:2]
            self._writer = cv2.VideoWriter(
                str(self.writer_path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h)
            )
            if not self._writer.isOpened():
                logger.error("%s: cannot write the annotated video", self.writer_path)
                self.writer_path = None
                return
        self._writer.write(picture)

    def close(self) -> None:
        """Finish open clips (each then logged) and the output video: a stopped monitor leaves
        playable files, and every file a line names. Safe to call from two threads at once."""
        with self._closing:
            now = time.monotonic()
            for name, view in self.views.items():
                if view.clips:  # the frames still held back belong in the clips: draw them now
                    view.pending.extend(self.rings[name].drain())
                    while view.pending:
                        self._draw(view, view.pending.popleft(), now)
                for clip in list(view.clips):
                    self._finish(view, clip)
            self.clip_writer.close()
            if self._writer is not None:
                self._writer.release()
                self._writer = None
