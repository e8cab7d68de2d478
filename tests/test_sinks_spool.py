"""A sink's queue on disk: order, survival across instances, a bound, damaged or half-written files,
and the events an alert opens and closes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamer.alerts.alerting import Alerting
from streamer.config import AlertsConfig, ConfigError, parse_config
from streamer.sinks.spool import Spool


def drain(spool: Spool) -> list[dict]:
    out = []
    while (item := spool.peek(timeout=0)) is not None:
        out.append(item[1])
        spool.remove(item[0])
    return out


def test_messages_come_out_in_order_and_survive_a_new_instance(tmp_path):
    spool = Spool(tmp_path / "q", capacity=100)
    for i in range(3):
        spool.put({"i": i})
    name, first = spool.peek(timeout=0)
    assert first == {"i": 0}
    again = Spool(tmp_path / "q", capacity=100)  # the monitor restarted before the delivery
    assert len(again) == 3
    again.put({"i": 3})
    assert [m["i"] for m in drain(again)] == [0, 1, 2, 3]
    assert not list((tmp_path / "q").iterdir())
    assert Spool(tmp_path / "q", capacity=100).peek(timeout=0) is None


def test_a_full_queue_drops_its_oldest_and_counts_it(tmp_path):
    spool = Spool(tmp_path / "q", capacity=3)
    for i in range(5):
        spool.put({"i": i})
    assert [m["i"] for m in drain(spool)] == [2, 3, 4] and spool.dropped == 2


def test_a_damaged_or_half_written_file_is_skipped_and_never_blocks_the_rest(tmp_path):
    folder = tmp_path / "q"
    spool = Spool(folder, capacity=10)
    spool.put({"i": 0})
    spool.put({"i": 1})
    (folder / "0000000000000000.json").write_bytes(b"\x00\xff random bytes")
    (folder / "0000000000000002.json.tmp").write_bytes(b'{"i": 2')  # kill -9 mid-write: never acked
    reopened = Spool(folder, capacity=10)
    assert [m["i"] for m in drain(reopened)] == [1] and reopened.dropped == 1
    assert not list(folder.iterdir())


def test_a_message_waits_for_its_reader(tmp_path):
    import threading

    spool = Spool(tmp_path / "q", capacity=10)
    threading.Timer(0.2, spool.put, args=({"late": True},)).start()
    assert spool.peek(timeout=5)[1] == {"late": True}


class Recorder:
    def __init__(self):
        self.lines = []

    def submit(self, alert):
        self.lines.append(("alert", alert.id))

    def event_ended(self, alert_id, camera, label, reason, trace=None):
        self.lines.append(("end", alert_id, reason))


def alerting_into(recorder: Recorder, config: AlertsConfig, folder) -> Alerting:
    return Alerting(
        config, ("normal", "fight", "shooting"), "normal", folder, recorder, lambda *a: None, lambda *a: None
    )


def test_an_event_lasts_while_its_class_holds_k_of_n_and_ends_once(tmp_path):
    from testbed.alerts import analysis_of

    recorder = Recorder()
    alerting = alerting_into(recorder, AlertsConfig(threshold=0.5, k=2, n=3, cooldown_s=100), tmp_path)
    base = analysis_of("gate")
    fight = [0.9, 0.9, 0.9, 0.2, 0.9, 0.2, 0.2, 0.9, 0.9]
    for i, p in enumerate(fight):
        probs = np.array([1 - p, p, 0.0], np.float32)
        alerting.decide(base.__class__(**{**base.__dict__, "probs": probs, "decided_at": float(i)}))
    opened = [line for line in recorder.lines if line[0] == "alert"]
    # Fires at the 2nd window; holds through 0.2 (2 of 3 still high); ends when two of three are low;
    # the later fight is inside the cooldown: no new alert, no new event.
    assert len(opened) == 1
    assert recorder.lines == [opened[0], ("end", opened[0][1], "calm")]
    assert [line[0] for line in recorder.lines].index("end") == 1
    alerting.end_all()
    assert len(recorder.lines) == 2  # nothing open any more


def test_an_event_still_open_at_a_stop_or_raised_again_is_ended_with_why(tmp_path):
    from testbed.alerts import analysis_of

    recorder = Recorder()
    alerting = alerting_into(recorder, AlertsConfig(threshold=0.5, k=1, n=1, cooldown_s=0), tmp_path)
    base = analysis_of("gate")
    for i in range(2):
        alerting.decide(base.__class__(**{**base.__dict__, "decided_at": float(i)}))
    alerting.end_all()
    kinds = [(line[0], line[-1]) for line in recorder.lines]
    first, second = [line[1] for line in recorder.lines if line[0] == "alert"]
    assert kinds == [("alert", first), ("end", "raised again"), ("alert", second), ("end", "monitor stopped")]


@pytest.mark.parametrize(
    ("mqtt", "message"),
    [
        ({"enabled": True, "port": 0}, "sinks.mqtt.port: expected 1..65535, got 0"),
        ({"enabled": True, "qos": 0}, "sinks.mqtt.qos: expected 1..2, got 0"),
        ({"enabled": True, "topic_prefix": "vigil/#"}, "sinks.mqtt.topic_prefix: expected a topic"),
        ({"enabled": True, "topic_prefix": "/vigil"}, "sinks.mqtt.topic_prefix: expected a topic"),
        ({"enabled": True, "cert_file": "c.pem"}, "sinks.mqtt.cert_file: expected cert_file and key_file"),
        ({"enabled": True, "ca_file": "ca.pem"}, "sinks.mqtt.tls: expected true"),
        ({"enabled": True, "retry_min_s": 9, "retry_max_s": 1}, "sinks.mqtt.retry_min_s: expected <="),
        ({"enabled": True, "password": 1234}, "sinks.mqtt.password: expected a string, got integer (hidden)"),
        ({"enabled": True, "password": "{VIGIL_UNSET_MQTT}"}, "VIGIL_UNSET_MQTT is not set"),
        ({"enabled": True, "hots": "x"}, "sinks.mqtt.hots: unknown key"),
    ],
)
def test_wrong_mqtt_settings_are_one_line_naming_the_key(mqtt, message):
    with pytest.raises(ConfigError) as caught:
        parse_config({"cameras": [{"name": "gate", "source": "0"}], "sinks": {"mqtt": mqtt}})
    assert message in str(caught.value) and "\n" not in str(caught.value) and "1234" not in str(caught.value)


def test_missing_tls_files_are_refused_before_start(tmp_path, tiny_bundle):
    from streamer.preflight import check_sinks

    config = parse_config(
        {
            "cameras": [{"name": "gate", "source": "0"}],
            "sinks": {"mqtt": {"enabled": True, "tls": True, "ca_file": "missing-ca.pem"}},
        },
        base_dir=tmp_path,
    )
    with pytest.raises(
        ConfigError, match=r"sinks.mqtt.ca_file: expected a readable file, got '.*missing-ca.pem'"
    ):
        check_sinks(config)
    assert json.dumps(config.sinks.mqtt.ca_file).endswith('missing-ca.pem"')
