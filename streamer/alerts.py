"""Alerts: when to raise one (thresholds, k-of-n hysteresis, cooldown), and a log that never loses one."""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from pathlib import Path

import numpy as np

from streamer.config import AlertsConfig, ConfigError

LOG_NAME = "alerts.jsonl"


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
