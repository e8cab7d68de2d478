"""The review audit log: every reviewer's decision on an alert, appended and fsynced, never edited.
An alert's state is its latest decision; each line says who, when, what, and the state before."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from streamer.alerts.record import utc
from streamer.console.catalog import read_lines

REVIEWS_NAME = "reviews.jsonl"
DECISIONS = ("confirmed", "false_alarm")
MAX_NOTE = 2000


class ReviewError(Exception):
    """A decision that cannot be recorded: says why."""


class ReviewLog:
    """Append-only JSON lines beside the alert log (one fsynced write each, as the alert log's)."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / REVIEWS_NAME
        self._lock = threading.Lock()

    def read(self) -> list[dict]:
        return [line for line in read_lines(self.path) if line.get("type") == "review"]

    def decide(self, alert_id: str, user: str, decision: str, note: str, now: float) -> dict:
        """Append one decision; the state it replaces is read under the same lock, so two reviewers
        at once each see the other's decision as 'previous'."""
        if decision not in DECISIONS:
            raise ReviewError(f"decision: expected one of {list(DECISIONS)}, got {decision!r}")
        note = note.strip()
        if len(note) > MAX_NOTE:
            raise ReviewError(f"note: expected at most {MAX_NOTE} characters, got {len(note)}")
        with self._lock:
            earlier = [r for r in self.read() if r.get("alert") == alert_id]
            line = {
                "type": "review",
                "id": f"{alert_id}/review/{len(earlier) + 1}",
                "alert": alert_id,
                "time_utc": utc(now),
                "user": user,
                "decision": decision,
                "previous": earlier[-1]["decision"] if earlier else "unreviewed",
                "note": note,
            }
            data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":  # a line torn by a crash stays alone
                    data = b"\n" + data
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        return line
