"""Webhooks against a real local HTTP server: signed JSON (and multipart with the snapshot), 5xx and
timeouts retried with backoff, an endpoint that is down and comes back, nothing lost or reordered."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import quote

import pytest

from streamer.config import ConfigError, SinksConfig, WebhookConfig, parse_config
from streamer.metrics import build_metrics
from streamer.sinks.fanout import Sinks
from testbed.rtsp import free_port
from testbed.webhook import Endpoint, form_parts

SECRET = "s3cret:/@#"


def hook_sinks(endpoint_url: str, alert_dir, metrics=None, **overrides) -> Sinks:
    hook = WebhookConfig(
        name="pager", url=endpoint_url, secret=SECRET, timeout_s=0.5, retry_min_s=0.05, retry_max_s=0.2
    )
    hook = WebhookConfig(**{**hook.__dict__, **overrides})
    return Sinks(SinksConfig(webhooks=(hook,)), alert_dir, ["gate"], ["fight"], metrics or build_metrics())


def alert_line(i: int, snapshot: str | None = None) -> dict:
    return {
        "type": "alert",
        "id": f"a{i}",
        "camera": "gate",
        "class": "fight",
        "score": 0.9,
        "snapshot": snapshot,
    }


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_each_post_is_signed_over_its_exact_body_and_says_what_it_is(tmp_path):
    endpoint = Endpoint().start()
    sinks = hook_sinks(endpoint.url, tmp_path)
    sinks.start()
    sinks.publish(alert_line(1))
    sinks.publish({"type": "end", "id": "a1", "camera": "gate", "class": "fight", "reason": "calm"})
    assert wait_for(lambda: len(endpoint.received) == 2)  # the reset is not sent to an endpoint
    sinks.close()
    endpoint.stop()
    for request in endpoint.received:
        expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request["headers"]["X-Vigil-Signature"], expected)
    tampered = endpoint.received[0]["body"].replace(b"0.9", b"0.1")
    assert hmac.new(SECRET.encode(), tampered, hashlib.sha256).hexdigest() not in str(
        endpoint.received[0]["headers"]
    )
    assert [e["type"] for e in endpoint.events()] == ["new", "end"]
    assert [r["headers"]["X-Vigil-Message-Id"] for r in endpoint.received] == ["a1/new", "a1/end"]
    assert endpoint.events()[0] == {**alert_line(1), "type": "new"}


def test_5xx_and_timeouts_are_retried_in_order_and_counted(tmp_path):
    endpoint = Endpoint(script=["fail", "fail", "slow", "ok", "fail"]).start()
    metrics = build_metrics()
    sinks = hook_sinks(endpoint.url, tmp_path, metrics=metrics)
    sinks.start()
    for i in range(4):
        sinks.publish(alert_line(i))
    assert wait_for(lambda: len(endpoint.events()) >= 4)
    sinks.close()
    endpoint.stop()
    ids = [e["id"] for e in endpoint.events()]
    # The slow answer came after the sink had given up: a duplicate, which the id lets a receiver drop.
    assert list(dict.fromkeys(ids)) == ["a0", "a1", "a2", "a3"]
    sample = metrics.registry.get_sample_value
    assert sample("vigil_sink_failed_total", {"sink": "pager"}) == 4  # 503, 503, timeout, 503
    assert sample("vigil_sink_delivered_total", {"sink": "pager"}) == 4  # four alerts (no reset: no state)
    assert sample("vigil_sink_up", {"sink": "pager"}) == 1


def test_an_endpoint_down_then_back_gets_everything_in_order_and_the_log_says_so_once(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    port = free_port()
    metrics = build_metrics()
    url = f"http://user:{quote(SECRET, safe='')}@127.0.0.1:{port}/hook?token=abc123"
    sinks = hook_sinks(url, tmp_path, metrics=metrics)
    sinks.start()
    for i in range(5):
        sinks.publish(alert_line(i))
    assert wait_for(
        lambda: metrics.registry.get_sample_value("vigil_sink_failed_total", {"sink": "pager"}) >= 3
    )
    assert metrics.registry.get_sample_value("vigil_sink_up", {"sink": "pager"}) == 0
    assert metrics.registry.get_sample_value("vigil_sink_queued_messages", {"sink": "pager"}) == 5
    endpoint = Endpoint(port=port).start()
    assert wait_for(lambda: len(endpoint.events()) == 5)
    sinks.close()
    endpoint.stop()
    assert [e["id"] for e in endpoint.events()] == [f"a{i}" for i in range(5)]
    basic = base64.b64encode(f"user:{SECRET}".encode()).decode()
    assert endpoint.received[0]["headers"]["Authorization"] == f"Basic {basic}"  # user-info sent as auth
    messages = [r.getMessage() for r in caplog.records if "pager" in r.getMessage()]
    assert f"alert sink pager: http://***@127.0.0.1:{port}/hook?token=***" in messages  # said at start
    down = [m for m in messages if "retrying" in m]
    assert len(down) == 1, messages  # one line when it goes down, not one per retry
    assert "Connection refused" in down[0] and "127.0.0.1" in down[0]
    for message in messages:
        assert quote(SECRET, safe="") not in message and "abc123" not in message and "user:" not in message


def test_the_snapshot_goes_as_multipart_with_the_event(tmp_path):
    (tmp_path / "a1.jpg").write_bytes(b"\xff\xd8 a jpeg \xff\xd9")
    endpoint = Endpoint().start()
    sinks = hook_sinks(endpoint.url, tmp_path, snapshot=True)
    sinks.start()
    sinks.publish(alert_line(1, snapshot="a1.jpg"))
    sinks.publish(alert_line(2, snapshot="deleted-since.jpg"))  # still sent, as plain JSON
    assert wait_for(lambda: len(endpoint.received) == 2)
    sinks.close()
    endpoint.stop()
    first, second = endpoint.received
    assert first["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    expected = "sha256=" + hmac.new(SECRET.encode(), first["body"], hashlib.sha256).hexdigest()
    assert first["headers"]["X-Vigil-Signature"] == expected
    parts = form_parts(first)
    assert json.loads(parts["event"].get_content())["id"] == "a1"
    assert parts["snapshot"].get_content() == b"\xff\xd8 a jpeg \xff\xd9"
    assert parts["snapshot"].get_filename() == "a1.jpg"
    assert json.loads(second["body"])["id"] == "a2"


@pytest.mark.parametrize(
    ("webhook", "message"),
    [
        ({"name": "pager", "url": "ftp://x/hook", "secret": "k"}, "sinks.webhooks[0].url: expected an http"),
        ({"name": "pager", "url": "http://x/hook"}, "sinks.webhooks[0].secret: expected a shared secret"),
        (
            {"name": "mqtt", "url": "http://x/hook", "secret": "k"},
            "sinks.webhooks[0].name: expected a unique",
        ),
        ({"name": "a b", "url": "http://x/hook", "secret": "k"}, "sinks.webhooks[0].name: expected letters"),
        (
            {"name": "p", "url": "http://x", "secret": "k", "timeout_s": 0},
            "sinks.webhooks[0].timeout_s: expected",
        ),
        (
            {"name": "p", "url": "http://x", "secret": 12345},
            "sinks.webhooks[0].secret: expected a string, got integer (hidden)",
        ),
        ({"name": "p", "url": "http://x", "secret": "{VIGIL_NOT_SET_HOOK}"}, "VIGIL_NOT_SET_HOOK is not set"),
    ],
)
def test_wrong_webhook_settings_are_one_line_naming_the_key(webhook, message):
    with pytest.raises(ConfigError) as caught:
        parse_config({"cameras": [{"name": "gate", "source": "0"}], "sinks": {"webhooks": [webhook]}})
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert "12345" not in str(caught.value)


def test_a_full_disk_under_the_queue_loses_that_message_only_and_says_so(tmp_path, caplog):
    """The queue's disk is full for one message: one line names it, the drop is counted, the
    alert log is untouched, and the next message is queued and delivered."""
    from streamer.alerts.log import LOG_NAME, AlertLog, AlertRecorder
    from streamer.alerts.record import build_alert
    from streamer.config import OverlayConfig
    from testbed.alerts import analysis_of

    endpoint = Endpoint().start()
    metrics = build_metrics()
    alert_dir = tmp_path / "alerts"
    sinks = hook_sinks(endpoint.url, alert_dir, metrics=metrics)
    classes = ("normal", "fight", "shooting")
    recorder = AlertRecorder(
        OverlayConfig(), AlertLog(alert_dir, 10**6, 1), classes, "HiResCAM", sinks.publish
    )
    (alert_dir / "sinks" / "pager" / "0000000000000000.json.tmp").symlink_to("/dev/full")
    sinks.start()
    recorder.start()
    first = build_alert(analysis_of("gate"), 1, classes, 1_700_000_001.0)
    second = build_alert(analysis_of("door"), 1, classes, 1_700_000_002.0)
    recorder.submit(first)
    recorder.submit(second)
    assert wait_for(lambda: len(endpoint.received) == 1)
    recorder.close()
    sinks.close()
    endpoint.stop()
    assert [e["id"] for e in endpoint.events()] == [second.id]
    logged = [json.loads(x)["id"] for x in (alert_dir / LOG_NAME).read_text().splitlines()]
    assert logged == [first.id, second.id]  # the log has both
    assert metrics.registry.get_sample_value("vigil_sink_dropped_messages", {"sink": "pager"}) == 1
    (line,) = [r.getMessage() for r in caplog.records if "not queued" in r.getMessage()]
    assert first.id in line and "No space left on device" in line


def test_sigterm_stops_the_monitor_in_seconds_while_every_sink_hangs_and_keeps_their_queues(
    tiny_bundle, tmp_path
):
    """Two webhooks whose server takes the connection and never answers (a 30 s timeout each) and a
    broker that is not there: SIGTERM still stops `vigil run` within a few seconds (systemd allows
    10), and the undelivered messages wait on disk for the next start."""
    import signal
    import socket

    from evaluation import synth
    from tests.test_monitor import config_dict, run_vigil

    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)  # never accept()ed: requests are taken by the kernel and never answered
    port = hang.getsockname()[1]
    clip = tmp_path / "street.mp4"
    synth.make_demo(clip, seed=3, width=320, height=180, fps=10.0, timeline=(("normal", 4.0),))
    hooks = [
        {"name": f"hook{i}", "url": f"http://127.0.0.1:{port}/h", "secret": "k", "timeout_s": 30.0}
        for i in range(2)
    ]
    config = config_dict(
        tiny_bundle,
        [{"name": "street", "source": str(clip), "loop": True}],
        tmp_path,
        alerts={"class_thresholds": {"shooting": 1.0}},
        sinks={"mqtt": {"enabled": True, "host": "127.0.0.1", "port": free_port()}, "webhooks": hooks},
    )
    process = run_vigil(config, tmp_path)
    try:
        queued = tmp_path / "alerts" / "sinks" / "hook1"
        assert wait_for(lambda: len(list(queued.glob("*.json"))) >= 2, timeout=60)
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        output, _ = process.communicate(timeout=30)
        stopped_in = time.monotonic() - started
    finally:
        process.kill()
        hang.close()
    assert process.returncode == 0, output
    assert stopped_in < 6, (stopped_in, output[-2000:])
    assert "still delivering at shutdown" in output
    for name in ("mqtt", "hook0", "hook1"):
        assert list((tmp_path / "alerts" / "sinks" / name).glob("*.json")), name
