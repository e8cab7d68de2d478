"""Every Prometheus metric of the monitor, on an injected registry (tests and benchmarks read it
back), and the measurements each part reports: Metrics is what capture, inference and the
compositor are given to measure with (their *Measures protocols)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from streamer.types import Analysis, Frame

# Inference is milliseconds, not web seconds.
INFERENCE_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
# A decision takes 10-50 ms after its newest frame on this machine (benchmarks/remote.py): buckets
# fine enough there to tell local inference from a server's, wide enough for a loaded one.
LATENCY_BUCKETS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
# Drawing one 720p frame takes 2-6 ms here: fine buckets, so percentiles read back are close.
DRAW_BUCKETS = (
    0.0005,
    0.001,
    0.0015,
    0.002,
    0.0025,
    0.003,
    0.004,
    0.005,
    0.006,
    0.008,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.1,
)
# Every reason a frame is dropped: a full ring (analysis, display), inference behind, the inference
# server away, drawing behind.
DROP_REASONS = ("analysis_ring", "display_ring", "analysis_backlog", "inference_down", "display_late")


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    frames_captured: Counter
    frames_dropped: Counter
    frames_analysed: Counter
    backbone_seconds: Histogram
    head_seconds: Histogram
    decision_latency: Histogram
    ring_fill: Gauge
    camera_up: Gauge
    inference_up: Gauge
    reconnects: Counter
    class_probability: Gauge
    alerts: Counter
    model: Info
    draw_seconds: Histogram
    frames_shown: Counter
    heat_jump: Histogram
    sink_delivered_total: Counter
    sink_failed_total: Counter
    sink_dropped: Gauge
    sink_queued: Gauge
    sink_up: Gauge
    sink_since_success: Gauge
    last_peak: dict = field(default_factory=dict)  # camera -> the heat's previous peak, for the jump
    sink_last_success: dict = field(default_factory=dict)  # sink -> monotonic time of its last delivery

    # ------------------------------------------------------------ capture (CaptureMeasures)
    def frame_captured(self, camera: str) -> None:
        self.frames_captured.labels(camera).inc()

    def frame_dropped(self, camera: str, reason: str, count: int = 1) -> None:
        self.frames_dropped.labels(camera, reason).inc(count)

    def camera_state(self, camera: str, up: bool) -> None:
        self.camera_up.labels(camera).set(1 if up else 0)

    def camera_reconnected(self, camera: str) -> None:
        self.reconnects.labels(camera).inc()

    # ------------------------------------------------------------ inference (InferenceMeasures)
    def backbone_ran(self, frames: list[Frame], seconds: float) -> None:
        self.backbone_seconds.observe(seconds)
        for frame in frames:
            self.frames_analysed.labels(frame.camera).inc()

    def head_ran(self, seconds: float) -> None:
        self.head_seconds.observe(seconds)

    def frames_skipped(self, camera: str, count: int) -> None:
        self.frame_dropped(camera, "analysis_backlog", count)

    def frames_unanalysed(self, camera: str, count: int) -> None:
        self.frame_dropped(camera, "inference_down", count)

    def inference_state(self, up: bool) -> None:
        self.inference_up.set(1 if up else 0)

    def decided(self, analysis: Analysis, classes: tuple[str, ...]) -> None:
        self.decision_latency.labels(analysis.camera).observe(analysis.latency)
        for name, p in zip(classes, analysis.probs):
            self.class_probability.labels(analysis.camera, name).set(float(p))

    def alert_raised(self, camera: str, label: str) -> None:
        self.alerts.labels(camera, label).inc()

    # ------------------------------------------------------------ display (DisplayMeasures)
    def frames_late(self, camera: str, count: int) -> None:
        self.frame_dropped(camera, "display_late", count)

    def frame_drawn(self, seconds: float) -> None:
        self.draw_seconds.observe(seconds)

    def heat_shown(self, camera: str, seq: int, peak: tuple[float, float] | None) -> None:
        """A displayed frame and where its heat peaks ((x, y) shares of the frame), None without
        heat: the share of frames with heat, and how far the peak jumps between frames."""
        self.frames_shown.labels(camera, "yes" if peak else "no").inc()
        previous = self.last_peak.get(camera)
        if peak and previous:
            self.heat_jump.observe(float(np.hypot(peak[0] - previous[0], peak[1] - previous[1]) / np.sqrt(2)))
        self.last_peak[camera] = peak

    # ------------------------------------------------------------ alert sinks (SinkWorker)
    def sink_started(self, sink: str, spool) -> None:
        """A sink's series, its queue read live, and the clock of its last success started now."""
        started = time.monotonic()
        self.sink_last_success[sink] = started
        self.sink_delivered_total.labels(sink)
        self.sink_failed_total.labels(sink)
        self.sink_up.labels(sink).set(0)
        self.sink_queued.labels(sink).set_function(lambda: len(spool))
        self.sink_dropped.labels(sink).set_function(lambda: spool.dropped)
        self.sink_since_success.labels(sink).set_function(
            lambda: time.monotonic() - self.sink_last_success[sink]
        )

    def sink_delivered(self, sink: str) -> None:
        self.sink_delivered_total.labels(sink).inc()
        self.sink_last_success[sink] = time.monotonic()

    def sink_failed(self, sink: str) -> None:
        self.sink_failed_total.labels(sink).inc()

    def sink_state(self, sink: str, up: bool) -> None:
        self.sink_up.labels(sink).set(1 if up else 0)


def build_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    r = CollectorRegistry(auto_describe=True) if registry is None else registry
    return Metrics(
        registry=r,
        frames_captured=Counter(
            "vigil_frames_captured_total", "Frames read from each camera", ["camera"], registry=r
        ),
        frames_dropped=Counter(
            "vigil_frames_dropped_total", "Frames dropped, by reason", ["camera", "reason"], registry=r
        ),
        frames_analysed=Counter(
            "vigil_frames_analysed_total", "Frames through the backbone", ["camera"], registry=r
        ),
        backbone_seconds=Histogram(
            "vigil_backbone_seconds", "Backbone time per batch", buckets=INFERENCE_BUCKETS, registry=r
        ),
        head_seconds=Histogram(
            "vigil_head_seconds",
            "Head (GRU, classifier, Grad-CAM) time per window",
            buckets=INFERENCE_BUCKETS,
            registry=r,
        ),
        decision_latency=Histogram(
            "vigil_decision_latency_seconds",
            "Capture of a window's newest frame to its decision",
            ["camera"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        ),
        ring_fill=Gauge(
            "vigil_ring_fill_ratio", "Fill of each camera's analysis ring (0..1)", ["camera"], registry=r
        ),
        camera_up=Gauge("vigil_camera_up", "1 while the camera delivers frames", ["camera"], registry=r),
        inference_up=Gauge(
            "vigil_inference_up",
            "1 while inference answers (a local bundle always; an inference server only while it serves)",
            registry=r,
        ),
        reconnects=Counter(
            "vigil_camera_reconnects_total", "Reopened camera connections", ["camera"], registry=r
        ),
        class_probability=Gauge(
            "vigil_class_probability", "Latest window's class probability", ["camera", "class"], registry=r
        ),
        alerts=Counter("vigil_alerts_total", "Alerts raised", ["camera", "class"], registry=r),
        model=Info("vigil_model", "The bundle in use", registry=r),
        frames_shown=Counter(
            "vigil_frames_shown_total",
            "Frames drawn for the guard, by whether heat is on them",
            ["camera", "heat"],
            registry=r,
        ),
        heat_jump=Histogram(
            "vigil_heat_peak_jump_ratio",
            "How far the heat's peak moved since the previous frame, as a share of the frame's diagonal",
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0),
            registry=r,
        ),
        draw_seconds=Histogram(
            "vigil_overlay_draw_seconds",
            "Drawing one displayed frame: its map, panel, tile",
            buckets=DRAW_BUCKETS,
            registry=r,
        ),
        sink_delivered_total=Counter(
            "vigil_sink_delivered_total", "Messages a sink acknowledged", ["sink"], registry=r
        ),
        sink_failed_total=Counter(
            "vigil_sink_failed_total", "Delivery attempts that failed (each is retried)", ["sink"], registry=r
        ),
        # Read from the queue: a gauge (dropped since this start), so not named _total.
        sink_dropped=Gauge(
            "vigil_sink_dropped_messages",
            "Messages dropped since start because a sink's queue was full or a queued file was unreadable",
            ["sink"],
            registry=r,
        ),
        sink_queued=Gauge("vigil_sink_queued_messages", "Messages waiting for a sink", ["sink"], registry=r),
        sink_up=Gauge("vigil_sink_up", "1 while a sink takes messages", ["sink"], registry=r),
        sink_since_success=Gauge(
            "vigil_sink_seconds_since_success",
            "Seconds since a sink last took a message (or since start)",
            ["sink"],
            registry=r,
        ),
    )


def zero_known_series(metrics: Metrics, cameras: list[str], anomaly_classes: list[str]) -> None:
    """Create every label set we know at start at zero: a counter's first event is then an increase
    that rate() and increase() see, instead of a series that appears already at 1."""
    for camera in cameras:
        metrics.frames_captured.labels(camera)
        metrics.frames_analysed.labels(camera)
        metrics.reconnects.labels(camera)
        metrics.camera_up.labels(camera).set(0)
        metrics.decision_latency.labels(camera)
        for heat in ("yes", "no"):
            metrics.frames_shown.labels(camera, heat)
        for reason in DROP_REASONS:
            metrics.frames_dropped.labels(camera, reason)
        for label in anomaly_classes:
            metrics.alerts.labels(camera, label)
