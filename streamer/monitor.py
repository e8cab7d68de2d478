"""`vigil run`: wires capture, inference, overlay, alerts and metrics; owns start-up and shutdown."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from prometheus_client import start_http_server

from streamer import systemd
from streamer.alerts.alerting import Alerting
from streamer.alerts.log import RECORDING_SUFFIX, AlertLog, AlertRecorder
from streamer.capture.camera import CaptureThread
from streamer.capture.outlets import Outlet
from streamer.capture.ring import FrameRing
from streamer.capture.streams import capture_threads
from streamer.config import Config, ConfigError
from streamer.console.server import start_console
from streamer.display import window as screen
from streamer.display.compositor import UPSTREAM_GRACE_S, Compositor
from streamer.inference.bundle import Bundle, open_bundle
from streamer.inference.remote import RemoteBundle, open_remote
from streamer.inference.worker import InferenceWorker
from streamer.metrics import Metrics, build_metrics, zero_known_series
from streamer.preflight import check_startable
from streamer.sinks.fanout import Sinks
from streamer.types import Analysis

logger = logging.getLogger(__name__)
JOIN_TIMEOUT_S = 0.5


class Decisions:
    """Where each decided window goes, on the inference thread: metrics, the compositor (its maps),
    alerting, then observers (benchmarks, tests: a public hook instead of rebinding a callback)."""

    def __init__(
        self, classes: tuple[str, ...], metrics: Metrics, compositor: Compositor, alerting: Alerting
    ):
        self.classes, self.metrics, self.compositor, self.alerting = classes, metrics, compositor, alerting
        self.observers: list[Callable[[Analysis], None]] = []

    def deliver(self, analysis: Analysis) -> None:
        self.metrics.decided(analysis, self.classes)
        self.compositor.submit(analysis)
        self.alerting.decide(analysis)
        for observe in self.observers:
            observe(analysis)


@dataclass(frozen=True)
class Monitor:
    """Every part of a running monitor, each built complete by build_monitor."""

    config: Config
    bundle: Bundle | RemoteBundle
    metrics: Metrics
    stop: threading.Event
    captures: tuple[CaptureThread, ...]
    worker: InferenceWorker
    compositor: Compositor
    recorder: AlertRecorder
    alerting: Alerting
    decisions: Decisions
    alert_dir: Path
    sinks: Sinks

    @property
    def camera_names(self) -> list[str]:
        """Each camera once (a camera with a substream shown alone has two capture threads)."""
        return list(dict.fromkeys(c.camera.name for c in self.captures))

    def observe(self, callback: Callable[[Analysis], None]) -> None:
        """Call `callback` with every decision (on the inference thread; keep it quick)."""
        self.decisions.observers.append(callback)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.sinks.start()
        for thread in (*self.captures, self.worker, self.compositor, self.recorder):
            thread.start()

    def healthy(self) -> bool:
        """Inference alive, and some camera delivered a frame within capture.watchdog_s: what
        systemd's watchdog is fed on, so a monitor that sees nothing is restarted, not trusted."""
        now = time.monotonic()
        if not (self.worker.is_alive() and now - self.worker.heartbeat < 10):
            return False
        limit = self.config.capture.watchdog_s
        return limit == 0 or any(now - c.last_frame_at < limit for c in self.captures if not c.finished)

    def supervise(self) -> None:
        """Periodic health: ring fill, stalled cameras (a read blocked inside FFmpeg), watchdog."""
        for capture in self.captures:
            # From the thread's state each time, so a camera marked stalled comes back up too.
            self.metrics.camera_state(capture.label, capture.up and not capture.stalled())
        if self.healthy():
            systemd.notify("WATCHDOG=1")

    def shutdown(self) -> None:
        """Stop every thread (capture first, then inference, then the compositor), each with a
        timeout; then the alert log, after the compositor has finished (and so logged) its clips and
        every open event has ended; last the sinks, given a moment to deliver what is queued."""
        self.stop.set()
        deadline = time.monotonic() + 1.5
        for thread in self.captures:
            if thread.is_alive():
                thread.join(timeout=max(0.05, min(JOIN_TIMEOUT_S, deadline - time.monotonic())))
        # The step in flight ends first: an alert it raises needs the compositor for its clip.
        if self.worker.is_alive():
            self.worker.join(timeout=UPSTREAM_GRACE_S)
        if self.compositor.is_alive():
            self.compositor.join(timeout=JOIN_TIMEOUT_S)
        alive = [t.name for t in (*self.captures, self.worker, self.compositor) if t.is_alive()]
        if alive:
            logger.warning("threads still running at shutdown (daemon, left behind): %s", ", ".join(alive))
        if self.compositor.is_alive():
            self.compositor.close()
        self.alerting.end_all()
        self.recorder.close()
        self.sinks.close()


def camera_status(captures: list[CaptureThread]) -> Callable[[str], str]:
    """What a tile without a picture says: why there is none (connecting, no signal, failed): the
    first thread of the camera feeds its tile. `captures` may be filled after this is made."""
    return lambda name: next(c.status for c in captures if c.camera.name == name)


def open_engine(config: Config) -> Bundle | RemoteBundle:
    """The bundle on this machine's ONNX Runtime, or on the inference server the config names."""
    if config.inference.server:
        settings = config.inference
        return open_remote(
            config.resolve(config.model.bundle),
            settings.server,
            settings.server_timeout_s,
            settings.server_head,
        )
    return open_bundle(
        config.resolve(config.model.bundle),
        config.model.providers,
        config.model.threads,
        tensorrt_fp16=config.model.tensorrt_fp16,
    )


def build_monitor(
    config: Config,
    stop: threading.Event,
    output_video: Path | None = None,
    metrics: Metrics | None = None,
    canvas_size: tuple[int, int] | None = None,
) -> Monitor:
    """Every part of a monitor, built complete and wired, nothing started. Refuses (ConfigError)
    what `vigil check-config` refuses."""
    check_startable(config)
    # Each camera, the compositor and inference have threads of their own: OpenCV's worker pool
    # would only hand small resizes and encodes back and forth (about 5% of the CPU at 4 cameras).
    cv2.setNumThreads(1)
    cameras = [c for c in config.cameras if c.enabled]
    bundle = open_engine(config)
    m = bundle.manifest
    metrics = metrics or build_metrics()
    metrics.model.info(
        {
            "backbone": m.backbone,
            "provider": bundle.provider,
            "bundle_sha256": m.files["model.onnx"][:16],
            "classes": ",".join(m.classes),
            "cam": m.cam_label,
        }
    )
    zero_known_series(metrics, [c.name for c in cameras], [c for c in m.classes if c != m.normal_class])
    alert_dir = config.resolve(config.alerts.directory)
    log = AlertLog(alert_dir, config.alerts.max_log_bytes, config.alerts.log_backups)
    for unfinished in sorted(alert_dir.glob("*" + RECORDING_SUFFIX)):
        logger.warning(
            "alerts: %s is an unfinished clip of an earlier run (stopped by force)", unfinished.name
        )
    anomalies = [c for c in m.classes if c != m.normal_class]
    sinks = Sinks(config.sinks, alert_dir, [c.name for c in cameras], anomalies, metrics)
    recorder = AlertRecorder(config.overlay, log, m.classes, m.cam_label, publish=sinks.publish)
    for event in log.open_events():  # a run killed mid-event: its end is said now, so none stays open
        recorder.event_ended(event["id"], event["camera"], event["class"], "monitor restarted")

    analysis_rings = {c.name: FrameRing(config.capture.ring_size, "analysis_ring") for c in cameras}
    display_rings = {c.name: FrameRing(max(config.capture.ring_size, 128), "display_ring") for c in cameras}
    for name, ring in analysis_rings.items():
        metrics.ring_fill.labels(name).set_function(lambda r=ring: len(r) / r.capacity)
    captures: list[CaptureThread] = []
    # Frames wait for their own CAM: a head runs every `stride` sampled frames, plus its latency.
    delay = config.inference.stride / m.sample_fps + 0.4
    compositor = Compositor(
        config.overlay,
        display_rings,
        m.classes,
        m.cam_label,
        stop,
        delay,
        metrics,
        clip_finished=recorder.clip_finished,
        pre_roll_s=config.alerts.pre_roll_s,
        writer_path=output_video,
        canvas_size=canvas_size,
        camera_status=camera_status(captures),
        inference_up=lambda: bundle.up,
        upstream_done=lambda: not worker.is_alive(),  # `worker` is made below, before anything starts
    )
    # Decoded once: the analysis takes frames as captured (its snapshots are full size), the
    # display at its tile's size with a compressed full-size copy for clips (capture/outlets.py).
    for camera in cameras:
        captures.extend(
            capture_threads(
                config.capture,
                camera,
                Outlet(analysis_rings[camera.name]),
                Outlet(display_rings[camera.name], compositor.tile_box, config.alerts.clip_quality),
                stop,
                metrics,
                alone=compositor.tile_box is None,
            )
        )
    alerting = Alerting(
        config.alerts,
        m.classes,
        m.normal_class,
        alert_dir,
        recorder,
        compositor.record_alert,
        metrics.alert_raised,
        head=bundle.head,
    )
    decisions = Decisions(m.classes, metrics, compositor, alerting)
    worker = InferenceWorker(config.inference, bundle, analysis_rings, stop, decisions.deliver, metrics)
    return Monitor(
        config,
        bundle,
        metrics,
        stop,
        tuple(captures),
        worker,
        compositor,
        recorder,
        alerting,
        decisions,
        alert_dir,
        sinks,
    )


def start_metrics(config: Config, metrics: Metrics) -> None:
    """The Prometheus endpoint; a taken port is a config error naming the key, not an errno."""
    if not config.metrics.enabled:
        return
    try:
        start_http_server(config.metrics.port, addr=config.metrics.host, registry=metrics.registry)
    except OSError as err:
        raise ConfigError(
            f"metrics.port: cannot listen on {config.metrics.host}:{config.metrics.port} "
            f"({err.strerror or err}; another monitor running?): pick another port or set "
            "metrics.enabled = false"
        ) from None
    logger.info("metrics on http://%s:%d/metrics", config.metrics.host, config.metrics.port)


def run(config: Config, seconds: float | None = None) -> int:
    """Run until SIGINT/SIGTERM, 'q' in the window, `seconds`, or every file camera ended; 0 on a
    clean stop, 1 when no camera ever delivered a frame."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    mode = config.overlay.display
    windowed = mode == "window" or (mode == "auto" and screen.display_usable())
    if mode == "window" and not windowed:
        logger.error("drawing.display is 'window' but no display is usable: running headless")
    # The annotated video is the headless view: a window is what a guard watches instead.
    output = (
        config.resolve(config.overlay.output_video) if config.overlay.output_video and not windowed else None
    )
    several = sum(c.enabled for c in config.cameras) > 1
    monitor = build_monitor(
        config, stop, output, canvas_size=screen.window_canvas() if windowed and several else None
    )
    window = console = None
    try:
        start_metrics(config, monitor.metrics)
        m = monitor.bundle.manifest
        console = start_console(
            config, monitor.camera_names, m.classes, m.normal_class, monitor.alert_dir, monitor.compositor
        )
        if windowed:
            window = screen.Window(
                "Vigil - " + ", ".join(monitor.camera_names),
                fullscreen=config.overlay.fullscreen,
            )
        monitor.start()
        systemd.notify("READY=1")
        logger.info(
            "monitoring %s (%s)",
            ", ".join(monitor.camera_names),
            "window" if windowed else "headless",
        )
        _main_loop(monitor, window, time.monotonic() + seconds if seconds else None)
    finally:
        if window is not None:
            window.close()
        if console is not None:
            console.stop()
        monitor.shutdown()
        systemd.notify("STOPPING=1")
    if all(c.failed for c in monitor.captures):
        logger.error("no camera delivered a frame")
        return 1
    return 0


def _main_loop(monitor: Monitor, window: screen.Window | None, ends: float | None) -> None:
    shown, last_health = -1, 0.0
    while not monitor.stop.is_set():
        now = time.monotonic()
        if ends is not None and now >= ends:
            break
        if all(c.finished for c in monitor.captures):
            # Every source was a file played to its end (or broken): show the held-back frames, then stop.
            ends = min(ends or np.inf, now + monitor.compositor.delay + 1.0)
        if now - last_health >= 1.0:
            monitor.supervise()
            last_health = now
        if window is None:
            monitor.stop.wait(0.1)
            continue
        frame_id, picture = monitor.compositor.latest()
        if picture is not None and frame_id != shown:
            shown = frame_id
            window.show(picture)
        # Keys are read on every pass, picture or not: a paused or silent window still answers.
        if _on_key(monitor, window, window.poll(10)) == "quit":
            break


def _on_key(monitor: Monitor, window: screen.Window, key: str | None) -> str | None:
    compositor = monitor.compositor
    if key in ("heatmap", "contours"):
        on = compositor.toggle(key)
        compositor.notify(f"{key} {'on' if on else 'off'}")
    elif key == "pause":
        paused = compositor.toggle("paused")
        logger.info("display %s", "paused (analysis and alerts go on)" if paused else "resumed")
    elif key == "fullscreen":
        window.set_fullscreen(not window.fullscreen)
    elif key == "snapshot":
        try:
            path = compositor.snapshot(monitor.alert_dir)
        except OSError as err:
            logger.error("snapshot not saved: %s", err)
            compositor.notify("snapshot NOT saved (see log)")
        else:
            if path is not None:
                logger.info("snapshot saved: %s", path)
                compositor.notify(f"snapshot saved: {path.name}")
    return key
