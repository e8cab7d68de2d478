"""Reading class-per-folder video data sets: index, windows at the model's fps, split, bad data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from evaluation import synth
from evaluation.dataset import (
    DatasetError,
    clip_windows,
    index_dataset,
    iter_window_frames,
    read_frames,
    split_by_file,
)
from streamer.inference.frames import sample_indices

SPEC = synth.ClipSpec(width=64, height=48, fps=10.0, seconds=2.0)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    synth.make_dataset(root, 4, seed=0, spec=SPEC)
    return root


def test_index_orders_classes_normal_first(tiny_set):
    data = index_dataset(tiny_set)
    assert data.classes == ("normal", "fight", "shooting")
    assert len(data.clips) == 12 and data.skipped == ()
    clip = data.clips[0]
    assert clip.fps == pytest.approx(10.0) and clip.frames == 20 and (clip.width, clip.height) == (64, 48)


def test_windows_sample_at_the_model_fps(tiny_set):
    clip = index_dataset(tiny_set).clips[0]
    windows = clip_windows(clip, frames=4, sample_fps=5.0, hop_seconds=0.5)
    assert windows[0] == [0, 2, 4, 6]  # 10 fps video, 5 fps model: every other frame
    assert windows[1] == [5, 7, 9, 11]  # next window 0.5 s later
    assert all(w[-1] < clip.frames for w in windows)
    assert sample_indices(25.0, 5.0, 3, 3) == [3, 8, 13]


def test_windows_stay_inside_the_event(tiny_set):
    from dataclasses import replace

    clip = replace(index_dataset(tiny_set).clips[-1], event=(5, 15))
    for window in clip_windows(clip, frames=3, sample_fps=5.0, hop_seconds=0.2):
        assert window[0] >= 5 and window[-1] < 15


def test_read_frames_resizes_to_model_input(tiny_set):
    clip = index_dataset(tiny_set).clips[0]
    frames = read_frames(clip.path, [0, 5, 19], size=(32, 40))
    assert sorted(frames) == [0, 5, 19] and frames[5].shape == (32, 40, 3) and frames[5].dtype == np.uint8
    with pytest.raises(DatasetError, match=r"video ended at frame 20, frames up to 25 were expected"):
        read_frames(clip.path, [25], size=None)


def test_window_frames_decoded_once_match_read_frames(tiny_set):
    clip = index_dataset(tiny_set).clips[0]
    windows = [[8, 10, 12], [0, 2, 4], [4, 6, 8], [19]]  # out of order, overlapping
    every = read_frames(clip.path, {f for w in windows for f in w}, size=(32, 40))
    seen = list(iter_window_frames(clip.path, windows, size=(32, 40)))
    assert [w for w, _ in seen] == sorted(windows)
    for window, frames in seen:
        assert sorted(frames) == window
        for f in window:
            np.testing.assert_array_equal(frames[f], every[f])
    with pytest.raises(DatasetError, match=r"video ended at frame 20"):
        list(iter_window_frames(clip.path, [[18, 21]]))


def test_split_is_by_file_stratified_and_seeded(tiny_set):
    clips = index_dataset(tiny_set).clips
    train, val = split_by_file(clips, 0.25, seed=1)
    assert {c.path for c in train}.isdisjoint({c.path for c in val})
    assert len(train) + len(val) == 12
    assert sorted(c.label for c in val) == [0, 1, 2]  # one of four per class
    again, _ = split_by_file(clips, 0.25, seed=1)
    assert [c.path for c in again] == [c.path for c in train]


def test_windows_from_tf_data_have_model_shapes(tiny_set):
    pytest.importorskip("tensorflow")
    from models.training.data import WindowSpec, make_dataset

    clips = list(index_dataset(tiny_set).clips)
    spec = WindowSpec(frames=3, size=(32, 32), sample_fps=5.0, hop_seconds=0.5)
    data, steps = make_dataset(clips, spec, batch=4, seed=0, windows_per_clip=1)
    assert steps == 3
    windows, labels = next(iter(data))
    assert windows.shape == (4, 3, 32, 32, 3) and windows.dtype.name == "uint8"
    assert set(labels.numpy()) <= {0, 1, 2}


def copy_set(tiny_set, tmp_path):
    return shutil.copytree(tiny_set, tmp_path / "data")


def unreadable_clip(root):
    (root / "fight" / "broken.mp4").write_bytes(b"\0" * 512)


def short_clip(root):
    synth.make_clip(root, "fight", 99, 0, synth.ClipSpec(64, 48, 10.0, 0.2))


@pytest.mark.parametrize(
    "damage,skipped",
    [
        (unreadable_clip, r"broken\.mp4: cannot open video: skipped|broken\.mp4: unreadable video"),
    ],
)
def test_bad_clips_are_skipped_by_name(tiny_set, tmp_path, damage, skipped):
    import re

    root = copy_set(tiny_set, tmp_path)
    damage(root)
    data = index_dataset(root)
    assert len(data.clips) == 12
    assert any(re.search(skipped, line) for line in data.skipped), data.skipped


def empty_class(root):
    for f in (root / "shooting").iterdir():
        f.unlink()


def one_class(root):
    for name in ("fight", "shooting"):
        shutil.rmtree(root / name)


def no_normal(root):
    shutil.rmtree(root / "normal")


def bad_sidecar(root):
    (root / "fight" / "fight_00000.json").write_text(json.dumps({"event": {"start": "x"}}))


@pytest.mark.parametrize(
    "damage,message",
    [
        (empty_class, r"shooting: empty class folder \(no video files\)"),
        (one_class, r"one class only \(\['normal'\]\)"),
        (no_normal, r"classes: expected a 'normal' folder among \['fight', 'shooting'\]"),
    ],
)
def test_bad_data_sets_are_refused_by_name(tiny_set, tmp_path, damage, message):
    root = copy_set(tiny_set, tmp_path)
    damage(root)
    with pytest.raises(DatasetError, match=message):
        index_dataset(root)


def test_bad_sidecar_skips_that_clip(tiny_set, tmp_path):
    root = copy_set(tiny_set, tmp_path)
    bad_sidecar(root)
    data = index_dataset(root)
    assert len(data.clips) == 11
    assert any("fight_00000.json: bad ground-truth sidecar" in line for line in data.skipped)


def test_clip_shorter_than_a_window_is_skipped_by_train(tiny_set, tmp_path):
    pytest.importorskip("tensorflow")
    from models.training.train import TrainConfig, usable_dataset

    root = copy_set(tiny_set, tmp_path)
    short_clip(root)
    data = usable_dataset(TrainConfig(data=str(root), out=str(tmp_path / "run"), frames=4, sample_fps=5.0))
    assert len(data.clips) == 12
    assert any("fight_00099.mp4: shorter than a window" in line for line in data.skipped)


def test_a_clip_counts_what_decodes_not_what_its_header_claims(tmp_path):
    from evaluation.dataset import clip_windows, iter_window_frames, open_clip
    from tests.test_explain import write_lying_avi

    decoded = write_lying_avi(tmp_path / "lying.avi")
    clip = open_clip(tmp_path / "lying.avi")
    assert clip.frames == decoded
    windows = clip_windows(clip, 3, 5.0, 0.4)
    assert windows and sum(1 for _ in iter_window_frames(clip.path, windows)) == len(windows)
