"""`vigil evaluate` on data sets shaped like real ones: folders named their own way, only some of
the bundle's classes, clip-level scores with ROC AUC."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from evaluation import sheet, synth
from evaluation.dataset import DatasetError, index_dataset, parse_class_map
from evaluation.scores import clip_report, roc_auc
from tests.conftest import REPO

CLASSES = ("normal", "fight", "shooting")


def test_roc_auc_is_the_chance_a_positive_outranks_a_negative():
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert roc_auc([0.5, 0.5], [1, 0]) == pytest.approx(0.5)  # a tie counts half
    assert roc_auc([0.9, 0.1, 0.8], [1, 0, 1]) == pytest.approx(1.0)
    assert roc_auc([0.2, 0.3], [1, 1]) is None


def test_a_clip_is_its_windows_mean_and_auc_uses_mean_and_max():
    probs = [
        np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0]]),  # normal, calm
        np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0]]),  # normal with one fight-like window
        np.array([[0.3, 0.7, 0.0], [0.4, 0.6, 0.0]]),  # fight
    ]
    report = clip_report(probs, [0, 0, 1], CLASSES, normal=0)
    assert report["clips"] == 3 and report["accuracy_of_mean"] == pytest.approx(1.0)
    assert set(report["auc"]) == {"fight"}  # no shooting clip: no AUC for it
    assert report["auc"]["fight"]["mean"] == 1.0 and report["auc"]["fight"]["max"] == 0.5


@pytest.fixture(scope="module")
def fight_set(tmp_path_factory):
    """A fight/normal set whose folders are named as a public data set names them."""
    made = tmp_path_factory.mktemp("made")
    synth.make_dataset(made, 3, seed=4, spec=synth.ClipSpec(width=64, height=48, fps=10.0, seconds=1.6))
    root = tmp_path_factory.mktemp("real-like")
    shutil.copytree(made / "normal", root / "noFight")
    shutil.copytree(made / "fight", root / "Fight")
    return root


def test_folders_map_onto_a_subset_of_the_model_classes(fight_set):
    data = index_dataset(
        fight_set, classes=CLASSES, class_map=parse_class_map("noFight=normal, Fight=fight"), subset=True
    )
    assert data.classes == CLASSES
    assert sorted({c.label for c in data.clips}) == [0, 1] and len(data.clips) == 6


@pytest.mark.parametrize(
    "class_map,subset,message",
    [
        ("", True, "folder(s) ['Fight', 'noFight'] are none of the classes ['normal', 'fight', 'shooting']"),
        ("noFight=normal,Fight=fihgt", True, "folder(s) ['Fight=fihgt'] are none of the classes"),
        ("noFight=normal,Figth=fight", True, "class map names folder(s) ['Figth'] that are not there"),
        ("noFight=normal,Fight=fight", False, "no folder for class(es) ['shooting']"),
        ("Fight=fight,noFight=fight", True, "expected a folder for 'normal' and for at least one other"),
        ("noFight", True, "class map: expected FOLDER=CLASS, got 'noFight'"),
    ],
)
def test_a_wrong_map_or_set_is_named_in_one_line(fight_set, class_map, subset, message):
    with pytest.raises(DatasetError) as err:
        index_dataset(fight_set, classes=CLASSES, class_map=parse_class_map(class_map), subset=subset)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_evaluate_scores_a_fight_normal_set_with_a_three_class_bundle(fight_set, tiny_bundle, tmp_path):
    out = tmp_path / "e.json"
    command = [sys.executable, "-m", "vigil", "evaluate", str(tiny_bundle), "--data", str(fight_set)]
    result = subprocess.run(
        command
        + ["--class-map", "noFight=normal,Fight=fight", "--hop", "0.4", "--json", str(out)]
        + ["--sheet", str(tmp_path / "sheet.png")]
        + ["--providers", "cpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["confusion"][2] == [0, 0, 0]  # no shooting clips
    clips = report["clip_level"]
    assert clips["clips"] == 6 and set(clips["auc"]) == {"fight"}
    assert 0 <= clips["auc"]["fight"]["mean"] <= 1 and clips["auc"]["fight"]["normal_clips"] == 3
    assert "ROC AUC" in result.stdout and "fight" in report["faithfulness"]
    assert f"{tmp_path / 'sheet.png'}: 6 clips, each at its evidence frame" in result.stdout
    assert cv2.imread(str(tmp_path / "sheet.png")).shape == (
        sheet.TILE_WIDTH * 3 // 4 + sheet.CAPTION_HEIGHT,
        6 * sheet.TILE_WIDTH,
        3,
    )
    refused = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("vigil evaluate: ") and "(map each: --class-map FOLDER=CLASS,...)" in last


def caption_colour(tile: np.ndarray) -> tuple[int, int, int]:
    """The brightest colour of a tile's caption (its text)."""
    caption = tile[-sheet.CAPTION_HEIGHT :].reshape(-1, 3)
    return tuple(int(v) for v in caption[caption.sum(axis=1).argmax()])


def test_the_contact_sheet_has_a_tile_per_clip_red_where_the_clip_is_wrong(fight_set, tiny_bundle, tmp_path):
    from evaluation.evaluate import evaluate
    from streamer.inference.bundle import open_bundle

    bundle = open_bundle(tiny_bundle, providers=("cpu",))
    data = index_dataset(
        fight_set, classes=CLASSES, class_map=parse_class_map("noFight=normal,Fight=fight"), subset=True
    )
    collected = sheet.ContactSheet(bundle)
    report = evaluate(bundle, data, hop_seconds=0.4, deletion_windows=0, sheet=collected)
    assert len(collected.tiles) == 6
    colours = [caption_colour(t) for _, t in collected.tiles]
    assert all(c in (sheet.RIGHT, sheet.WRONG) for c in colours), colours
    wrong = sum(c == sheet.WRONG for c in colours)
    assert wrong == round(6 * (1 - report["clip_level"]["accuracy_of_mean"]))
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OSError, match="a-file/sheet.png: could not write the contact sheet"):
        collected.write(tmp_path / "a-file" / "sheet.png", columns=3)
    assert (
        cv2.imread(str(collected.write(tmp_path / "sheet.odd-name", columns=3))).shape[1]
        == 3 * sheet.TILE_WIDTH
    )
    written = cv2.imread(str(collected.write(tmp_path / "sheet.png", columns=4)))
    assert written.shape[:2] == (2 * (sheet.TILE_WIDTH * 3 // 4 + sheet.CAPTION_HEIGHT), 4 * sheet.TILE_WIDTH)
