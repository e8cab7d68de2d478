"""Delivery latency of alerts to their sinks: from the alert's line written in the JSONL log to the
event arriving at a real MQTT subscriber (through Debian's mosquitto) and at a real HTTP endpoint,
both on loopback, side by side in one run; then the same MQTT storm with the broker killed for a
few seconds: how long after it is back every alert has arrived.

    python -m benchmarks.sinks --alerts 200 --rate 20 --out benchmarks/results/sinks-cpu.json
Runtime only (and mosquitto); prints JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import emit, machine_info
from streamer.alerts.log import AlertLog, AlertRecorder
from streamer.alerts.record import build_alert
from streamer.config import MqttConfig, OverlayConfig, SinksConfig, WebhookConfig
from streamer.metrics import build_metrics
from streamer.sinks.fanout import Sinks
from testbed.alerts import analysis_of
from testbed.mqtt import Broker, Subscriber
from testbed.webhook import Endpoint

CLASSES = ("normal", "fight", "shooting")


def percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p95_ms": round(float(np.percentile(a, 95)), 2),
        "max_ms": round(float(a.max()), 2),
    }


class Storm:
    """`count` alerts through the real alert log and sinks at `rate` a second; the wall time each
    line was written (handed to the sinks right after), by alert id."""

    def __init__(self, folder: Path, sinks_config: SinksConfig):
        self.written: dict[str, float] = {}
        self.sinks = Sinks(
            sinks_config, folder, [f"cam{i}" for i in range(4)], ["fight", "shooting"], build_metrics()
        )
        publish = self.sinks.publish

        def stamped(line: dict) -> None:
            if line["type"] == "alert":
                self.written[line["id"]] = time.time()
            publish(line)

        self.recorder = AlertRecorder(
            OverlayConfig(), AlertLog(folder, 10**8, 1), CLASSES, "HiResCAM", stamped
        )
        self.sinks.start()
        self.recorder.start()

    def run(self, count: int, rate: float, during=None) -> None:
        start = time.monotonic()
        for i in range(count):
            analysis = analysis_of(f"cam{i % 4}", newest_wall=1_700_000_000.0 + i)
            self.recorder.submit(build_alert(analysis, 1 + i % 2, CLASSES, time.time()))
            if during is not None:
                during(i)
            time.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))

    def close(self) -> None:
        self.recorder.close()
        self.sinks.close()


def mqtt_arrivals(subscriber: Subscriber) -> dict[str, float]:
    """First arrival of each alert's `new` event."""
    out: dict[str, float] = {}
    for m in subscriber.on("vigil/events"):
        event = json.loads(m.payload)
        if event["type"] == "new":
            out.setdefault(event["id"], m.at)
    return out


def endpoint_arrivals(endpoint: Endpoint) -> dict[str, float]:
    out: dict[str, float] = {}
    for r, event in zip(list(endpoint.received), endpoint.events(), strict=False):
        if event["type"] == "new":
            out.setdefault(event["id"], r["at"])
    return out


def wait_all(arrivals, expected: set[str], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = arrivals()
        if expected <= set(got):
            return got
        time.sleep(0.05)
    return arrivals()


def steady(folder: Path, count: int, rate: float) -> dict:
    """MQTT and a webhook in one monitor, every alert to both: latency of each."""
    broker = Broker(folder / "broker").start()
    endpoint = Endpoint().start()
    subscriber = Subscriber(broker.port)
    config = SinksConfig(
        mqtt=MqttConfig(enabled=True, host="127.0.0.1", port=broker.port, snapshots=True),
        webhooks=(WebhookConfig(name="hook", url=endpoint.url, secret="k", snapshot=True),),
    )
    storm = Storm(folder / "alerts", config)
    try:
        storm.run(count, rate)
        expected = set(storm.written)
        mqtt_got = wait_all(lambda: mqtt_arrivals(subscriber), expected, 30)
        hook_got = wait_all(lambda: endpoint_arrivals(endpoint), expected, 30)
    finally:
        storm.close()
        subscriber.close()
        endpoint.stop()
        broker.stop()
    return {
        "mqtt": {**percentiles([(mqtt_got[i] - t) * 1000 for i, t in storm.written.items() if i in mqtt_got]),
                 "missing": len(expected - set(mqtt_got))},
        "webhook_multipart": {
            **percentiles([(hook_got[i] - t) * 1000 for i, t in storm.written.items() if i in hook_got]),
            "missing": len(expected - set(hook_got)),
        },
    }  # fmt: skip


def outage(folder: Path, count: int, rate: float, down_s: float) -> dict:
    """The broker killed (SIGKILL) a third of the way through the storm and restarted `down_s` later."""
    broker = Broker(folder / "broker").start()
    subscriber = Subscriber(broker.port)
    storm = Storm(
        folder / "alerts", SinksConfig(mqtt=MqttConfig(enabled=True, host="127.0.0.1", port=broker.port))
    )
    marks: dict[str, float] = {}

    def during(i: int) -> None:
        if i == count // 3:
            broker.kill()
            marks["down"] = time.time()
        if "down" in marks and "up" not in marks and time.time() - marks["down"] >= down_s:
            broker.start()
            marks["up"] = time.time()

    try:
        storm.run(count, rate, during)
        if "up" not in marks:
            time.sleep(max(0.0, marks["down"] + down_s - time.time()))
            broker.start()
            marks["up"] = time.time()
        expected = set(storm.written)
        got = wait_all(lambda: mqtt_arrivals(subscriber), expected, 60)
    finally:
        storm.close()
        subscriber.close()
        broker.stop()
    during_outage = [i for i, t in storm.written.items() if marks["down"] <= t < marks["up"]]
    return {
        "broker_down_s": round(marks["up"] - marks["down"], 2),
        "alerts_logged_while_down": len(during_outage),
        "missing": len(expected - set(got)),
        # When the last alert logged before the broker came back arrived: the backlog drained.
        "backlog_drained_s_after_broker_back": round(
            max(got[i] for i, t in storm.written.items() if t < marks["up"] and i in got) - marks["up"], 2
        ),
        "after_outage": percentiles(
            [(got[i] - t) * 1000 for i, t in storm.written.items() if i in got and t >= marks["up"] + 5]
        ) if any(t >= marks["up"] + 5 for t in storm.written.values()) else None,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="alerts a second (an alert storm)")
    parser.add_argument("--down", type=float, default=3.0, help="seconds the broker is away")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        report = {
            "machine": machine_info(),
            "alerts": args.alerts,
            "rate_per_s": args.rate,
            "steady": steady(Path(tmp) / "steady", args.alerts, args.rate),
            "broker_killed": outage(Path(tmp) / "outage", args.alerts, args.rate, args.down),
        }
    emit(report, args.out)


if __name__ == "__main__":
    main()
