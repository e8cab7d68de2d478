"""One thread per sink: takes messages from its spool in order and delivers each until the sink
acknowledges it, backing off while the sink is down. The alert log and the inference thread never
wait on it."""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from streamer.metrics import Metrics
from streamer.sinks.spool import Spool

logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The sink did not take the message (down, refused, timed out): it will be tried again."""


class Sink(Protocol):
    name: str
    where: str  # for the log: the broker or URL, credentials redacted
    timeout_s: float  # the longest one delivery may take
    keeps_state: bool  # holds per-camera states that a restart resets (MQTT's retained topics)

    def open(self) -> None:
        """Start connecting (in the background: never raises, never blocks for long)."""

    def deliver(self, message: dict) -> None:
        """Return once the sink has acknowledged the message; raise DeliveryError otherwise."""

    def reachable(self) -> bool | None:
        """Whether the sink is connected now, for one that holds a connection (None: unknown until
        the next delivery)."""

    def close(self) -> None: ...


class SinkWorker(threading.Thread):
    """The `sink-<name>` thread: the oldest queued message until the sink takes it, then the next."""

    def __init__(self, sink: Sink, spool: Spool, metrics: Metrics, retry_min_s: float, retry_max_s: float):
        super().__init__(name=f"sink-{sink.name}", daemon=True)
        self.sink, self.spool, self.metrics = sink, spool, metrics
        self.retry_min_s, self.retry_max_s = retry_min_s, retry_max_s
        self._stopping = threading.Event()
        self._up: bool | None = None
        metrics.sink_started(sink.name, spool)

    def run(self) -> None:
        self.sink.open()
        delay = self.retry_min_s
        while not self._stopping.is_set():
            item = self.spool.peek(timeout=0.2)
            if item is None:
                reachable = self.sink.reachable()
                if reachable is not None and reachable != self._up:
                    self._state(reachable, "connection lost")
                continue
            name, message = item
            try:
                self.sink.deliver(message)
            except DeliveryError as err:
                self.metrics.sink_failed(self.sink.name)
                self._state(False, str(err))
                self._back_off(delay)
                delay = min(delay * 2, self.retry_max_s)
                continue
            except Exception as err:  # a message the sink cannot even form (a damaged queue file)
                self.spool.discard(name, f"cannot be sent ({type(err).__name__}: {err})")
                continue
            self.spool.remove(name)
            self.metrics.sink_delivered(self.sink.name)
            self._state(True, "")
            delay = self.retry_min_s

    def _back_off(self, delay: float) -> None:
        """Wait before the next try; cut short when a lost connection comes back, so a queue built
        up during an outage starts draining at once."""
        was_reachable = self.sink.reachable()
        deadline = time.monotonic() + delay
        while not self._stopping.is_set() and time.monotonic() < deadline:
            if was_reachable is False and self.sink.reachable():
                return
            self._stopping.wait(min(0.05, delay))

    def _state(self, up: bool, why: str) -> None:
        """sink_up, and one log line per change (not one per retry)."""
        self.metrics.sink_state(self.sink.name, up)
        if up != self._up:
            if up:
                logger.info("sink %s: delivering (%d queued)", self.sink.name, len(self.spool))
            else:
                logger.error("sink %s: %s; %d queued, retrying", self.sink.name, why, len(self.spool))
        self._up = up

    def drained(self) -> bool:
        """Nothing more to wait for: the queue is empty, or the sink is down, or the thread ended."""
        return not len(self.spool) or not self._up or not self.is_alive()

    def stop(self) -> None:
        self._stopping.set()

    def finish(self, deadline: float) -> None:
        """Wait for the thread until `deadline` (a delivery in flight may outlast it: the thread is
        a daemon, and its message stays queued on disk), then close the sink."""
        if self.is_alive():
            self.join(timeout=max(0.0, deadline - time.monotonic()))
        if self.is_alive():
            logger.warning(
                "sink %s: still delivering at shutdown; %d queued message(s) wait on disk",
                self.sink.name,
                len(self.spool),
            )
        self.sink.close()
