"""Splits that keep clips of one source together: group files, name patterns, k folds, training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.dataset import Clip, DatasetError
from evaluation.groups import assign_groups, group_folds, pattern_groups, read_group_file, split_by_group
from tests.conftest import REAL_FIGHTS


def clip(name: str, label: int) -> Clip:
    return Clip(Path(f"/data/{'normal' if label == 0 else 'fight'}/{name}.mp4"), label, 10.0, 20, 64, 48)


def test_a_group_file_gathers_the_clips_under_each_heading(tmp_path):
    path = tmp_path / "sources.txt"
    path.write_text(
        "https://www.youtube.com/watch?v=abc\nfi001: 0.10.00 - 0.12.00\nnofi001: 1.00.00 - 1.02.00\n\n"
        "# a comment\ncamera 2, lobby\nfi002:\n"
    )
    assert read_group_file(path) == {
        "fi001": "https://www.youtube.com/watch?v=abc",
        "nofi001": "https://www.youtube.com/watch?v=abc",
        "fi002": "camera 2, lobby",
    }


@pytest.mark.parametrize(
    "text,message",
    [
        ("fi001: 0.1 - 0.2\n", "sources.txt:1: clip 'fi001' before any group heading"),
        ("just a heading\n", "no 'STEM: ...' clip lines under a heading"),
    ],
)
def test_a_bad_group_file_is_named_in_one_line(tmp_path, text, message):
    path = tmp_path / "sources.txt"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        read_group_file(path)
    with pytest.raises(DatasetError, match="cannot read the group file"):
        read_group_file(tmp_path / "missing.txt")


def test_a_pattern_names_groups_and_unnamed_clips_stand_alone():
    clips = [clip("cam1_001", 0), clip("cam1_002", 1), clip("cam2_001", 1), clip("other", 0)]
    named = pattern_groups(clips, r"^(cam\d+)_")
    assert named == {"cam1_001": "cam1", "cam1_002": "cam1", "cam2_001": "cam2"}
    groups = assign_groups(clips, named)
    assert groups[0] == groups[1] != groups[2] and groups[3] not in groups[:3]
    with pytest.raises(DatasetError, match="group pattern '\\(cam': "):
        pattern_groups(clips, "(cam")


def test_folds_hold_whole_groups_of_about_equal_size():
    clips = [clip(f"c{i:02d}", i % 2) for i in range(30)]
    groups = [f"g{i // 3}" for i in range(30)]  # 10 groups of 3
    folds = group_folds(clips, groups, 5, seed=1)
    assert sorted(i for f in folds for i in f) == list(range(30))
    assert all(len(f) == 6 for f in folds)
    for f in folds:
        inside = {groups[i] for i in f}
        assert not any(groups[i] in inside for other in folds if other is not f for i in other)
    train, val = split_by_group(clips, groups, 0.2, seed=1, fold=2, folds=5)
    assert {groups[clips.index(c)] for c in train}.isdisjoint({groups[clips.index(c)] for c in val})
    with pytest.raises(DatasetError, match="folds: expected 2 to 10"):
        group_folds(clips, groups, 11, seed=1)


def test_folds_share_out_each_class_when_groups_are_single_class():
    # Real sources are often all fights or all ordinary scenes: size alone could put two fight
    # sources in one fold and none in another.
    clips = [clip(f"c{i:02d}", (i // 3) % 2) for i in range(30)]
    groups = [f"g{i // 3}" for i in range(30)]  # 10 groups of 3, each one class
    for seed in range(10):
        for f in group_folds(clips, groups, 5, seed=seed):
            assert sorted(clips[i].label for i in f) == [0, 0, 0, 1, 1, 1], seed


def test_a_split_that_leaves_a_class_out_is_refused_by_name():
    clips = [clip("a", 0), clip("b", 0), clip("c", 1), clip("d", 1)]
    groups = ["x", "x", "y", "y"]  # each class lives in one group only
    with pytest.raises(DatasetError, match=r"has no clip of class\(es\) \['(normal|fight)'\]"):
        split_by_group(clips, groups, 0.5, seed=0, fold=0, folds=2, classes=("normal", "fight"))


@pytest.mark.skipif(
    not REAL_FIGHTS.is_dir(), reason="the shared real-fights clips are not beside the checkout"
)
def test_the_real_fight_clips_sources_file_reads_as_groups():
    named = read_group_file(REAL_FIGHTS / "sources.txt")
    stems = {p.stem for p in REAL_FIGHTS.glob("*/*.mp4")}
    assert set(named) <= stems and len(set(named.values())) >= 20
    assert len(named) >= 0.8 * len(stems)


def test_training_with_groups_keeps_every_group_on_one_side(tmp_path):
    pytest.importorskip("tensorflow")
    from evaluation import synth
    from models.training.train import train
    from tests.test_train import tiny_config

    data = tmp_path / "data"
    synth.make_dataset(data, 6, seed=3, spec=synth.ClipSpec(width=64, height=48, fps=10.0, seconds=1.6))
    stems = sorted(p.stem for p in data.glob("*/*.mp4"))
    groups = tmp_path / "groups.txt"
    groups.write_text("".join(f"source {i % 6}\n{stem}: cut\n" for i, stem in enumerate(stems)))
    report = train(tiny_config(data, tmp_path / "run", epochs=1, groups=str(groups), folds=3, fold=1))
    named = read_group_file(groups)
    val = {named[Path(p).stem] for p in report["validation_clips"]}
    train_groups = {named[s] for s in stems} - val
    assert val and train_groups and len(val) == 2  # 6 groups in 3 folds
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["validation_clips"] == report["validation_clips"]
