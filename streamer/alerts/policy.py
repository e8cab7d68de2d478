"""When to raise an alert: per-class thresholds, k-of-n window hysteresis, a cooldown per camera
and class."""

from __future__ import annotations

from collections import deque

import numpy as np

from streamer.config import AlertsConfig, ConfigError


class AlertPolicy:
    """Per camera and anomaly class: fire when the probability reached its threshold in k of the
    last n windows, and not again for that camera and class until the cooldown has passed."""

    def __init__(self, config: AlertsConfig, classes: tuple[str, ...], normal_class: str):
        unknown = sorted(set(config.class_thresholds) - set(classes))
        if unknown:
            raise ConfigError(
                f"alerts.class_thresholds: expected classes from {list(classes)}, got {unknown}"
            )
        self.classes = classes
        self.anomalies = [i for i, c in enumerate(classes) if c != normal_class]
        self.thresholds = {
            i: config.class_thresholds.get(classes[i], config.threshold) for i in self.anomalies
        }
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

    def holding(self, camera: str, index: int) -> bool:
        """Whether the class still reaches its threshold in k of the last n windows: an event
        lasts as long as this holds."""
        return sum(self.history.get((camera, index), ())) >= self.k
