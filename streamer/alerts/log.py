"""The alert log: a thread that writes each alert's snapshot, then its line, in order, and never
loses a line nor names a file that is not there.

The log holds three kinds of line, joined by "id":
- "alert": written as soon as the snapshot (the decision's newest frame with its own map) is on
  disk; names that snapshot. The clip is still being recorded (post-roll), so it is not named.
- "clip": written once the clip (and its copy without drawing, "raw_clip") is finished and
  renamed to its final name; names both.
- "end": the alert's class has calmed down on that camera (or the monitor stopped): the event is
  over.
Each line, once written, is handed to the alert sinks (MQTT, webhooks), which queue it on disk.
A clip being recorded is `<id>.recording.mp4`: after `kill -9` only such files can be unfinished,
and no line names them.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2

from streamer.alerts.record import Alert, snapshot_picture, utc, window_strip
from streamer.config import OverlayConfig

logger = logging.getLogger(__name__)
LOG_NAME = "alerts.jsonl"
RECORDING_SUFFIX = ".recording.mp4"


class AlertLog:
    """Append-only JSON lines, each written by one write() and fsynced. A kill -9 can cut only the
    line being written (Linux checks for a fatal signal between pages of one write), and the next
    start ends such a fragment with a newline, so every other line is whole. Rotates by size,
    keeping `backups` old files."""

    def __init__(self, directory: Path, max_bytes: int, backups: int):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / LOG_NAME
        self.max_bytes, self.backups = max_bytes, backups
        self._lock = threading.Lock()
        self._fd = self._open()
        self._end_torn_line()

    def _end_torn_line(self) -> None:
        """A last line cut short (power loss, a full disk) is closed, so the next line starts a line
        of its own instead of being glued to the fragment."""
        if os.fstat(self._fd).st_size == 0:
            return
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                os.write(self._fd, b"\n")

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

    def open_events(self) -> list[dict]:
        """Alert lines of the current file with no "end" line: events a run stopped by force left
        open. Torn or foreign lines are skipped."""
        opened: dict[str, dict] = {}
        try:
            text = self.path.read_text(errors="replace")
        except OSError:
            return []
        for raw in text.splitlines():
            try:
                line = json.loads(raw)
                kind, ident = line["type"], line["id"]
            except (ValueError, KeyError, TypeError):
                continue
            if kind == "alert":
                opened[ident] = line
            elif kind == "end":
                opened.pop(ident, None)
        return list(opened.values())

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1


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
        part.unlink(missing_ok=True)  # no half file left beside the log
        raise
    os.replace(part, path)
    sync_folder(path.parent)


def write_jpeg(path: Path, picture) -> None:
    """A picture as a JPEG, durably (write_durably); OSError when it cannot be."""
    ok, jpeg = cv2.imencode(".jpg", picture)
    if not ok:
        raise OSError("JPEG encoding failed")
    write_durably(path, jpeg.tobytes())


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

    def __init__(
        self,
        config: OverlayConfig,
        log: AlertLog,
        classes: tuple[str, ...],
        map_name: str,
        publish: Callable[[dict], None] | None = None,
    ):
        super().__init__(name="alerts", daemon=True)
        self.log, self.classes, self.map_name, self.config = log, classes, map_name, config
        self.directory = log.directory
        self.publish = publish  # Sinks.publish: each line, once logged
        self._queue: queue.Queue = queue.Queue()  # unbounded: alerts are rare, and none may be lost

    def submit(self, alert: Alert) -> None:
        self._queue.put(("alert", alert))

    def event_ended(
        self, alert_id: str, camera: str, label: str, reason: str, trace: dict | None = None
    ) -> None:
        """trace: {"classes": [...], "points": [[seconds from the alert, p0, p1, ...], ...]}, the
        probabilities before and through the event (a reviewer's chart)."""
        record = {
            "type": "end",
            "id": alert_id,
            "time_utc": utc(time.time()),
            "camera": camera,
            "class": label,
            "reason": reason,
        }
        if trace is not None:
            record["trace"] = trace
        self._queue.put(("end", record))

    def clip_finished(
        self, alert_id: str, camera: str, label: str, clip: Path, frames: int, raw: Path
    ) -> None:
        self._queue.put(
            (
                "clip",
                {
                    "type": "clip",
                    "id": alert_id,
                    "time_utc": utc(time.time()),
                    "camera": camera,
                    "class": label,
                    "clip": clip.name,
                    "raw_clip": raw.name,
                    "frames": frames,
                },
            )
        )

    def run(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._CLOSE:
                return
            kind, payload = item
            try:
                self._logged(self._write_alert(payload) if kind == "alert" else self._append(payload))
            except OSError as err:  # a full disk must not end the monitor; the next alert tries again
                logger.error(
                    "alert log: cannot write %s %s: %s",
                    kind,
                    payload.id if kind == "alert" else payload["id"],
                    err,
                )

    def _append(self, record: dict) -> dict:
        self.log.append(record)
        return record

    def _logged(self, record: dict) -> None:
        """A sink never stands between two log lines: publishing only queues the line on disk."""
        if self.publish is not None:
            self.publish(record)

    def _write_alert(self, alert: Alert) -> dict:
        record = {**alert.record, "map_method": self.map_name}
        snapshot = self.directory / f"{alert.id}.jpg"
        try:
            write_jpeg(snapshot, snapshot_picture(alert, self.classes, self.map_name, self.config))
            record["snapshot"] = snapshot.name
        except OSError as err:  # the alert still counts: logged, saying why it has no picture
            logger.error("%s: alert snapshot not written: %s", alert.analysis.camera, err)
            record["snapshot"] = None
            record["snapshot_error"] = str(err.strerror or err)
        strip = window_strip(alert, self.config) if record["snapshot"] else None
        if strip is not None:  # the window the guard's decision came from, for the reviewer
            try:
                write_jpeg(self.directory / f"{alert.id}.window.jpg", strip)
                record["window_strip"] = f"{alert.id}.window.jpg"
            except OSError as err:
                logger.error("%s: alert window strip not written: %s", alert.analysis.camera, err)
        self.log.append(record)
        logger.warning(
            "%s: ALERT %s (%.2f): %s", alert.analysis.camera, alert.label, record["score"], record["snapshot"]
        )
        return record

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then close the log."""
        self._queue.put(self._CLOSE)
        if self.is_alive():
            self.join(timeout)
            if self.is_alive():
                logger.error("alert writer still busy after %.0f s; log left open", timeout)
                return
        elif self.ident is None:  # never started (a failed start-up): write what is queued here
            self.run()
        self.log.close()
