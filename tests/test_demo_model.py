"""The committed demo model in the live monitor, on generated street scenes with ground truth:
a shooting (a fight) raises one shooting (fight) alert while it happens, whose evidence box is on
the actors; the normal minutes around it raise none."""

from __future__ import annotations

import json
import threading
import time

import pytest

from evaluation import synth
from streamer.config import parse_config
from streamer.inference.bundle import open_bundle
from streamer.monitor import build_monitor
from tests.conftest import REPO
from tests.test_monitor import assert_named_evidence_exists, config_dict

DEMO = REPO / "models" / "demo"
FPS = 10.0


def timeline(event: str) -> tuple:
    return (("normal", 7.0), (event, 7.0), ("normal", 4.0))


EVENTS = ["shooting", "fight"]


@pytest.fixture(scope="module", params=EVENTS)
def monitored(request, tmp_path_factory):
    """(event class, ground truth, alert records) of one monitored street scene."""
    event_class = request.param
    work = tmp_path_factory.mktemp(f"street-{event_class}")
    path = work / f"{event_class}.mp4"
    sidecar = synth.make_demo(path, seed=21, width=640, height=360, fps=FPS, timeline=timeline(event_class))
    data = config_dict(
        DEMO,
        [{"name": "street", "source": str(path), "loop": False}],
        work,
        inference={"stride": 2},
        alerts={"threshold": 0.7, "k": 2, "n": 3, "cooldown_s": 60.0},
    )
    monitor = build_monitor(parse_config(data), threading.Event())
    monitor.start()
    deadline = time.monotonic() + sum(s for _, s in timeline(event_class)) + 15
    while not monitor.captures[0].finished and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)
    monitor.shutdown()
    log = work / "alerts" / "alerts.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    if records:
        assert_named_evidence_exists(work / "alerts", size=(360, 640))
    return event_class, sidecar, [r for r in records if r["type"] == "alert"]


def overlap(a, b) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def test_demo_bundle_is_valid_and_small():
    bundle = open_bundle(DEMO, providers=("cpu",))
    m = bundle.manifest
    assert m.classes == ("normal", "fight", "shooting") and m.activation_shape[:2] >= (14, 14)
    assert m.metrics and m.metrics["accuracy"] > 0.9
    assert sum(f.stat().st_size for f in DEMO.iterdir()) < 10 * 2**20


def test_an_event_raises_one_alert_while_it_happens_and_normal_raises_none(monitored):
    event_class, sidecar, records = monitored
    (event,) = sidecar["events"]
    assert records, f"the {event_class} raised no alert"
    assert [r["class"] for r in records] == [event_class], records
    first, last = records[0]["window_frames"]
    assert event["start"] <= last, f"alert before the {event_class} began"
    assert first < event["end"] + FPS, f"alert long after the {event_class} ended"


def test_the_alert_evidence_box_is_on_the_actors(monitored):
    event_class, sidecar, records = monitored
    assert records, f"the {event_class} raised no alert"
    (event,) = sidecar["events"]
    last = records[0]["window_frames"][1]
    truth = sidecar["boxes"].get(str(min(last, event["end"] - 1)))
    assert truth and overlap(records[0]["boxes"][0]["box"], truth[0]), (records[0]["boxes"], truth)


def test_the_readme_demo_video_shows_both_events(tmp_path):
    """`make run`'s video, as the README promises: the fight and the shooting stand out, the normal
    minutes do not (window by window, the monitor's backbone-once-per-frame path)."""
    import numpy as np

    from evaluation.dataset import Clip, clip_windows, iter_window_frames, open_clip

    sidecar = synth.make_demo(tmp_path / "demo.mp4")
    bundle = open_bundle(DEMO, providers=("cpu",))
    m = bundle.manifest
    video = open_clip(tmp_path / "demo.mp4")
    windows = clip_windows(
        Clip(video.path, 0, video.fps, video.frames, video.width, video.height), m.frames, m.sample_fps, 0.8
    )
    cache, scores = {}, []
    for window, frames in iter_window_frames(video.path, windows, m.input_size):
        new = [f for f in window if f not in cache]
        cache.update(zip(new, bundle.backbone(np.stack([frames[f] for f in new]))))
        scores.append((window, bundle.head(np.stack([cache[f] for f in window])).probs))
    for event in sidecar["events"]:
        k = m.classes.index(event["label"])
        inside = [p[k] for w, p in scores if event["start"] <= w[0] and w[-1] < event["end"]]
        assert max(inside) >= 0.9, (event, max(inside))
    calm = [
        max(p[1:])
        for w, p in scores
        if all(not (e["start"] - 50 <= w[-1] and w[0] < e["end"] + 50) for e in sidecar["events"])
    ]
    assert len(calm) > 30 and max(calm) < 0.5, max(calm)
