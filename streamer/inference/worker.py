"""InferenceWorker: samples frames at the model's rate, runs the backbone once per frame (cached),
and the head on each camera's last T activations every `stride` sampled frames.

A motion-coded bundle pairs each sampled frame with the camera's previous sampled frame, taken as
it is sampled (a frame skipped for falling behind still serves as the next one's predecessor)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from streamer.capture.ring import FrameRing
from streamer.config import InferenceConfig
from streamer.inference.bundle import Bundle
from streamer.inference.frames import to_model_input
from streamer.inference.remote import InferenceUnavailable
from streamer.types import Analysis, Frame

logger = logging.getLogger(__name__)

# A sampled frame further than this after the previous one is paired with none (motion coding).
PREDECESSOR_MAX_GAP_S = 1.0


class Sampler:
    """Takes frames at `fps` by capture time, whatever the camera's own rate."""

    def __init__(self, fps: float):
        self.period = 1.0 / fps
        self.next_due: float | None = None

    def take(self, ts: float) -> bool:
        # A quarter period of slack: capture times jitter, and 0.2 * 3 is not 0.6 in floating point.
        if self.next_due is None or ts + 0.25 * self.period >= self.next_due:
            # Keep a steady grid, but restart it after a gap rather than catch up on stale time.
            due = (self.next_due or ts) + self.period
            self.next_due = due if due > ts else ts + self.period
            return True
        return False


@dataclass
class CameraCache:
    """Per camera: the last T frames' activations, and how many arrived since the last head run."""

    frames: int
    sampler: Sampler
    entries: deque = field(default_factory=deque)  # (frame, activations)
    since_head: int = 0
    target: int | None = None  # the anomaly class to explain
    last_sampled: Frame | None = None
    last_input: tuple[Frame, np.ndarray] | None = None  # the newest analysed frame, at the model's size

    def model_size(self, frame: Frame, size: tuple[int, int]) -> np.ndarray:
        """The frame at the model's size, reusing the last one made: a motion-coded frame's
        predecessor was resized when it was analysed itself (a 720p resize costs milliseconds)."""
        if self.last_input is not None and self.last_input[0] is frame:
            return self.last_input[1]
        return to_model_input(frame.image, size)

    def predecessor(self, frame: Frame) -> Frame | None:
        """The previous sampled frame, unless the camera was away since (its change would
        be a jump to another moment), and remember this frame for the next. A camera slower than
        the model's rate still pairs each frame with its previous one, as training does."""
        before, self.last_sampled = self.last_sampled, frame
        if before is None or frame.ts - before.ts > max(PREDECESSOR_MAX_GAP_S, 2 * self.sampler.period):
            return None
        return before

    def add(self, frame: Frame, activations: np.ndarray) -> None:
        self.entries.append((frame, activations))
        while len(self.entries) > self.frames:
            self.entries.popleft()
        self.since_head += 1


class InferenceMeasures(Protocol):
    """What the inference thread reports, from its own thread (streamer.metrics.Metrics is one)."""

    def backbone_ran(self, frames: list[Frame], seconds: float) -> None: ...
    def head_ran(self, seconds: float) -> None: ...
    def frames_skipped(self, camera: str, count: int) -> None: ...
    def frames_unanalysed(self, camera: str, count: int) -> None: ...
    def inference_state(self, up: bool) -> None: ...


class InferenceWorker(threading.Thread):
    """One thread for every camera: backbone calls are batched across cameras.

    decide(Analysis) gets each decision; sampled frames it had to skip because it fell behind are
    counted (only the newest `max_pending` per camera are kept). While the bundle's inference server
    is away, sampled frames are counted as unanalysed and each camera's window starts again.
    """

    def __init__(
        self,
        settings: InferenceConfig,
        bundle: Bundle,
        rings: dict[str, FrameRing],
        stop: threading.Event,
        decide: Callable[[Analysis], None],
        measure: InferenceMeasures,
    ):
        super().__init__(name="inference", daemon=True)
        m = bundle.manifest
        self.bundle, self.rings, self.stop_event = bundle, rings, stop
        self.stride, self.batch = settings.stride, settings.backbone_batch
        self.caches = {name: CameraCache(m.frames, Sampler(m.sample_fps)) for name in rings}
        # Sampled frames waiting for the backbone, each with its predecessor (motion coding only).
        self.pending: dict[str, deque[tuple[Frame, Frame | None]]] = {name: deque() for name in rings}
        self.model_input = m.model_input
        self.max_pending = max(2, self.stride)
        self.decide, self.measure = decide, measure
        self.heartbeat = time.monotonic()
        self.anomalies = [i for i, c in enumerate(m.classes) if c != m.normal_class]
        self.up: bool | None = None

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.heartbeat = time.monotonic()
            if not self._inference_ready():
                self._drop_while_away()
                self.stop_event.wait(0.05)
                continue
            if not self._collect():
                self.stop_event.wait(0.01)
                continue
            try:
                self.step()
            except InferenceUnavailable:  # a head call: the window goes undecided, the next one will be
                pass
            except Exception:  # one bad batch must not end the analysis of every camera
                logger.exception("inference step failed; continuing")

    def _inference_ready(self) -> bool:
        up = self.bundle.ready()
        if up != self.up:
            self.up = up
            self.measure.inference_state(up)
        return up

    def _drop_while_away(self) -> None:
        """No inference: what was sampled is counted and dropped, and windows start again, so no
        window spans the outage."""
        for name, ring in self.rings.items():
            cache = self.caches[name]
            sampled = sum(cache.sampler.take(frame.ts) for frame in ring.drain()) + len(self.pending[name])
            self.pending[name].clear()
            cache.entries.clear()
            cache.since_head = 0
            if sampled:
                self.measure.frames_unanalysed(name, sampled)

    def _collect(self) -> bool:
        """Move sampled frames from the rings to the per-camera queues; True if any is waiting."""
        for name, ring in self.rings.items():
            queue, cache = self.pending[name], self.caches[name]
            for frame in ring.drain():
                if cache.sampler.take(frame.ts):
                    previous = cache.predecessor(frame) if self.model_input.uses_motion else None
                    queue.append((frame, previous))
            skipped = len(queue) - self.max_pending
            if skipped > 0:
                for _ in range(skipped):
                    queue.popleft()
                self.measure.frames_skipped(name, skipped)
        return any(self.pending.values())

    def step(self) -> None:
        """One backbone batch (oldest pending first, round-robin over cameras), then due heads."""
        chosen: list[Frame] = []
        inputs: list[np.ndarray] = []
        while len(chosen) < self.batch and any(self.pending.values()):
            for queue in self.pending.values():
                if queue and len(chosen) < self.batch:
                    frame, previous = queue.popleft()
                    chosen.append(frame)
                    inputs.append(self._encode(frame, previous))
        started = time.perf_counter()
        try:
            activations = self.bundle.backbone(np.stack(inputs))
        except InferenceUnavailable:  # said by the bundle; ready() is now False and backs off
            for frame in chosen:
                self.measure.frames_unanalysed(frame.camera, 1)
            return
        self.measure.backbone_ran(chosen, time.perf_counter() - started)
        for frame, acts in zip(chosen, activations):
            cache = self.caches[frame.camera]
            cache.add(frame, acts)
            if len(cache.entries) == cache.frames and cache.since_head >= self.stride:
                self._decide(frame.camera, cache)

    def _encode(self, frame: Frame, previous: Frame | None) -> np.ndarray:
        """The backbone's input for a sampled frame, each frame resized once."""
        cache, size = self.caches[frame.camera], self.model_input.size
        now = to_model_input(frame.image, size)
        before = cache.model_size(previous, size) if previous is not None else None
        cache.last_input = (frame, now)
        return self.model_input.encode_frame(now, before)

    def _decide(self, camera: str, cache: CameraCache) -> None:
        """Run the head and explain the likeliest anomaly class, even when "normal" wins: the
        guard sees where the model finds the most fight- or shooting-like evidence, drawn as
        strongly as that class is likely."""
        frames, acts = zip(*cache.entries)
        window = np.stack(acts)
        started = time.perf_counter()
        target = cache.target if cache.target is not None else self.anomalies[0]
        result = self.bundle.head(window, target=target)
        best = self.anomalies[int(np.argmax(result.probs[self.anomalies]))]
        if best != target:  # usually the same as last window's: one head run
            result = self.bundle.head(window, target=best)
        cache.target = best
        self.measure.head_ran(time.perf_counter() - started)
        cache.since_head = 0
        self.decide(
            Analysis(
                camera,
                tuple(f.seq for f in frames),
                tuple(f.ts for f in frames),
                result.probs,
                result.cam,
                result.cam_class,
                time.monotonic(),
                tuple(f.wall for f in frames),
                tuple(f.image for f in frames),
                window,
            )
        )
