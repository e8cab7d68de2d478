"""Every configured sink, each with its spool and worker: the alert log's thread hands each logged
line here, and it is queued on disk for every sink before this returns."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from streamer.config import SinksConfig
from streamer.metrics import Metrics
from streamer.sinks.delivery import SinkWorker
from streamer.sinks.messages import event_message, reset_message
from streamer.sinks.mqtt import MqttSink
from streamer.sinks.spool import Spool
from streamer.sinks.webhook import WebhookSink

logger = logging.getLogger(__name__)
QUEUES = "sinks"  # <alerts directory>/sinks/<sink name>/: each sink's queue


class Sinks:
    def __init__(
        self,
        config: SinksConfig,
        alert_dir: Path,
        cameras: list[str],
        classes: list[str],
        metrics: Metrics,
    ):
        self.cameras, self.classes = cameras, classes
        self.workers = [
            SinkWorker(sink, Spool(alert_dir / QUEUES / sink.name, queue_max), metrics, low, high)
            for sink, queue_max, low, high in _configured(config, alert_dir, cameras, classes)
        ]

    def start(self) -> None:
        """No event is open at start: every state is reset first (after what is still queued)."""
        for worker in self.workers:
            backlog = f", {len(worker.spool)} queued from before" if len(worker.spool) else ""
            logger.info("alert sink %s: %s%s", worker.sink.name, worker.sink.where, backlog)
        reset = reset_message(self.cameras, self.classes)
        self._put(reset, [w for w in self.workers if w.sink.keeps_state])
        for worker in self.workers:
            worker.start()

    def publish(self, line: dict) -> None:
        """Called with every line of the alert log, once it is written."""
        self._put(event_message(line))

    def _put(self, message: dict, workers: list[SinkWorker] | None = None) -> None:
        for worker in self.workers if workers is None else workers:
            try:
                worker.spool.put(message)
            except OSError as err:
                logger.error(
                    "sink %s: message for %s not queued: %s",
                    worker.sink.name,
                    message.get("id", message["type"]),
                    err.strerror or err,
                )

    def close(self, drain_s: float = 2.0, stop_s: float = 1.0) -> None:
        """Give the queues up to `drain_s` to empty while their sinks take messages, then stop
        every worker within `stop_s`: a stop takes seconds (systemd's TimeoutStopSec is 10) however
        many sinks hang, and what is left waits on disk for the next start."""
        deadline = time.monotonic() + drain_s
        while not all(w.drained() for w in self.workers) and time.monotonic() < deadline:
            time.sleep(0.02)
        for worker in self.workers:
            worker.stop()
        deadline = time.monotonic() + stop_s
        for worker in self.workers:
            worker.finish(deadline)


def _configured(config: SinksConfig, alert_dir: Path, cameras: list[str], classes: list[str]):
    """(sink, queue size, retry min, retry max) for each enabled sink."""
    if config.mqtt.enabled:
        m = config.mqtt
        yield MqttSink(m, cameras, classes, alert_dir), m.queue_max, m.retry_min_s, m.retry_max_s
    for hook in config.webhooks:
        if hook.enabled:
            yield WebhookSink(hook, alert_dir), hook.queue_max, hook.retry_min_s, hook.retry_max_s
