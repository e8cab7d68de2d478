"""Synthetic CCTV scenes: deterministic, every class present, boxes inside the frame and on the actor."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from evaluation import synth
from evaluation.dataset import read_frames

SMALL = synth.ClipSpec(width=96, height=72, fps=5.0, seconds=2.0)


def decoded(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return np.stack(frames)


def test_same_seed_same_clips_other_seed_other_clips(tmp_path):
    a = synth.make_dataset(tmp_path / "a", 2, seed=5, spec=SMALL)
    b = synth.make_dataset(tmp_path / "b", 2, seed=5, spec=SMALL)
    c = synth.make_dataset(tmp_path / "c", 2, seed=6, spec=SMALL)
    for pa, pb, pc in zip(a, b, c):
        assert pa.with_suffix(".json").read_text() == pb.with_suffix(".json").read_text()
        np.testing.assert_array_equal(decoded(pa), decoded(pb))
        assert not np.array_equal(decoded(pa), decoded(pc))


def test_parallel_generation_equals_serial(tmp_path):
    serial = synth.make_dataset(tmp_path / "s", 2, seed=3, spec=SMALL, workers=1)
    parallel = synth.make_dataset(tmp_path / "p", 2, seed=3, spec=SMALL, workers=2)
    for s, p in zip(serial, parallel):
        np.testing.assert_array_equal(decoded(s), decoded(p))


def test_every_class_in_its_folder_with_ground_truth(tmp_path):
    synth.make_dataset(tmp_path, 3, seed=0, spec=SMALL)
    for label in synth.CLASSES:
        clips = sorted((tmp_path / label).glob("*.mp4"))
        assert len(clips) == 3
        for clip in clips:
            side = json.loads(clip.with_suffix(".json").read_text())
            assert side["label"] == label and side["frames"] == 10 and side["size"] == [96, 72]
            assert len(decoded(clip)) == 10
            if label == "normal":
                assert side["event"] is None and side["boxes"] == {}
            else:
                assert side["event"] == {"start": 0, "end": 10}
                assert sorted(map(int, side["boxes"])) == list(range(10))
                for boxes in side["boxes"].values():
                    for x0, y0, x1, y1 in boxes:
                        assert 0 <= x0 < x1 <= 95 and 0 <= y0 < y1 <= 71


@pytest.mark.parametrize("role,flash", [("fight", False), ("shoot", False), ("shoot", True), ("walk", False)])
def test_box_is_tight_around_the_drawn_figure(role, flash):
    rng = np.random.default_rng(0)
    canvas = np.full((200, 200, 3), 128, np.uint8)  # mid grey: dark weapons and bright flashes both show
    person = synth.Person(100, 170, 120, (230, 230, 230), (20, 20, 20), (250, 250, 250), role=role, facing=1)
    box = synth.draw_person(canvas, person, synth._pose(person, 0.0, rng), flash=flash)
    ys, xs = np.nonzero(np.abs(canvas.astype(int) - 128).max(axis=2) > 60)
    x0, y0, x1, y1 = box
    inside = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
    assert inside.mean() > 0.99  # the figure (and weapon, flash) is in its box
    assert x1 - x0 <= xs.max() - xs.min() + 12  # and the box is not much bigger than the figure
    assert y1 - y0 <= ys.max() - ys.min() + 12


def test_event_box_covers_the_actors_in_the_video(tmp_path):
    """In real decoded frames, the fight's box is where the frame differs from the empty scene."""
    spec = synth.ClipSpec(width=160, height=120, fps=5.0, seconds=1.0)
    rng = np.random.default_rng(11)
    scene = synth.make_scene(rng, spec.width, spec.height, "fight")
    scene.people = list(scene.actors)  # only the fighters
    scene.noise, scene.blur = 0.0, False
    empty = np.clip(
        scene.background.astype(np.float32) * scene.gain * scene.cast + scene.bias, 0, 255
    ).astype(np.uint8)
    frame, boxes = synth.render(scene, 0.0, 0.2, rng)
    changed = np.abs(frame.astype(int) - empty.astype(int)).max(axis=2) > 30
    ys, xs = np.nonzero(changed)
    ((x0, y0, x1, y1),) = boxes
    assert len(xs) > 50
    assert (((xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)).mean()) > 0.97


def test_demo_video_has_its_events_and_boxes_only_in_them(tmp_path):
    side = synth.make_demo(tmp_path / "demo.mp4", seed=1, width=128, height=72, fps=2.0)
    assert side["frames"] == 120 and side["size"] == [128, 72]
    assert [e["label"] for e in side["events"]] == ["fight", "shooting"]
    in_event = {f for e in side["events"] for f in range(e["start"], e["end"])}
    assert {int(f) for f in side["boxes"]} == in_event
    frames = read_frames(tmp_path / "demo.mp4", [0, 119], size=None)
    assert frames[0].shape == (72, 128, 3)
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert saved["events"] == side["events"]


def test_mixed_aspect_gives_both_camera_shapes(tmp_path):
    spec = synth.ClipSpec(width=96, height=72, fps=5.0, seconds=0.6, mixed_aspect=True)
    synth.make_dataset(tmp_path, 4, seed=0, spec=spec)
    sizes = {tuple(json.loads(p.read_text())["size"]) for p in tmp_path.rglob("*.json")}
    assert sizes == {(96, 72), (128, 72)}
