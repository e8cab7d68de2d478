"""From a decided window to raised alerts: the policy says which classes fire, then each alert's
record (its evidence from its own class's map) goes to the log's thread (snapshot, then line) and
its clip to the compositor. An alert opens an event, which ends when its class no longer holds
(k of n) on that camera, when the same class fires again, or when the monitor stops."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from streamer.alerts.log import AlertRecorder
from streamer.alerts.policy import AlertPolicy
from streamer.alerts.record import Alert, build_alert
from streamer.config import AlertsConfig
from streamer.types import Analysis

# Decisions kept per camera before an alert, and at most per event: an event's trace shows the
# probabilities leading up to it (at a head every 0.4 s, about 6 s) and through it.
TRACE_BEFORE = 16
TRACE_MAX = 600
# (camera, alert id, class, capture time of the decision's newest frame, post-roll s, folder)
ClipStarter = Callable[[str, str, str, float, float, Path], None]


class Alerting:
    """Called on the inference thread for every decision; never touches the disk itself."""

    def __init__(
        self,
        config: AlertsConfig,
        classes: tuple[str, ...],
        normal_class: str,
        directory: Path,
        recorder: AlertRecorder,
        start_clip: ClipStarter,
        count: Callable[[str, str], None],
        head: Callable | None = None,
    ):
        self.config, self.classes, self.directory = config, classes, directory
        self.policy = AlertPolicy(config, classes, normal_class)
        self.recorder, self.start_clip, self.count = recorder, start_clip, count
        self.head = head  # Bundle.head: the map of an alert's own class when another was explained
        self.raised = 0
        self.open_events: dict[tuple[str, int], str] = {}  # (camera, class index) -> its alert's id
        self.recent: dict[str, deque] = {}  # camera -> its last decisions (wall time, probs)
        self.traces: dict[str, tuple[float, list]] = {}  # alert id -> (its wall time, points)

    def decide(self, analysis: Analysis) -> list[Alert]:
        alerts = []
        fired = self.policy.update(analysis.camera, analysis.probs, analysis.decided_at)
        self._trace(analysis)
        for key in [k for k in self.open_events if k[0] == analysis.camera]:
            if key[1] in fired:
                self._end(key, "raised again")
            elif not self.policy.holding(*key):
                self._end(key, "calm")
        for index in fired:
            own = analysis.explained_as(index, self.head) if self.head is not None else analysis
            alert = build_alert(own, index, self.classes, time.time())
            self.recorder.submit(alert)
            self.start_clip(
                analysis.camera,
                alert.id,
                alert.label,
                analysis.stamps[-1],
                self.config.post_roll_s,
                self.directory,
            )
            self.count(analysis.camera, alert.label)
            self.raised += 1
            self.open_events[(analysis.camera, index)] = alert.id
            # The trace starts with the decisions that led up to the alert, this one included.
            self.traces[alert.id] = (self.recent[analysis.camera][-1][0], list(self.recent[analysis.camera]))
            alerts.append(alert)
        return alerts

    def end_all(self, reason: str = "monitor stopped") -> None:
        for key in list(self.open_events):
            self._end(key, reason)

    def _trace(self, analysis: Analysis) -> None:
        point = (analysis.walls[-1] if analysis.walls else time.time(), analysis.probs)
        self.recent.setdefault(analysis.camera, deque(maxlen=TRACE_BEFORE)).append(point)
        for (camera, _), alert_id in self.open_events.items():
            if camera == analysis.camera and alert_id in self.traces:
                points = self.traces[alert_id][1]
                points.append(point)
                if len(points) > TRACE_MAX:  # a very long event: every other point, evenly thinned
                    del points[::2]

    def _end(self, key: tuple[str, int], reason: str) -> None:
        alert_id = self.open_events.pop(key)
        at, points = self.traces.pop(alert_id)
        trace = {
            "classes": list(self.classes),
            "points": [[round(t - at, 2), *(round(float(v), 4) for v in probs)] for t, probs in points],
        }
        self.recorder.event_ended(alert_id, key[0], self.classes[key[1]], reason, trace)
