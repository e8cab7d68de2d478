"""`vigil train` on a tiny generated data set: it learns, writes its report and a loadable bundle, resumes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras  # noqa: E402

from evaluation import synth  # noqa: E402
from models.training.train import TrainConfig, class_weights, train  # noqa: E402
from streamer.inference.bundle import open_bundle  # noqa: E402
from tests.conftest import REPO  # noqa: E402


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-data")
    synth.make_dataset(root, 5, seed=0, spec=synth.ClipSpec(width=64, height=48, fps=10.0, seconds=1.6))
    return root


def tiny_config(data, out, **overrides) -> TrainConfig:
    base = dict(
        data=str(data),
        out=str(out),
        frames=3,
        size=32,
        sample_fps=5.0,
        epochs=6,
        batch=4,
        learning_rate=3e-3,
        gru_units=8,
        dense_units=(16,),
        dropout=0.0,
        hop_seconds=0.4,
        windows_per_clip=2,
        augment=False,
        val_fraction=0.2,
        seed=0,
    )
    return TrainConfig(**{**base, **overrides})


def losses(run) -> list[float]:
    with open(run / "training_log.csv") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def test_training_lowers_the_loss_and_writes_report_and_bundle(tiny_data, tmp_path):
    run = tmp_path / "run"
    report = train(tiny_config(tiny_data, run))
    curve = losses(run)
    assert len(curve) == 6
    assert curve[-1] < 0.9 * curve[0], curve
    for name in (
        "best.keras",
        "last.keras",
        "report.json",
        "report.txt",
        "confusion.png",
        "curves.png",
        "config.json",
        "validation_sheet.png",
    ):
        assert (run / name).is_file(), name
    assert set(report["per_class"]) == {"normal", "fight", "shooting"}
    manifest = json.loads((run / "bundle" / "manifest.json").read_text())
    assert manifest["metrics"]["accuracy"] == report["accuracy"]
    assert manifest["sample_fps"] == 5.0 and manifest["frames"] == 3
    assert open_bundle(run / "bundle", providers=("cpu",)).manifest.classes == ("normal", "fight", "shooting")


def test_resume_continues_where_it_stopped(tiny_data, tmp_path):
    # With the motion head: its extra layers must survive saving, resuming and export.
    run = tmp_path / "run"
    train(tiny_config(tiny_data, run, epochs=2, motion=True))
    assert json.loads((run / "state.json").read_text()) == {"epochs_done": 2}
    train(tiny_config(tiny_data, run, epochs=3, resume=True, motion=True))
    assert json.loads((run / "state.json").read_text()) == {"epochs_done": 3}
    assert len(losses(run)) == 3
    head = keras.models.load_model(run / "bundle" / "model.keras").get_layer("head")
    assert "frame_motion" in [layer.name for layer in head.layers]


def test_class_weights_balance_a_rare_class():
    weights = class_weights([0] * 8 + [1] * 2 + [2] * 2, 3)
    assert weights[1] == pytest.approx(4 * weights[0])
    assert weights[0] * 8 + weights[1] * 2 + weights[2] * 2 == pytest.approx(12)


def test_train_command_refuses_one_class(tmp_path, tiny_data):
    import shutil

    root = shutil.copytree(tiny_data, tmp_path / "data")
    shutil.rmtree(root / "fight")
    shutil.rmtree(root / "shooting")
    result = subprocess.run(
        [sys.executable, "-m", "vigil", "train", "--data", str(root), "--out", str(tmp_path / "r")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "one class only (['normal']): a classifier needs two or more" in result.stderr


def test_evaluate_command_prints_table_and_json(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(tiny_data, run, epochs=1))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil",
            "evaluate",
            str(run / "bundle"),
            "--data",
            str(tiny_data),
            "--hop",
            "0.4",
            "--json",
            str(tmp_path / "e.json"),
            "--providers",
            "cpu",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "pointing" in result.stdout and "confusion" in result.stdout and "deletion" in result.stdout
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["windows"] == sum(report["confusion"][i][j] for i in range(3) for j in range(3))
    for key in ("all", "fight", "shooting"):
        e = report["explanation"][key]
        assert e["frames"] > 0 and 0 <= e["pointing_game"] <= 1 and 0 < e["random_point"] < 1
        d = report["faithfulness"][key]
        assert d["windows"] > 0 and all(
            d[f"{k}_drop"] <= 1 for k in ("map", "centre", "random")
        )  # 1: all gone


def test_keep_last_trains_every_epoch_on_a_falling_rate_and_ships_the_last(tiny_data, tmp_path):
    # Cross-validation must not let the validation fold choose the epoch it is then scored on.
    from models.export import load_model
    from models.training.train import convrnn_only

    run = tmp_path / "run"
    train(tiny_config(tiny_data, run, epochs=4, patience=1, keep="last"))
    with open(run / "training_log.csv") as f:
        rates = [float(row["learning_rate"]) for row in csv.DictReader(f)]
    assert len(rates) == 4 and rates[0] == pytest.approx(3e-3)
    assert all(a > b for a, b in zip(rates, rates[1:])), rates
    assert not (run / "best.keras").exists()
    shipped = keras.models.load_model(run / "bundle" / "model.keras").get_weights()
    last = convrnn_only(load_model(run / "last.keras")).get_weights()
    assert all((a == b).all() for a, b in zip(shipped, last, strict=True))


def test_the_train_command_takes_the_hop_and_what_to_keep(tiny_data, tmp_path):
    from vigil.cli import main

    run = tmp_path / "run"
    tiny = ["--frames", "3", "--size", "32", "--batch", "4", "--gru-units", "8", "--dense", "16"]
    args = ["train", "--data", str(tiny_data), "--out", str(run), *tiny, "--epochs", "1"]
    assert main([*args, "--hop", "0.2", "--windows-per-clip", "9", "--keep", "last"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["hop_seconds"] == 0.2 and config["keep"] == "last"
    # 1.6 s clips at 10 fps, 3 frames at 5 fps (0.4 s): 6 windows a clip at a 0.2 s hop, 3 at 0.4 s.
    assert json.loads((run / "report.json").read_text())["windows"] == 6 * 3


def test_all_clips_trains_on_every_clip_and_ships_without_validation(tiny_data, tmp_path, caplog):
    from models.training.train import TrainError

    caplog.set_level("INFO")
    run = tmp_path / "run"
    report = train(tiny_config(tiny_data, run, epochs=2, keep="last", all_clips=True))
    assert "15 train clips" in caplog.text and "0 validation clips" in caplog.text
    assert report["validation"].startswith("none") and report["epochs"] == 2
    assert not (run / "validation_sheet.png").exists() and not (run / "report.txt").exists()
    manifest = json.loads((run / "bundle" / "manifest.json").read_text())
    assert manifest["metrics"]["validation"] == report["validation"]
    assert open_bundle(run / "bundle", providers=("cpu",)).manifest.classes == ("normal", "fight", "shooting")
    with pytest.raises(TrainError, match="--all-clips needs --keep last"):
        train(tiny_config(tiny_data, tmp_path / "r2", all_clips=True))


def test_also_train_clips_join_the_training_side_only(tiny_data, tmp_path, caplog):
    import shutil

    from evaluation.dataset import DatasetError

    extra = tmp_path / "extra"
    synth.make_dataset(extra, 2, seed=9, spec=synth.ClipSpec(width=64, height=48, fps=10.0, seconds=1.6))
    shutil.rmtree(extra / "shooting")  # a subset of the data's classes is enough
    caplog.set_level("INFO")
    run = tmp_path / "run"
    report = train(tiny_config(tiny_data, run, epochs=1, also_train=str(extra)))
    assert "--also-train" in caplog.text and ": 4 clips on the training side" in caplog.text
    assert "16 train clips" in caplog.text  # 12 of the data's 15 and the 4 extra
    assert len(report["validation_clips"]) == 3
    assert all((tiny_data / c).is_file() for c in report["validation_clips"])
    (extra / "riot").mkdir()
    shutil.copy(next((extra / "fight").glob("*.mp4")), extra / "riot")
    with pytest.raises(DatasetError, match=r"folder\(s\) \['riot'\] are none of the classes"):
        train(tiny_config(tiny_data, tmp_path / "r2", epochs=1, also_train=str(extra)))


def test_a_frozen_backbone_keeps_its_features_while_the_rest_learns(tiny_data, tmp_path):
    from models.convrnn import split_convrnn
    from models.export import load_model
    from models.training.train import convrnn_only

    def parts(run):
        model = convrnn_only(load_model(run / "last.keras"))
        backbone = split_convrnn(model)[0]
        mine = {id(w) for w in backbone.weights}
        return backbone.get_weights(), [w.numpy() for w in model.weights if id(w) not in mine]

    first = tmp_path / "first"
    train(tiny_config(tiny_data, first, epochs=1))
    frozen = tmp_path / "frozen"
    train(
        tiny_config(
            tiny_data, frozen, epochs=2, backbone_from=str(first / "last.keras"), freeze_backbone=True
        )
    )
    (before, head_before), (after, head_after) = parts(first), parts(frozen)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert any(not np.array_equal(a, b) for a, b in zip(head_before, head_after, strict=True))
