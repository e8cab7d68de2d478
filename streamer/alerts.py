"""Alerts: when to raise one (thresholds, k-of-n hysteresis, cooldown), the record and its
evidence, and a log that never loses a line nor names a file that is not there.

The log holds two kinds of line, joined by "id":
- "alert": written as soon as the snapshot (the decision's newest frame with its own map) is on
  disk; names that snapshot. The clip is still being recorded (post-roll), so it is not named.
- "clip": written once the clip is finished and renamed to its final name; names it.
A clip being recorded is `<id>.recording.mp4`: after `kill -9` only such files can be unfinished,
and no line names them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer import cam as camlib
from streamer import overlay
from streamer.config import AlertsConfig, ConfigError, OverlayConfig
from streamer.types import Analysis

logger = logging.getLogger(__name__)
LOG_NAME = "alerts.jsonl"
RECORDING_SUFFIX = ".recording.mp4"


class AlertPolicy:
    """Per camera and anomaly class: fire when the probability reached its threshold in k of the
    last n windows, and not again for that camera and class until the cooldown has passed."""

    def __init__(self, classes: tuple[str, ...], normal_class: str, config: AlertsConfig):
        unknown = sorted(set(config.class_thresholds) - set(classes))
        if unknown:
            raise ConfigError(f"alerts.class_thresholds: expected classes from {list(classes)}, got {unknown}")
        self.classes = classes
        self.anomalies = [i for i, c in enumerate(classes) if c != normal_class]
        self.thresholds = {i: config.class_thresholds.get(classes[i], config.threshold) for i in self.anomalies}
        self.k, self.n, self.cooldown = config.k, config.n, config.cooldown_s
        self.history: dict[tuple[str, int], deque] = {}
        self.last_fired: dict[tuple[str, int], float] = {}

    def update(self, camera: str, probs: np.ndarray, now: float) -> list[int]:
        """Classes that fire for this window."""
        fired = []
        for i in self.anomalies:
            key = (camera, i)
            history = self.history.setdefault(key, deque(maxlen=self.n))
            history.append(bool(probs[i] >= self.thresholds[i]))
            if sum(history) >= self.k and now - self.last_fired.get(key, -np.inf) >= self.cooldown:
                self.last_fired[key] = now
                fired.append(i)
        return fired


class AlertLog:
    """Append-only JSON lines, each written by one write() and fsynced: a line is whole or absent,
    even if the process is killed. Rotates by size, keeping `backups` old files."""

    def __init__(self, directory: Path, max_bytes: int, backups: int):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / LOG_NAME
        self.max_bytes, self.backups = max_bytes, backups
        self._lock = threading.Lock()
        self._fd = self._open()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def append(self, record: dict) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if os.fstat(self._fd).st_size + len(line) > self.max_bytes:
                self._rotate()
            os.write(self._fd, line)
            os.fsync(self._fd)

    def _rotate(self) -> None:
        os.close(self._fd)
        for i in range(self.backups, 0, -1):
            older = self.path.with_name(f"{LOG_NAME}.{i}")
            newer = self.path.with_name(f"{LOG_NAME}.{i - 1}") if i > 1 else self.path
            if i == self.backups and older.exists():
                older.unlink()
            if newer.exists():
                newer.rename(older)
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        self._fd = self._open()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1


def utc(wall: float) -> str:
    """ISO 8601 UTC with milliseconds: the one time format of alert records."""
    return dt.datetime.fromtimestamp(wall, dt.timezone.utc).isoformat(timespec="milliseconds")


def alert_id(analysis: Analysis, label: str) -> str:
    """`<UTC of the newest frame>_<camera>_<class>`: the stem of every file of one alert."""
    stamp = dt.datetime.fromtimestamp(analysis.walls[-1], dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%f")[:-3]
    return f"{stamp}_{analysis.camera}_{label}"


@dataclass(frozen=True)
class Alert:
    """One raised alert: its record (the log line, less the evidence) and the decision behind it."""

    id: str
    label: str
    record: dict
    analysis: Analysis


def build_alert(analysis: Analysis, index: int, classes: tuple[str, ...], now_wall: float) -> Alert:
    """The alert's record: when, where, what, how sure, which frames, and the strongest regions of
    the newest frame's map when it explains this class."""
    label = classes[index]
    regions = []
    if analysis.explained == index and analysis.image is not None:
        regions = camlib.strongest_regions(camlib.upsample(analysis.cams[-1], analysis.frame_size))
    ident = alert_id(analysis, label)
    record = {"type": "alert", "id": ident, "time_utc": utc(now_wall), "camera": analysis.camera,
              "class": label, "score": round(float(analysis.probs[index]), 4),
              "window_start_utc": utc(analysis.walls[0]), "window_end_utc": utc(analysis.walls[-1]),
              "window_frames": [analysis.seqs[0], analysis.seqs[-1]], "boxes": regions}
    return Alert(ident, label, record, analysis)


def snapshot_picture(alert: Alert, classes: tuple[str, ...], cam_name: str, config: OverlayConfig) -> np.ndarray:
    """The decision's newest frame with its own map (heatmap and contours, whatever the guard's
    keys), the evidence boxes, the panel and the alert banner: what an investigator opens first."""
    a = alert.analysis
    picture = a.image.copy()
    overlay.draw_explanation(picture, a.cams[-1], a.cam_scale, config)
    overlay.draw_boxes(picture, [tuple(r["box"]) for r in alert.record["boxes"]])
    overlay.draw_panel(picture, overlay.Panel(a.camera, classes, a.probs, classes[a.explained], cam_name,
                                              alert=alert.label, latency=a.latency))
    return picture


def write_durably(path: Path, data: bytes) -> None:
    """Whole or absent under its name, even after a crash: written aside, fsynced, renamed, and the
    folder fsynced so the name itself survives."""
    part = path.with_name(path.name + ".tmp")
    try:
        with open(part, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        part.unlink(missing_ok=True)      # no half file left beside the log
        raise
    os.replace(part, path)
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AlertRecorder(threading.Thread):
    """The `alerts` thread: writes each alert's snapshot, then its line; later its clip's line. One
    queue keeps the order; the inference thread never waits on the disk. It drains its queue before
    it ends, so a clean stop leaves every raised alert logged."""

    _CLOSE = object()

    def __init__(self, log: AlertLog, classes: tuple[str, ...], cam_name: str, config: OverlayConfig):
        super().__init__(name="alerts", daemon=True)
        self.log, self.classes, self.cam_name, self.config = log, classes, cam_name, config
        self.directory = log.directory
        self._queue: queue.Queue = queue.Queue()     # unbounded: alerts are rare, and none may be lost

    def submit(self, alert: Alert) -> None:
        self._queue.put(("alert", alert))

    def clip_finished(self, alert_id: str, camera: str, label: str, clip: Path, frames: int) -> None:
        self._queue.put(("clip", {"type": "clip", "id": alert_id, "time_utc": utc(time.time()), "camera": camera,
                                  "class": label, "clip": clip.name, "frames": frames}))

    def run(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._CLOSE:
                return
            kind, payload = item
            try:
                self._write_alert(payload) if kind == "alert" else self.log.append(payload)
            except OSError as err:   # a full disk must not end the monitor; the next alert tries again
                logger.error("alert log: cannot write %s %s: %s", kind, payload.get("id") if isinstance(payload, dict)
                             else payload.id, err)

    def _write_alert(self, alert: Alert) -> None:
        record = dict(alert.record)
        snapshot = self.directory / f"{alert.id}.jpg"
        try:
            ok, jpeg = cv2.imencode(".jpg", snapshot_picture(alert, self.classes, self.cam_name, self.config))
            if not ok:
                raise OSError("JPEG encoding failed")
            write_durably(snapshot, jpeg.tobytes())
            record["snapshot"] = snapshot.name
        except OSError as err:   # the alert still counts: logged, saying why it has no picture
            logger.error("%s: alert snapshot not written: %s", alert.analysis.camera, err)
            record["snapshot"] = None
            record["snapshot_error"] = str(err.strerror or err)
        self.log.append(record)
        logger.warning("%s: ALERT %s (%.2f): %s", alert.analysis.camera, alert.label, record["score"],
                       record["snapshot"])

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then close the log."""
        self._queue.put(self._CLOSE)
        if self.is_alive():
            self.join(timeout)
            if self.is_alive():
                logger.error("alert writer still busy after %.0f s; log left open", timeout)
                return
        elif self.ident is None:    # never started (a failed start-up): write what is queued here
            self.run()
        self.log.close()
