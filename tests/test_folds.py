"""`vigil folds`: fold reports written by the real evaluation, summed up as spread and pooled clips."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from evaluation import synth
from evaluation.dataset import Dataset, index_dataset
from evaluation.evaluate import evaluate
from evaluation.folds import FoldsError, summarise
from streamer.inference.bundle import open_bundle
from tests.conftest import REPO


@pytest.fixture(scope="module")
def fold_runs(tiny_bundle, tmp_path_factory):
    """Two 'folds': the tiny bundle's real reports on two disjoint halves of a small data set."""
    root = tmp_path_factory.mktemp("data")
    synth.make_dataset(root, 4, seed=5, spec=synth.ClipSpec(width=64, height=48, fps=10.0, seconds=1.6))
    bundle = open_bundle(tiny_bundle, providers=("cpu",))
    data = index_dataset(root, classes=bundle.manifest.classes)
    runs = []
    for k in range(2):
        run = tmp_path_factory.mktemp(f"f{k}")
        half = Dataset(data.classes, tuple(c for i, c in enumerate(data.clips) if i % 2 == k), ())
        report = evaluate(bundle, half, hop_seconds=0.4, deletion_windows=1)
        (run / "report.json").write_text(json.dumps(report))
        runs.append(run)
    return runs


def test_folds_pool_every_held_out_clip_once_and_give_each_scores_spread(fold_runs):
    reports = [json.loads((r / "report.json").read_text()) for r in fold_runs]
    summary = summarise(fold_runs)
    pooled = summary["pooled"]
    assert pooled["clips"] == sum(r["clip_level"]["clips"] for r in reports) == 12
    confusions = [np.array(r["clip_level"]["classification"]["confusion"]) for r in reports]
    assert pooled["confusion"] == sum(confusions).tolist()
    right = sum(r["clip_level"]["accuracy_of_mean"] * r["clip_level"]["clips"] for r in reports)
    assert pooled["accuracy"] == pytest.approx(right / 12, abs=1e-3)
    assert len(pooled["wrong"]) == round(12 * (1 - pooled["accuracy"]))
    accuracy = summary["per_fold"]["clip accuracy"]
    values = [r["clip_level"]["accuracy_of_mean"] for r in reports]
    assert accuracy["folds"] == values and accuracy["mean"] == pytest.approx(np.mean(values), abs=1e-4)
    assert accuracy["sd"] == pytest.approx(np.std(values, ddof=1), abs=1e-4)
    assert set(pooled["auc"]) == {"fight", "shooting"}


def test_the_folds_command_prints_the_table_and_names_a_bad_run(fold_runs, tmp_path):
    out = tmp_path / "s.json"
    command = [sys.executable, "-m", "vigil", "folds", *map(str, fold_runs), "--json", str(out)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "2 folds: mean ± sd over folds" in result.stdout and "pooled: 12 held-out clips" in result.stdout
    assert json.loads(out.read_text())["pooled"]["clips"] == 12
    (tmp_path / "empty").mkdir()
    bad = subprocess.run(
        command[:4] + [str(fold_runs[0]), str(tmp_path / "empty")], cwd=REPO, capture_output=True, text=True
    )
    assert bad.returncode == 1
    missing = tmp_path / "empty" / "report.json"
    assert bad.stderr.strip() == f"vigil folds: {missing}: not a training report (No such file or directory)"
    with pytest.raises(FoldsError, match="no per-clip scores"):
        (tmp_path / "old").mkdir()
        (tmp_path / "old" / "report.json").write_text(json.dumps({"classes": ["normal", "fight"]}))
        summarise([tmp_path / "old"])
