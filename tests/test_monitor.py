"""`vigil run` end to end on real video files: frames flow, decisions and alerts are made and logged
with evidence, metrics are exposed (promtool-clean), signals stop it, secrets never leak."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from evaluation import synth
from streamer.alerts.log import RECORDING_SUFFIX
from streamer.config import parse_config
from streamer.monitor import build_monitor
from testbed.rtsp import free_port
from tests.conftest import REPO

SECRET = "hunter2"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "street.mp4"
    synth.make_demo(path, seed=3, width=320, height=180, fps=10.0, timeline=(("normal", 4.0),))
    return path


def config_dict(bundle: Path, cameras: list[dict], tmp_path: Path, **sections) -> dict:
    data = {
        "model": {"bundle": str(bundle), "providers": ["cpu"]},
        "inference": {"stride": 1},
        "capture": {
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 1.0,
            "open_timeout_s": 1.0,
            "read_timeout_s": 1.0,
        },
        "alerts": {
            "directory": str(tmp_path / "alerts"),
            "threshold": 0.0,
            "k": 1,
            "n": 1,
            "cooldown_s": 1.0,
            "pre_roll_s": 0.5,
            "post_roll_s": 0.5,
        },
        "overlay": {"display": "headless", "output_video": str(tmp_path / "annotated.mp4")},
        "metrics": {"port": free_port()},
        "cameras": cameras,
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return data


def video_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    n = 0
    while capture.read()[0]:
        n += 1
    capture.release()
    return n


def read_log(directory: Path) -> tuple[list[dict], dict[str, dict]]:
    """(alert lines in order, clip lines by alert id) of an alert folder's log. A last line that a
    kill -9 cut short (no newline yet) is skipped, as every reader of the log does."""
    *whole, _last = (directory / "alerts.jsonl").read_text().split("\n")
    lines = [json.loads(line) for line in whole]
    return [r for r in lines if r["type"] == "alert"], {r["id"]: r for r in lines if r["type"] == "clip"}


def assert_named_evidence_exists(directory: Path, size: tuple[int, int] | None = None) -> None:
    """Every file a line names is there and readable: snapshots decode, clips play."""
    alerts, clips = read_log(directory)
    for record in alerts:
        snapshot = cv2.imread(str(directory / record["snapshot"]))
        assert snapshot is not None, f"{record['snapshot']} named but unreadable"
        if size:
            assert snapshot.shape[:2] == size
    for record in clips.values():
        assert video_frames(directory / record["clip"]) == record["frames"] >= 1, record
        assert video_frames(directory / record["raw_clip"]) == record["frames"], record


def test_monitor_on_a_file_decides_alerts_and_records_evidence(tiny_bundle, clip, tmp_path):
    # fight at any probability, shooting never: the policy's thresholds are what decides.
    config = parse_config(
        config_dict(
            tiny_bundle,
            [{"name": "street", "source": str(clip), "loop": True}],
            tmp_path,
            alerts={"class_thresholds": {"shooting": 1.0}},
        )
    )
    stop = threading.Event()
    monitor = build_monitor(config, stop, output_video=tmp_path / "annotated.mp4")
    monitor.start()
    sample = monitor.metrics.registry.get_sample_value
    wait_until(
        lambda: (
            sample("vigil_alerts_total", {"camera": "street", "class": "fight"}) >= 2
            and sample("vigil_frames_analysed_total", {"camera": "street"}) >= 15
            and sample("vigil_frames_captured_total", {"camera": "street"}) >= 40
        ),
        timeout=30,
    )
    started = time.monotonic()
    monitor.shutdown()
    assert time.monotonic() - started < 2.0
    assert sample("vigil_frames_captured_total", {"camera": "street"}) >= 40
    assert sample("vigil_decision_latency_seconds_count", {"camera": "street"}) >= 10
    assert sample("vigil_head_seconds_count") >= 10
    assert sample("vigil_alerts_total", {"camera": "street", "class": "shooting"}) == 0
    probs = [
        sample("vigil_class_probability", {"camera": "street", "class": c})
        for c in ("normal", "fight", "shooting")
    ]
    assert abs(sum(probs) - 1) < 1e-3
    alerts, clips = read_log(tmp_path / "alerts")
    assert alerts and {r["class"] for r in alerts} == {"fight"}
    assert {
        "time_utc",
        "camera",
        "class",
        "score",
        "window_start_utc",
        "window_end_utc",
        "boxes",
        "snapshot",
    } <= set(alerts[0])
    first = alerts[0]
    assert first["window_start_utc"] < first["window_end_utc"]
    assert set(clips) == {a["id"] for a in alerts}  # a clean stop finishes every clip
    assert_named_evidence_exists(tmp_path / "alerts", size=(180, 320))
    assert clips[first["id"]]["frames"] >= 5  # pre-roll + post-roll
    assert video_frames(tmp_path / "annotated.mp4") >= 20
    for box in (r["box"] for r in first["boxes"]):
        assert 0 <= box[0] <= box[2] < 320 and 0 <= box[1] <= box[3] < 180


def wait_until(condition, timeout: float, interval: float = 0.1) -> None:
    """Poll instead of sleeping a fixed time: fast when the machine is, patient when it is not."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


def run_vigil(config: dict, tmp_path: Path, env: dict | None = None) -> subprocess.Popen:
    path = tmp_path / "config.toml"
    path.write_text(to_toml(config))
    return subprocess.Popen(
        [sys.executable, "-m", "vigil", "run", "--config", str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def to_toml(data: dict) -> str:
    def value(v):
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    lines = []
    for section, table in data.items():
        if section == "cameras":
            continue
        lines.append(f"[{section}]")
        lines += [f"{k} = {value(v)}" for k, v in table.items()]
    for camera in data["cameras"]:
        lines.append("[[cameras]]")
        lines += [f"{k} = {value(v)}" for k, v in camera.items()]
    return "\n".join(lines) + "\n"


def scrape(port: int, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                text = response.read().decode()
            if "vigil_head_seconds_count" in text and "vigil_head_seconds_count 0.0" not in text:
                return text
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("metrics endpoint did not show a decision in time")
        time.sleep(0.3)


def test_sigterm_stops_within_two_seconds_leaving_every_named_file(tiny_bundle, clip, tmp_path):
    config = config_dict(
        tiny_bundle,
        [{"name": "street", "source": str(clip), "loop": True}],
        tmp_path,
        alerts={"post_roll_s": 3.0, "cooldown_s": 1.0},
    )
    proc = run_vigil(config, tmp_path)
    try:
        log = tmp_path / "alerts" / "alerts.jsonl"
        wait_until(lambda: log.exists() and log.read_text().count('"type":"alert"') >= 2, timeout=30)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # mid post-roll: clips are being recorded
        proc.wait(timeout=10)
        assert time.monotonic() - sent < 2.0
        assert proc.returncode == 0, proc.stdout.read()
    finally:
        proc.kill()
    alerts, clips = read_log(tmp_path / "alerts")
    assert alerts and set(clips) == {a["id"] for a in alerts}  # each alert's clip finished and logged
    assert_named_evidence_exists(tmp_path / "alerts")
    assert not list((tmp_path / "alerts").glob("*.recording.mp4")) and not list(
        (tmp_path / "alerts").glob("*.tmp")
    )


def test_secrets_never_leak_and_other_cameras_go_on(tiny_bundle, clip, tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\0\1\2" * 5000)
    cameras = [
        {"name": "door", "source": f"rtsp://admin:{SECRET}@127.0.0.1:9/live?password={SECRET}"},
        {"name": "broken", "source": str(corrupt)},
        {"name": "street", "source": str(clip), "loop": True},
    ]
    config = config_dict(tiny_bundle, cameras, tmp_path)
    proc = run_vigil(config, tmp_path)
    try:
        metrics = scrape(config["metrics"]["port"])
        time.sleep(2.0)
        metrics += scrape(config["metrics"]["port"])
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=10)
    assert 'vigil_camera_up{camera="street"} 1.0' in metrics
    assert 'vigil_camera_up{camera="door"} 0.0' in metrics
    assert 'vigil_camera_up{camera="broken"} 0.0' in metrics
    assert (
        "door: camera down (rtsp://***@127.0.0.1:9/live?password=***: cannot open rtsp source: connection "
        "refused by 127.0.0.1:9"
    ) in output
    assert output.count("door: camera down") == 1  # once per state change, not per retry
    assert SECRET not in output and SECRET not in metrics and "admin" not in output
    for path in (tmp_path / "alerts").rglob("*"):
        assert SECRET not in path.name
        if path.suffix == ".jsonl":
            assert SECRET not in path.read_text()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian 'prometheus') not installed")
def test_promtool_accepts_the_live_metrics(tiny_bundle, clip, tmp_path):
    config = config_dict(tiny_bundle, [{"name": "street", "source": str(clip), "loop": True}], tmp_path)
    proc = run_vigil(config, tmp_path)
    try:
        text = scrape(config["metrics"]["port"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "" and check.stderr.strip() == ""


def test_auto_display_without_a_display_runs_headless(tiny_bundle, clip, tmp_path):
    config = config_dict(
        tiny_bundle,
        [{"name": "street", "source": str(clip), "loop": True}],
        tmp_path,
        overlay={"display": "auto"},
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    path = tmp_path / "config.toml"
    path.write_text(to_toml(config))
    result = subprocess.run(
        [sys.executable, "-m", "vigil", "run", "--config", str(path), "--seconds", "3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "(headless)" in result.stderr


def test_run_tells_systemd_ready_then_watchdog(tiny_bundle, clip, tmp_path):
    config = config_dict(tiny_bundle, [{"name": "street", "source": str(clip), "loop": True}], tmp_path)
    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(sock_path))
        server.settimeout(30)
        proc = run_vigil(config, tmp_path, env={"NOTIFY_SOCKET": str(sock_path)})
        try:
            messages = [server.recv(64), server.recv(64)]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=10)
    assert messages == [b"READY=1", b"WATCHDOG=1"]


def run_to_end(config_path: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """`vigil run` until it ends by itself (its files ended or failed)."""
    return subprocess.run(
        [sys.executable, "-m", "vigil", "run", "--config", str(config_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_file_played_once_ends_the_run(tiny_bundle, clip, tmp_path):
    config = config_dict(tiny_bundle, [{"name": "street", "source": str(clip), "loop": False}], tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(to_toml(config))
    started = time.monotonic()
    result = run_to_end(path)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 4.0 + 12.0  # the 4 s clip, start-up, held-back frames
    assert "street: camera finished (end of file, " in result.stderr and "camera down" not in result.stderr
    assert video_frames(tmp_path / "annotated.mp4") >= 30


def test_a_file_that_cannot_be_read_fails_once_and_ends_the_run(tiny_bundle, tmp_path):
    broken = tmp_path / "random.mp4"
    broken.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    config = config_dict(tiny_bundle, [{"name": "yard", "source": str(broken)}], tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(to_toml(config))
    result = run_to_end(path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("yard: camera down (failed:") == 1, result.stderr
    assert "not a readable video" in result.stderr
    assert "no camera delivered a frame" in result.stderr
    assert "moov atom" not in result.stderr and "[ WARN" not in result.stderr  # FFmpeg's, OpenCV's own lines


def test_every_known_series_exists_at_zero_before_its_first_event(tiny_bundle, tmp_path):
    config = config_dict(
        tiny_bundle, [{"name": "door", "source": f"rtsp://127.0.0.1:{free_port()}/live"}], tmp_path
    )
    proc = run_vigil(config, tmp_path)
    try:
        text = ""

        def scraped() -> bool:
            nonlocal text
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{config['metrics']['port']}/metrics", timeout=2
                ) as r:
                    text = r.read().decode()
                return True
            except OSError:
                return False

        wait_until(scraped, timeout=20)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    for reason in ("analysis_ring", "display_ring", "analysis_backlog", "display_late"):
        assert f'vigil_frames_dropped_total{{camera="door",reason="{reason}"}} 0.0' in text
    for label in ("fight", "shooting"):
        assert f'vigil_alerts_total{{camera="door",class="{label}"}} 0.0' in text
    assert 'vigil_camera_reconnects_total{camera="door"} 0.0' in text
    assert 'vigil_frames_captured_total{camera="door"} 0.0' in text
    assert 'vigil_camera_up{camera="door"} 0.0' in text


def test_the_watchdog_is_not_fed_while_no_camera_delivers(tiny_bundle, tmp_path):
    """Inference alive, but the only camera never connects: systemd must get READY=1 and then no
    WATCHDOG=1 once capture.watchdog_s has passed (so it restarts the service)."""
    config = config_dict(
        tiny_bundle,
        [{"name": "door", "source": f"rtsp://127.0.0.1:{free_port()}/live"}],
        tmp_path,
        capture={"watchdog_s": 1.0},
    )
    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(sock_path))
        proc = run_vigil(config, tmp_path, env={"NOTIFY_SOCKET": str(sock_path)})
        try:
            server.settimeout(30)
            assert server.recv(64) == b"READY=1"
            server.settimeout(5)
            messages = []
            try:
                while True:
                    messages.append(server.recv(64))
            except TimeoutError:
                pass
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=10)
    # At most the first second's, before watchdog_s passed since start; none after.
    assert messages.count(b"WATCHDOG=1") <= 1, messages


@pytest.mark.parametrize("alerts_before_kill", [2, 7])
def test_kill_9_leaves_every_named_file_and_only_the_newest_clips_unfinished(
    tiny_bundle, clip, tmp_path, alerts_before_kill
):
    # A cooldown longer than post-roll + display delay (0.5 + 0.6 s): one clip per class in flight.
    config = config_dict(
        tiny_bundle,
        [{"name": "street", "source": str(clip), "loop": True}],
        tmp_path,
        alerts={"cooldown_s": 2.0, "post_roll_s": 0.5},
    )
    proc = run_vigil(config, tmp_path)
    log = tmp_path / "alerts" / "alerts.jsonl"
    try:
        wait_until(
            lambda: log.exists() and log.read_text().count('"type":"alert"') >= alerts_before_kill, timeout=40
        )
    finally:
        proc.kill()  # SIGKILL: no clean-up of any kind
        proc.communicate(timeout=10)
    alerts, clips = read_log(tmp_path / "alerts")
    assert len(alerts) >= alerts_before_kill
    assert_named_evidence_exists(tmp_path / "alerts")  # every snapshot and clip a line names
    unfinished = [a for a in alerts if a["id"] not in clips]
    newest = {}
    for a in alerts:
        newest[a["class"]] = a["id"]
    assert all(a["id"] == newest[a["class"]] for a in unfinished), "an older alert's clip was never finished"
    # What is left recording is at most one clip per class (its drawn and raw copies), each of an
    # unfinished newest alert or of one decided so late that its line was not written yet.
    recording = {
        path.name.removesuffix(RECORDING_SUFFIX).removesuffix(".raw")
        for path in (tmp_path / "alerts").glob("*" + RECORDING_SUFFIX)
    }
    logged = {a["id"] for a in alerts}
    assert not recording & set(clips), "a finished clip still has its recording"
    assert recording & logged <= {a["id"] for a in unfinished}
    classes = [alert_id.rsplit("_", 1)[1] for alert_id in recording]
    assert len(classes) == len(set(classes)), f"more than one clip in flight per class: {recording}"


def test_a_camera_without_a_picture_says_why_in_its_tile(tiny_bundle, clip, tmp_path):
    broken = tmp_path / "random.mp4"
    broken.write_bytes(b"\x00\x01" * 50_000)
    port = free_port()
    cameras = [
        {"name": "street", "source": str(clip), "loop": True},
        {"name": "gate", "source": f"rtsp://admin:{SECRET}@127.0.0.1:{port}/live"},
        {"name": "yard", "source": str(broken)},
    ]
    monitor = build_monitor(
        parse_config(config_dict(tiny_bundle, cameras, tmp_path)), threading.Event(), canvas_size=(960, 540)
    )
    status = monitor.compositor.camera_status
    monitor.start()
    try:
        wait_until(
            lambda: (
                status("gate") != "connecting"
                and status("yard") != "connecting"
                and monitor.compositor.latest()[1] is not None
            ),
            timeout=20,
        )
        seen = {name: status(name) for name in ("street", "gate", "yard")}
    finally:
        monitor.shutdown()
    assert seen == {
        "street": "live",
        "gate": f"no signal: connection refused by 127.0.0.1:{port} (nothing listening on that port?)",
        "yard": "failed: not a readable video",
    }
    assert status("street") == "stopped" and status("yard") == "failed: not a readable video"
    assert monitor.compositor.latest()[1].shape == (540, 960, 3)


class HeadHeldUntilStop:
    """The bundle, with its next head call held until the monitor is told to stop: a decision
    in flight as the guard quits."""

    def __init__(self, bundle, stop: threading.Event):
        self.bundle, self.stop = bundle, stop
        self.entered = threading.Event()

    def __getattr__(self, name):
        return getattr(self.bundle, name)

    def head(self, activations, target=None):
        if not self.entered.is_set():
            self.entered.set()
            self.stop.wait(10)
        return self.bundle.head(activations, target)


def test_an_alert_decided_as_the_monitor_stops_still_gets_its_clip(tiny_bundle, clip, tmp_path):
    cameras = [{"name": "street", "source": str(clip), "loop": True}]
    monitor = build_monitor(parse_config(config_dict(tiny_bundle, cameras, tmp_path)), threading.Event())
    decided = []
    monitor.observe(decided.append)
    monitor.start()
    try:
        wait_until(lambda: len(decided) >= 3, 30)
        held = HeadHeldUntilStop(monitor.worker.bundle, monitor.stop)
        monitor.worker.bundle = held
        wait_until(held.entered.is_set, 10)
        time.sleep(1.2)  # past the alert cooldown (1 s): the held decision raises an alert
    finally:
        monitor.shutdown()
    alerts, clips = read_log(tmp_path / "alerts")
    late = [a for a in alerts if a["time_utc"] == max(x["time_utc"] for x in alerts)]
    assert late and set(clips) == {a["id"] for a in alerts}, "an alert without its clip"
    assert all((tmp_path / "alerts" / clips[a["id"]]["clip"]).is_file() for a in alerts)
