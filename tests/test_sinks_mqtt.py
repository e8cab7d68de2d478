"""Alerts over MQTT with a real broker (Debian's mosquitto) and a real subscriber: every topic and
payload, Home Assistant discovery, availability and last will, the broker killed during an alert
storm, the monitor restarted with a full queue, a password with reserved characters."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time

import pytest

from streamer.alerts.log import LOG_NAME, AlertLog, AlertRecorder
from streamer.alerts.record import build_alert
from streamer.config import MqttConfig, OverlayConfig, SinksConfig, parse_config
from streamer.metrics import build_metrics
from streamer.sinks.fanout import QUEUES, Sinks
from testbed.alerts import analysis_of
from testbed.mqtt import Broker, Subscriber, make_certificates, mosquitto_available
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not mosquitto_available(), reason="needs mosquitto (apt install mosquitto)")
CLASSES = ("normal", "fight", "shooting")


@pytest.fixture
def broker(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    yield broker
    broker.stop()


def mqtt_sinks(port: int, alert_dir, cameras=("gate",), metrics=None, **overrides) -> Sinks:
    config = MqttConfig(enabled=True, host="127.0.0.1", port=port, retry_min_s=0.1, retry_max_s=0.5)
    config = MqttConfig(**{**config.__dict__, **overrides})
    return Sinks(
        SinksConfig(mqtt=config), alert_dir, list(cameras), ["fight", "shooting"], metrics or build_metrics()
    )


def logging_to_mqtt(port: int, alert_dir, metrics) -> tuple[Sinks, AlertRecorder]:
    """The real alert log's thread handing each line to an MQTT sink, both started."""
    sinks = mqtt_sinks(port, alert_dir, metrics=metrics)
    recorder = AlertRecorder(
        OverlayConfig(), AlertLog(alert_dir, 10**6, 1), CLASSES, "HiResCAM", sinks.publish
    )
    sinks.start()
    recorder.start()
    return sinks, recorder


def monitor_config(bundle, clip, tmp_path, port: int) -> dict:
    """`vigil run` on a looping clip, a fight alert every half second, alerts to MQTT on `port`."""
    from tests.test_monitor import config_dict

    return config_dict(
        bundle,
        [{"name": "street", "source": str(clip), "loop": True}],
        tmp_path,
        alerts={"class_thresholds": {"shooting": 1.0}, "cooldown_s": 0.5},
        sinks={"mqtt": {"enabled": True, "host": "127.0.0.1", "port": port, "retry_min_s": 0.1}},
    )


def events(subscriber: Subscriber, kind: str = "new") -> list[dict]:
    found = [json.loads(m.payload) for m in subscriber.on("vigil/events")]
    return [e for e in found if e["type"] == kind]


def log_lines(directory) -> list[dict]:
    return [json.loads(x) for x in (directory / LOG_NAME).read_text().splitlines()]


def test_every_topic_and_payload_of_an_event_from_alert_to_end(broker, tmp_path):
    subscriber = Subscriber(broker.port)
    alert_dir, metrics = tmp_path / "alerts", build_metrics()
    sinks, recorder = logging_to_mqtt(broker.port, alert_dir, metrics)
    alert = build_alert(analysis_of("gate"), 1, CLASSES, 1_700_000_001.0)
    recorder.submit(alert)
    recorder.clip_finished(
        alert.id, "gate", "fight", alert_dir / f"{alert.id}.mp4", 12, alert_dir / f"{alert.id}.raw.mp4"
    )
    recorder.event_ended(alert.id, "gate", "fight", "calm")
    assert subscriber.wait_for(lambda ms: sum(m.topic == "vigil/events" for m in ms) == 3)
    recorder.close()
    sinks.close()
    assert subscriber.wait_for(lambda ms: ms[-1].payload == b"offline")
    subscriber.close()

    new, update, end = (events(subscriber, kind) for kind in ("new", "update", "end"))
    (line, clip, ended) = log_lines(alert_dir)
    assert new == [{**line, "type": "new"}] and update == [{**clip, "type": "update"}]
    assert end == [{**ended, "type": "end"}] and ended["reason"] == "calm"
    event = new[0]
    for key in ("id", "camera", "class", "score", "window_start_utc", "window_end_utc", "boxes", "snapshot"):
        assert key in event, key
    assert event["map_method"] == "HiResCAM" and event["boxes"] and update[0]["clip"] == f"{alert.id}.mp4"
    (snapshot,) = subscriber.on("vigil/gate/snapshot")
    assert (
        snapshot.payload == (alert_dir / line["snapshot"]).read_bytes()[:]
        and snapshot.payload[:2] == b"\xff\xd8"
    )
    # The state goes OFF (reset at start), ON with the alert, OFF when the event ends.
    assert [m.payload for m in subscriber.on("vigil/gate/fight")] == [b"OFF", b"ON", b"OFF"]
    assert [m.payload for m in subscriber.on("vigil/gate/shooting")] == [b"OFF"]
    assert [m.payload for m in subscriber.on("vigil/available")] == [b"online", b"offline"]
    # Home Assistant discovery: a safety binary sensor per class, a camera entity, availability wired.
    config = {
        m.topic: json.loads(m.payload) for m in subscriber.messages if m.topic.startswith("homeassistant/")
    }
    sensor = config["homeassistant/binary_sensor/vigil/gate_fight/config"]
    assert sensor["state_topic"] == "vigil/gate/fight" and sensor["device_class"] == "safety"
    assert sensor["availability_topic"] == "vigil/available" and sensor["payload_on"] == "ON"
    assert "homeassistant/binary_sensor/vigil/gate_shooting/config" in config
    assert config["homeassistant/camera/vigil/gate_snapshot/config"]["topic"] == "vigil/gate/snapshot"
    sample = metrics.registry.get_sample_value
    assert sample("vigil_sink_delivered_total", {"sink": "mqtt"}) == 4  # reset, new, update, end
    assert sample("vigil_sink_queued_messages", {"sink": "mqtt"}) == 0


def wait_delivered(metrics, count: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metrics.registry.get_sample_value("vigil_sink_delivered_total", {"sink": "mqtt"}) == count:
            return True
        time.sleep(0.05)
    return False


def test_retained_state_and_a_late_subscriber_and_home_assistant_coming_online(broker, tmp_path):
    metrics = build_metrics()
    sinks = mqtt_sinks(broker.port, tmp_path / "alerts", metrics=metrics)
    sinks.start()
    sinks.publish({"type": "alert", "id": "a1", "camera": "gate", "class": "fight", "snapshot": None})
    assert wait_delivered(metrics, 2)  # the reset, then the alert: before anyone listens
    late = Subscriber(broker.port, client_id="late")
    assert late.wait_for(lambda ms: any(m.topic == "vigil/gate/fight" and m.payload == b"ON" for m in ms))
    (state,) = late.on("vigil/gate/fight")
    assert state.retain  # a dashboard opened later still sees the camera's state
    assert late.on("vigil/available")[0].payload == b"online"
    discovered = len(late.on("homeassistant/binary_sensor/vigil/gate_fight/config"))
    late.client.publish("homeassistant/status", "online", qos=1)  # Home Assistant restarted
    assert late.wait_for(lambda ms: sum(m.topic.endswith("gate_fight/config") for m in ms) > discovered)
    late.close()
    sinks.close()


def test_a_monitor_killed_leaves_its_last_will_offline(broker, tmp_path):
    subscriber = Subscriber(broker.port)
    script = (
        "import sys, time; sys.path.insert(0, sys.argv[2]);"
        "from pathlib import Path;"
        "from tests.test_sinks_mqtt import mqtt_sinks;"
        "s = mqtt_sinks(int(sys.argv[1]), Path(sys.argv[3]), keepalive_s=5); s.start();"
        "print('up', flush=True); time.sleep(60)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(broker.port), str(REPO), str(tmp_path / "alerts")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "up"
        assert subscriber.wait_for(lambda ms: any(m.payload == b"online" for m in ms))
        process.kill()
        assert subscriber.wait_for(
            lambda ms: ms[-1].topic == "vigil/available" and ms[-1].payload == b"offline"
        )
    finally:
        process.kill()
        subscriber.close()


def test_broker_killed_during_an_alert_storm_every_logged_alert_arrives_after(broker, tmp_path):
    subscriber = Subscriber(broker.port)
    alert_dir, metrics = tmp_path / "alerts", build_metrics()
    sinks, recorder = logging_to_mqtt(broker.port, alert_dir, metrics)
    for i in range(60):
        recorder.submit(build_alert(analysis_of(f"cam{i}"), 1 + i % 2, CLASSES, 1_700_000_001.0 + i))
        if i == 20:
            broker.kill()
            down_at = time.monotonic()
        time.sleep(0.03)
    time.sleep(max(0.0, 1.5 - (time.monotonic() - down_at)))
    logged = [r["id"] for r in log_lines(alert_dir)]  # the log never waited for the broker
    assert len(logged) == 60
    assert metrics.registry.get_sample_value("vigil_sink_up", {"sink": "mqtt"}) == 0
    assert metrics.registry.get_sample_value("vigil_sink_queued_messages", {"sink": "mqtt"}) > 10
    broker.start()
    assert subscriber.wait_for(lambda ms: {e["id"] for e in events(subscriber)} >= set(logged), timeout=30), (
        sorted(set(logged) - {e["id"] for e in events(subscriber)})
    )
    received = [e["id"] for e in events(subscriber)]
    first_seen = list(dict.fromkeys(received))  # duplicates allowed (at least once), order kept
    assert first_seen == logged
    recorder.close()
    sinks.close()
    subscriber.close()
    assert metrics.registry.get_sample_value("vigil_sink_up", {"sink": "mqtt"}) == 1
    assert metrics.registry.get_sample_value("vigil_sink_failed_total", {"sink": "mqtt"}) >= 1


def test_a_queue_left_by_a_stopped_monitor_is_delivered_after_the_restart_in_order(tmp_path):
    alert_dir = tmp_path / "alerts"
    broker = Broker(tmp_path / "broker")  # not started: the broker is down
    first = mqtt_sinks(broker.port, alert_dir)
    first.start()
    for i in range(5):
        first.publish({"type": "alert", "id": f"a{i}", "camera": "gate", "class": "fight", "snapshot": None})
    first.close(drain_s=0.2)
    queued = sorted((alert_dir / QUEUES / "mqtt").glob("*.json"))
    assert len(queued) == 6  # the reset and five alerts, waiting on disk
    broker.start()
    try:
        subscriber = Subscriber(broker.port)
        second = mqtt_sinks(broker.port, alert_dir)
        second.start()
        assert subscriber.wait_for(lambda ms: len(events(subscriber)) == 5)
        assert [e["id"] for e in events(subscriber)] == [f"a{i}" for i in range(5)]
        # The old run's states, then this run's reset: nothing stays ON from before the restart.
        assert subscriber.wait_for(
            lambda ms: [m.payload for m in subscriber.on("vigil/gate/fight")][-1:] == [b"OFF"]
        )
        second.close()
        subscriber.close()
        assert not list((alert_dir / QUEUES / "mqtt").glob("*.json"))
    finally:
        broker.stop()


def test_credentials_with_reserved_characters_work_and_never_reach_logs_or_metrics(
    tmp_path, monkeypatch, caplog
):
    password = "p@ss:w/rd#?&%20é"
    broker = Broker(tmp_path / "broker", users={"vigil": password}).start()
    monkeypatch.setenv("VIGIL_MQTT_PASSWORD", password)
    config = parse_config(
        {
            "cameras": [{"name": "gate", "source": "rtsp://10.0.0.5/live"}],
            "sinks": {
                "mqtt": {
                    "enabled": True,
                    "host": "127.0.0.1",
                    "port": broker.port,
                    "username": "vigil",
                    "password": "{VIGIL_MQTT_PASSWORD}",
                }
            },
        }
    )
    assert config.sinks.mqtt.password == password  # as is, not percent-encoded: it is no URL
    caplog.set_level(logging.DEBUG)
    metrics = build_metrics()
    try:
        sinks = Sinks(config.sinks, tmp_path / "alerts", ["gate"], ["fight"], metrics)
        sinks.start()
        sinks.publish({"type": "alert", "id": "a1", "camera": "gate", "class": "fight", "snapshot": None})
        assert wait_delivered(metrics, 2), broker.log()  # the broker took them: the login worked
        sinks.close()
        # A wrong password: refused, said in one line, and the password is in none of it.
        wrong = parse_config(
            {
                "cameras": [{"name": "gate", "source": "rtsp://10.0.0.5/live"}],
                "sinks": {
                    "mqtt": {**config.sinks.mqtt.__dict__, "password": password + "x", "retry_min_s": 0.1}
                },
            }
        )
        refused = Sinks(wrong.sinks, tmp_path / "alerts2", ["gate"], ["fight"], metrics)
        refused.start()
        time.sleep(2)
        refused.close(drain_s=0)
        assert any("refused" in r.getMessage() for r in caplog.records)
    finally:
        broker.stop()
    from prometheus_client import generate_latest

    exposed = generate_latest(metrics.registry).decode()
    for text in [r.getMessage() for r in caplog.records] + [exposed]:
        assert password not in text and "p@ss" not in text
    for path in (tmp_path / "alerts").rglob("*"):
        if path.is_file():
            assert b"p@ss" not in path.read_bytes()


def test_vigil_run_sends_every_logged_line_to_the_broker_and_says_offline_at_sigterm(
    broker, tiny_bundle, tmp_path
):
    """The monitor as a user runs it: `vigil run` with [sinks.mqtt], stopped by SIGTERM. Every line of
    its alert log reached the subscriber as an event, with the snapshot the line names."""
    import signal

    from evaluation import synth
    from tests.test_monitor import read_log, run_vigil, scrape

    clip = tmp_path / "street.mp4"
    synth.make_demo(clip, seed=3, width=320, height=180, fps=10.0, timeline=(("normal", 4.0),))
    subscriber = Subscriber(broker.port)
    config = monitor_config(tiny_bundle, clip, tmp_path, broker.port)
    process = run_vigil(config, tmp_path)
    try:
        assert subscriber.wait_for(lambda ms: len(events(subscriber)) >= 2, timeout=60), process
        exposed = scrape(config["metrics"]["port"])
        assert 'vigil_sink_up{sink="mqtt"} 1.0' in exposed
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert subscriber.wait_for(lambda ms: ms[-1].payload == b"offline", timeout=10)
    subscriber.close()
    alert_dir = tmp_path / "alerts"
    alerts, clips = read_log(alert_dir)
    lines = log_lines(alert_dir)
    ends = [r for r in lines if r["type"] == "end"]
    assert [e["id"] for e in events(subscriber)] == [a["id"] for a in alerts]
    assert [e["id"] for e in events(subscriber, "update")] == [r["id"] for r in lines if r["type"] == "clip"]
    assert [e["id"] for e in events(subscriber, "end")] == [r["id"] for r in ends]
    assert {e["id"] for e in ends} == {a["id"] for a in alerts}  # every event that opened was closed
    assert ends[-1]["reason"] == "monitor stopped"
    snapshots = subscriber.on("vigil/street/snapshot")
    assert snapshots[-1].payload == (alert_dir / alerts[-1]["snapshot"]).read_bytes()
    assert subscriber.on("vigil/street/fight")[-1].payload == b"OFF"
    assert not list((alert_dir / QUEUES / "mqtt").glob("*.json"))  # nothing left waiting


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl (apt install openssl)")
def test_tls_to_a_broker_whose_certificate_is_checked_against_the_configured_ca(tmp_path, caplog):
    certificates = make_certificates(tmp_path / "pki")
    broker = Broker(tmp_path / "broker", tls=certificates).start()
    try:
        subscriber = Subscriber(broker.port, ca_file=certificates.ca)
        trusted = build_metrics()
        sinks = mqtt_sinks(
            broker.port, tmp_path / "alerts", metrics=trusted, tls=True, ca_file=str(certificates.ca)
        )
        sinks.start()
        sinks.publish({"type": "alert", "id": "a1", "camera": "gate", "class": "fight", "snapshot": None})
        assert subscriber.wait_for(lambda ms: [e["id"] for e in events(subscriber)] == ["a1"])
        sinks.close()
        # Not trusting this CA (the system's CAs only), or plain MQTT to a TLS port: nothing goes out.
        for overrides in ({"tls": True}, {"tls": False}):
            metrics = build_metrics()
            untrusted = mqtt_sinks(
                broker.port, tmp_path / f"alerts-{overrides['tls']}", metrics=metrics, **overrides
            )
            untrusted.start()
            untrusted.publish(
                {"type": "alert", "id": "a2", "camera": "gate", "class": "fight", "snapshot": None}
            )
            time.sleep(1.5)
            untrusted.close(drain_s=0)
            assert metrics.registry.get_sample_value("vigil_sink_delivered_total", {"sink": "mqtt"}) == 0
            assert metrics.registry.get_sample_value("vigil_sink_up", {"sink": "mqtt"}) == 0
        assert [e["id"] for e in events(subscriber)] == ["a1"]
        subscriber.close()
    finally:
        broker.stop()


def test_vigil_run_restarted_with_a_full_queue_delivers_it_once_the_broker_is_there(tiny_bundle, tmp_path):
    """The monitor as a user runs it: alerts while the broker is away (queued on disk), SIGTERM,
    broker up, monitor started again: every alert the first run logged reaches the subscriber."""
    import signal

    from evaluation import synth
    from tests.test_monitor import read_log, run_vigil

    clip = tmp_path / "street.mp4"
    synth.make_demo(clip, seed=3, width=320, height=180, fps=10.0, timeline=(("normal", 4.0),))
    broker = Broker(tmp_path / "broker")  # its port is chosen; nothing listens there yet
    config = monitor_config(tiny_bundle, clip, tmp_path, broker.port)
    queue = tmp_path / "alerts" / QUEUES / "mqtt"
    first = run_vigil(config, tmp_path)
    deadline = time.monotonic() + 60
    while len(list(queue.glob("*.json"))) < 4:
        assert time.monotonic() < deadline and first.poll() is None, "no alerts queued"
        time.sleep(0.1)
    first.send_signal(signal.SIGTERM)
    output, _ = first.communicate(timeout=30)
    assert first.returncode == 0, output
    logged = [a["id"] for a in read_log(tmp_path / "alerts")[0]]
    assert logged and len(list(queue.glob("*.json"))) >= len(logged)  # all still waiting
    broker.start()
    try:
        subscriber = Subscriber(broker.port)
        second = run_vigil(config, tmp_path)
        try:
            assert subscriber.wait_for(lambda ms: {e["id"] for e in events(subscriber)} >= set(logged), 60)
        finally:
            second.send_signal(signal.SIGTERM)
            second.communicate(timeout=30)
        received = list(dict.fromkeys(e["id"] for e in events(subscriber)))
        assert received[: len(logged)] == logged  # the first run's, first and in order
        subscriber.close()
    finally:
        broker.stop()


def test_a_queued_message_that_cannot_be_formed_is_dropped_with_a_line_and_the_rest_go_on(
    broker, tmp_path, caplog
):
    alert_dir = tmp_path / "alerts"
    queue = alert_dir / QUEUES / "mqtt"
    queue.mkdir(parents=True)
    (queue / "0000000000000000.json").write_text('{"type": "new", "id": "x"}')  # valid JSON, no camera
    subscriber = Subscriber(broker.port)
    metrics = build_metrics()
    sinks = mqtt_sinks(broker.port, alert_dir, metrics=metrics)
    sinks.start()
    sinks.publish({"type": "alert", "id": "a1", "camera": "gate", "class": "fight", "snapshot": None})
    assert subscriber.wait_for(lambda ms: [e["id"] for e in events(subscriber)] == ["a1"])
    sinks.close()
    subscriber.close()
    (line,) = [r.getMessage() for r in caplog.records if "cannot be sent" in r.getMessage()]
    assert "0000000000000000.json" in line and "KeyError" in line
    assert metrics.registry.get_sample_value("vigil_sink_dropped_messages", {"sink": "mqtt"}) == 1
