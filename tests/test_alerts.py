"""Alert decisions (thresholds, k-of-n, cooldown) and the alert log (whole lines, rotation, kill -9)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from streamer.alerts.log import LOG_NAME, AlertLog
from streamer.alerts.policy import AlertPolicy
from streamer.config import AlertsConfig, ConfigError
from testbed.alerts import analysis_of
from tests.conftest import REPO

CLASSES = ("normal", "fight", "shooting")


def policy(**overrides) -> AlertPolicy:
    return AlertPolicy(
        AlertsConfig(**{"threshold": 0.7, "k": 2, "n": 3, "cooldown_s": 10, **overrides}), CLASSES, "normal"
    )


def probs(fight: float, shooting: float = 0.0) -> np.ndarray:
    return np.array([1 - fight - shooting, fight, shooting])


@pytest.mark.parametrize(
    "sequence,fires_at",
    [
        ([0.9, 0.1, 0.1, 0.9], []),  # never 2 of the last 3
        ([0.9, 0.1, 0.9], [2]),  # 2 of 3
        ([0.9, 0.9, 0.9, 0.9], [1]),  # then the cooldown holds it back
        ([0.69, 0.69, 0.69], []),  # under the threshold
    ],
)
def test_k_of_n_with_cooldown(sequence, fires_at):
    p = policy()
    fired = [i for i, f in enumerate(sequence) if p.update("cam", probs(f), now=float(i))]
    assert fired == fires_at


def test_cooldown_is_per_camera_and_class_and_expires():
    p = policy(k=1, n=1, cooldown_s=10)
    assert p.update("a", probs(0.9), 0.0) == [1]
    assert p.update("b", probs(0.9), 1.0) == [1]  # other camera
    assert p.update("a", probs(0.0, 0.9), 2.0) == [2]  # other class
    assert p.update("a", probs(0.9), 5.0) == []  # cooling down
    assert p.update("a", probs(0.9), 10.5) == [1]  # cooled down


def test_class_thresholds_override_and_are_checked():
    p = policy(k=1, n=1, class_thresholds={"shooting": 0.4})
    assert p.update("a", probs(0.5, 0.45), 0.0) == [2]
    with pytest.raises(
        ConfigError, match=r"alerts\.class_thresholds: expected classes from .*, got \['robbery'\]"
    ):
        policy(class_thresholds={"robbery": 0.5})


def test_normal_never_alerts():
    p = policy(k=1, n=1, threshold=0.0)
    assert p.update("a", np.array([1.0, 0.0, 0.0]), 0.0) == [1, 2]  # anomaly classes only, even at 0


def test_log_rotates_by_size_and_keeps_backups(tmp_path):
    log = AlertLog(tmp_path, max_bytes=1024, backups=2)
    for i in range(100):
        log.append({"i": i, "pad": "x" * 40})
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [LOG_NAME, f"{LOG_NAME}.1", f"{LOG_NAME}.2"]
    numbers = [
        json.loads(line)["i"]
        for name in (f"{LOG_NAME}.2", f"{LOG_NAME}.1", LOG_NAME)
        for line in (tmp_path / name).read_text().splitlines()
    ]
    assert numbers == sorted(numbers) and numbers[-1] == 99  # newest kept, in order
    assert all((tmp_path / f).stat().st_size <= 1024 for f in files)


WRITER = """
import sys, itertools
from streamer.alerts.log import AlertLog
log = AlertLog(sys.argv[1], max_bytes=10**9, backups=1)
print("ready", flush=True)
for i in itertools.count():
    log.append({"i": i, "evidence": "x" * 3000})
"""


def test_kill_9_cuts_at_most_the_last_line_and_the_next_start_keeps_it_apart(tmp_path):
    """Lines are whole and in order up to the kill. Linux may cut the one write() in flight where
    it crosses a page (a fatal signal is checked between pages): only the last line can be a
    fragment, and the next start ends it with a newline so the lines after it stay whole."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    log = tmp_path / LOG_NAME
    deadline = time.monotonic() + 30
    while log.stat().st_size < 20 * 3000 and time.monotonic() < deadline:  # mid-stream, however slow the disk
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    *whole, last = log.read_bytes().split(b"\n")
    records = [json.loads(line) for line in whole]
    assert len(records) > 10
    assert [r["i"] for r in records] == list(range(len(records)))
    expected_next = json.dumps({"i": len(records), "evidence": "x" * 3000}, separators=(",", ":")).encode()
    assert expected_next.startswith(last)  # nothing, or the start of the line being written
    restarted = AlertLog(tmp_path, max_bytes=10**9, backups=1)
    restarted.append({"i": "after"})
    restarted.close()
    lines = log.read_bytes().split(b"\n")
    assert lines[-1] == b"" and json.loads(lines[-2]) == {"i": "after"}
    assert [json.loads(x)["i"] for x in lines[: len(records)]] == list(range(len(records)))


def test_an_alert_shows_the_frame_with_the_most_evidence_not_merely_the_newest(tmp_path):
    """A shooting's evidence sits on its muzzle-flash frame; the newest frame's faint map peaks on
    a bystander. The alert's box, snapshot and record follow the flash frame."""
    import cv2
    import numpy as np

    from streamer.alerts.log import AlertRecorder
    from streamer.alerts.record import build_alert
    from streamer.config import OverlayConfig
    from streamer.types import Analysis

    maps = np.zeros((3, 4, 4), np.float32)
    maps[1, 3, 0] = 1.0  # the flash frame: the shooter, bottom left
    maps[2, 0, 3] = 0.01  # the newest frame: almost nothing, peaking top right
    images = [np.full((240, 320, 3), 40 * (k + 1), np.uint8) for k in range(3)]
    analysis = Analysis(
        "gate", (7, 8, 9), (1.0, 1.2, 1.4), np.array([0.0, 0.0, 1.0], np.float32), maps, 2, 1.5,
        (1.7e9, 1.7e9 + 0.2, 1.7e9 + 0.4), tuple(images),
    )  # fmt: skip
    classes = ("normal", "fight", "shooting")
    alert = build_alert(analysis, 2, classes, 1.7e9 + 1)
    assert alert.record["evidence_frame"] == 8
    (box,) = [r["box"] for r in alert.record["boxes"]]
    assert box[0] < 80 and box[3] > 180, box  # bottom left, where the flash frame's map is
    recorder = AlertRecorder(OverlayConfig(), AlertLog(tmp_path, 10**6, 1), classes, "HiResCAM")
    recorder.start()
    recorder.submit(alert)
    recorder.close()
    (line,) = [json.loads(x) for x in (tmp_path / LOG_NAME).read_text().splitlines()]
    picture = cv2.imread(str(tmp_path / line["snapshot"]))
    assert abs(int(picture[120, 300].mean()) - 80) <= 3  # the flash frame's own pixels (grey 80)


def test_the_snapshot_is_on_disk_before_its_line_and_a_full_disk_still_logs_the_alert(tmp_path):
    import cv2

    from streamer.alerts.log import AlertRecorder
    from streamer.alerts.record import build_alert
    from streamer.config import OverlayConfig

    classes = ("normal", "fight", "shooting")
    recorder = AlertRecorder(OverlayConfig(), AlertLog(tmp_path, 10**6, 1), classes, "HiResCAM")
    recorder.start()
    first = build_alert(analysis_of("gate"), 1, classes, 1_700_000_001.0)
    second = build_alert(analysis_of("door"), 1, classes, 1_700_000_002.0)
    (tmp_path / f"{second.id}.jpg.tmp").symlink_to("/dev/full")  # the disk is full for this one
    recorder.submit(first)
    recorder.submit(second)
    recorder.clip_finished(
        first.id, "gate", "fight", tmp_path / f"{first.id}.mp4", 12, tmp_path / f"{first.id}.raw.mp4"
    )
    recorder.close()
    lines = [json.loads(line) for line in (tmp_path / LOG_NAME).read_text().splitlines()]
    assert [(r["type"], r["id"]) for r in lines] == [
        ("alert", first.id),
        ("alert", second.id),
        ("clip", first.id),
    ]
    assert lines[0]["snapshot"] == f"{first.id}.jpg" and lines[0]["boxes"]
    assert cv2.imread(str(tmp_path / lines[0]["snapshot"])).shape == (48, 64, 3)
    assert lines[1]["snapshot"] is None and lines[1]["snapshot_error"] == "No space left on device"
    assert not (tmp_path / f"{second.id}.jpg").exists() and not (tmp_path / f"{second.id}.jpg.tmp").exists()


def test_an_alert_carries_the_map_of_its_own_class_when_another_was_explained(tiny_bundle, tmp_path):
    import numpy as np

    from streamer.alerts.alerting import Alerting
    from streamer.alerts.log import AlertRecorder
    from streamer.config import OverlayConfig
    from streamer.display import maps
    from streamer.inference.bundle import open_bundle
    from streamer.inference.frames import to_model_input
    from streamer.types import Analysis
    from tests.conftest import make_frames

    bundle = open_bundle(tiny_bundle, providers=("cpu",))
    frames = make_frames(3, 48, 64, seed=5)
    window = bundle.backbone(np.stack([to_model_input(f, (32, 32)) for f in frames]))
    as_fight = bundle.head(window, target=1)
    analysis = Analysis(
        "gate",
        (0, 1, 2),
        (0.0, 0.2, 0.4),
        as_fight.probs,
        as_fight.cam,
        1,
        0.5,
        (1.7e9, 1.7e9 + 0.2, 1.7e9 + 0.4),
        tuple(frames),
        window,
    )
    classes = ("normal", "fight", "shooting")
    recorder = AlertRecorder(OverlayConfig(), AlertLog(tmp_path, 10**6, 1), classes, "Grad-CAM")
    recorder.start()
    config = AlertsConfig(threshold=0.0, class_thresholds={"fight": 1.0}, k=1, n=1)  # shooting alone fires
    alerting = Alerting(
        config,
        classes,
        "normal",
        tmp_path,
        recorder,
        lambda *clip: None,
        lambda c, label: None,
        head=bundle.head,
    )
    (alert,) = alerting.decide(analysis)
    recorder.close()
    as_shooting = bundle.head(window, target=2)
    assert alert.label == "shooting" and alert.analysis.explained == 2
    np.testing.assert_allclose(alert.analysis.maps, as_shooting.cam, rtol=1e-5, atol=1e-6)
    strongest = int(np.argmax(as_shooting.cam.reshape(3, -1).max(axis=1)))
    expected = maps.strongest_regions(maps.upsample(as_shooting.cam[strongest], (48, 64)))
    assert alert.record["boxes"] == expected and expected
    line = json.loads((tmp_path / LOG_NAME).read_text().splitlines()[0])
    assert line["class"] == "shooting" and line["boxes"] == expected


def test_an_event_left_open_by_a_killed_run_is_ended_when_the_monitor_starts_again(tiny_bundle, tmp_path):
    """kill -9 mid-event leaves an alert line with no end: the next start ends it, once, saying why."""
    import threading

    from streamer.config import parse_config
    from streamer.monitor import build_monitor
    from tests.test_monitor import config_dict

    alert_dir = tmp_path / "alerts"
    log = AlertLog(alert_dir, 10**6, 1)
    for line in (
        {"type": "alert", "id": "a1", "camera": "street", "class": "fight"},
        {"type": "end", "id": "a1", "camera": "street", "class": "fight", "reason": "calm"},
        {"type": "alert", "id": "a2", "camera": "street", "class": "shooting"},
    ):
        log.append(line)
    log.close()
    with open(alert_dir / LOG_NAME, "a") as torn:
        torn.write('{"type":"alert","id":"a3","cam')  # the write kill -9 cut
    clip = tmp_path / "missing-is-fine.mp4"
    clip.write_bytes(b"")
    config = parse_config(config_dict(tiny_bundle, [{"name": "street", "source": str(clip)}], tmp_path))
    assert [e["id"] for e in AlertLog(alert_dir, 10**6, 1).open_events()] == ["a2"]
    for _ in range(2):  # started twice: ended once
        monitor = build_monitor(config, threading.Event())
        monitor.start()
        monitor.shutdown()
    lines = (alert_dir / LOG_NAME).read_text().splitlines()
    assert lines[3] == '{"type":"alert","id":"a3","cam'  # the fragment stays alone on its line
    ends = [json.loads(x) for x in lines[4:]]
    assert [(e["type"], e["id"], e["reason"]) for e in ends] == [("end", "a2", "monitor restarted")]
