"""`vigil run`: wires capture, inference, overlay, alerts and metrics; owns start-up and shutdown."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from prometheus_client import start_http_server

from streamer import cam as camlib
from streamer import overlay, systemd
from streamer.alerts import AlertLog, AlertPolicy
from streamer.bundle import Bundle, open_bundle
from streamer.capture import CaptureThread
from streamer.compositor import Compositor
from streamer.config import Config
from streamer.metrics import Metrics, build_metrics
from streamer.ring import FrameRing
from streamer.types import Analysis
from streamer.worker import InferenceWorker

logger = logging.getLogger(__name__)
JOIN_TIMEOUT_S = 0.5


def utc(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Monitor:
    """Every part of a running monitor, so tests and benchmarks can reach in and read state."""

    config: Config
    bundle: Bundle
    metrics: Metrics
    stop: threading.Event
    alert_log: AlertLog
    policy: AlertPolicy
    captures: list[CaptureThread] = field(default_factory=list)
    worker: InferenceWorker | None = None
    compositor: Compositor | None = None
    alerts_raised: int = 0
    alert_dir: Path = Path("alerts")

    # ------------------------------------------------------------ callbacks (other threads)
    def on_capture_event(self, camera: str, kind: str, detail: str) -> None:
        m = self.metrics
        if kind == "frame":
            m.frames_captured.labels(camera).inc()
        elif kind == "dropped":
            m.frames_dropped.labels(camera, detail).inc()
        elif kind in ("up", "down"):
            m.camera_up.labels(camera).set(1 if kind == "up" else 0)
        elif kind == "reconnect":
            m.reconnects.labels(camera).inc()

    def on_timing(self, stage: str, seconds: float) -> None:
        (self.metrics.backbone_seconds if stage == "backbone" else self.metrics.head_seconds).observe(seconds)

    def on_frames(self, frames) -> None:
        for frame in frames:
            self.metrics.frames_analysed.labels(frame.camera).inc()

    def on_skip(self, camera: str, count: int) -> None:
        self.metrics.frames_dropped.labels(camera, "analysis_backlog").inc(count)

    def on_display_late(self, camera: str, count: int) -> None:
        self.metrics.frames_dropped.labels(camera, "display_late").inc(count)

    def on_analysis(self, analysis: Analysis) -> None:
        m, classes = self.metrics, self.bundle.manifest.classes
        m.decision_latency.labels(analysis.camera).observe(analysis.latency)
        for name, p in zip(classes, analysis.probs):
            m.class_probability.labels(analysis.camera, name).set(float(p))
        self.compositor.submit(analysis)
        for index in self.policy.update(analysis.camera, analysis.probs, analysis.decided_at):
            self.raise_alert(analysis, index)

    def raise_alert(self, analysis: Analysis, index: int) -> None:
        label = self.bundle.manifest.classes[index]
        stamp = dt.datetime.fromtimestamp(analysis.walls[-1], dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%f")[:-3]
        base = f"{stamp}_{analysis.camera}_{label}"
        regions = []
        if analysis.explained == index and analysis.frame_size[0] > 0:
            regions = camlib.strongest_regions(camlib.upsample(analysis.cams[-1], analysis.frame_size))
        record = {"time_utc": utc(time.time()), "camera": analysis.camera, "class": label,
                  "score": round(float(analysis.probs[index]), 4),
                  "window_start_utc": utc(analysis.walls[0]), "window_end_utc": utc(analysis.walls[-1]),
                  "window_frames": [analysis.seqs[0], analysis.seqs[-1]],
                  "boxes": regions, "snapshot": f"{base}.jpg", "clip": f"{base}.mp4"}
        self.alert_log.append(record)   # first, durably: evidence files may still fail
        self.alerts_raised += 1
        self.metrics.alerts.labels(analysis.camera, label).inc()
        logger.warning("%s: ALERT %s (%.2f)", analysis.camera, label, analysis.probs[index])
        self.compositor.raise_alert(analysis.camera, label, analysis.seqs[-1], analysis.stamps[-1],
                                    self.config.alerts.post_roll_s, self.alert_dir / record["snapshot"],
                                    self.alert_dir / record["clip"])

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        for thread in (*self.captures, self.worker, self.compositor):
            thread.start()

    def supervise(self) -> None:
        """Periodic health: ring fill, stalled cameras (a read blocked inside FFmpeg), watchdog."""
        for capture in self.captures:
            # From the thread's state each time, so a camera marked stalled comes back up too.
            self.metrics.camera_up.labels(capture.camera.name).set(int(capture.up and not capture.stalled()))
        if time.monotonic() - self.worker.heartbeat < 10 and self.worker.is_alive():
            systemd.notify("WATCHDOG=1")

    def shutdown(self) -> None:
        """Stop every thread (capture first, then inference, then overlay), each with a timeout."""
        self.stop.set()
        deadline = time.monotonic() + 1.5
        for thread in (*self.captures, self.worker, self.compositor):
            if thread is not None and thread.is_alive():
                thread.join(timeout=max(0.05, min(JOIN_TIMEOUT_S, deadline - time.monotonic())))
        alive = [t.name for t in (*self.captures, self.worker, self.compositor) if t is not None and t.is_alive()]
        if alive:
            logger.warning("threads still running at shutdown (daemon, left behind): %s", ", ".join(alive))
        if self.compositor is not None and self.compositor.is_alive():
            self.compositor.close()
        self.alert_log.close()


def build_monitor(config: Config, stop: threading.Event, output_video: Path | None = None,
                  metrics: Metrics | None = None) -> Monitor:
    cameras = [c for c in config.cameras if c.enabled]
    if not cameras:
        raise ValueError("cameras: expected at least one enabled camera, got none")
    bundle = open_bundle(config.resolve(config.model.bundle), config.model.providers, config.model.threads,
                         tensorrt_fp16=config.model.tensorrt_fp16)
    m = bundle.manifest
    metrics = metrics or build_metrics()
    alert_dir = config.resolve(config.alerts.directory)
    monitor = Monitor(config, bundle, metrics, stop, AlertLog(alert_dir, config.alerts.max_log_bytes,
                                                               config.alerts.log_backups),
                      AlertPolicy(m.classes, m.normal_class, config.alerts), alert_dir=alert_dir)
    metrics.model.info({"backbone": m.backbone, "provider": bundle.provider, "bundle_sha256": m.files["model.onnx"][:16],
                        "classes": ",".join(m.classes)})
    analysis_rings = {c.name: FrameRing(config.capture.ring_size, "analysis_ring") for c in cameras}
    display_rings = {c.name: FrameRing(max(config.capture.ring_size, 128), "display_ring") for c in cameras}
    for camera in cameras:
        metrics.camera_up.labels(camera.name).set(0)
        ring = analysis_rings[camera.name]
        metrics.ring_fill.labels(camera.name).set_function(lambda r=ring: len(r) / r.capacity)
        monitor.captures.append(CaptureThread(camera, config.capture, [ring, display_rings[camera.name]],
                                              stop, monitor.on_capture_event))
    # Frames wait for their own CAM: a head runs every `stride` sampled frames, plus its latency.
    delay = config.inference.stride / m.sample_fps + 0.4
    monitor.compositor = Compositor(display_rings, m.classes, config.overlay, stop, delay,
                                    pre_roll_s=config.alerts.pre_roll_s, writer_path=output_video,
                                    on_late=monitor.on_display_late)
    monitor.worker = InferenceWorker(bundle, analysis_rings, stop, config.inference.stride,
                                     config.inference.backbone_batch, monitor.on_analysis,
                                     monitor.on_skip, monitor.on_timing, monitor.on_frames)
    return monitor


def run(config: Config, seconds: float | None = None) -> int:
    """Run until SIGINT/SIGTERM, 'q' in the window, or `seconds`; 0 on a clean stop."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    mode = config.overlay.display
    windowed = mode == "window" or (mode == "auto" and overlay.display_usable())
    if mode == "window" and not overlay.display_usable():
        logger.error("overlay.display is 'window' but no display is usable: running headless")
        windowed = False
    output = config.resolve(config.overlay.output_video) if config.overlay.output_video else None
    monitor = build_monitor(config, stop, output)
    if config.metrics.enabled:
        start_http_server(config.metrics.port, addr=config.metrics.host, registry=monitor.metrics.registry)
        logger.info("metrics on http://%s:%d/metrics", config.metrics.host, config.metrics.port)
    monitor.start()
    systemd.notify("READY=1")
    logger.info("monitoring %s (%s)", ", ".join(c.camera.name for c in monitor.captures),
                "window" if windowed else "headless")
    ends = time.monotonic() + seconds if seconds else None
    window = overlay.Window("Vigil - " + ", ".join(c.camera.name for c in monitor.captures)) if windowed else None
    try:
        _main_loop(monitor, window, ends)
    finally:
        if window is not None:
            window.close()
        monitor.shutdown()
        systemd.notify("STOPPING=1")
    return 0


def _main_loop(monitor: Monitor, window: overlay.Window | None, ends: float | None) -> None:
    shown, last_health = -1, 0.0
    while not monitor.stop.is_set():
        now = time.monotonic()
        if ends is not None and now >= ends:
            break
        if all(c.finished for c in monitor.captures):
            # Every source was a file played to its end: show the held-back frames, then stop.
            ends = min(ends or np.inf, now + monitor.compositor.delay + 1.0)
        if now - last_health >= 1.0:
            monitor.supervise()
            last_health = now
        if window is None:
            monitor.stop.wait(0.1)
            continue
        frame_id, picture = monitor.compositor.latest()
        if picture is None or frame_id == shown:
            monitor.stop.wait(0.01)
            continue
        shown = frame_id
        key = window.show(picture)
        if key == "quit":
            break
        if key in ("heatmap", "contours"):
            toggles = monitor.compositor.toggles
            setattr(toggles, key, not getattr(toggles, key))
        elif key == "pause":
            monitor.compositor.toggles.paused = not monitor.compositor.toggles.paused
        elif key == "snapshot":
            path = monitor.compositor.snapshot(monitor.alert_dir)
            logger.info("snapshot %s", path)
