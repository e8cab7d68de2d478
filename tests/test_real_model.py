"""The committed real-footage model (`models/real`): it opens with the runtime alone, its model card's
cross-validated numbers are what its fold reports say, and on real footage of ordinary street life
it stays quiet."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.dataset import clip_windows, open_clip, read_frames
from evaluation.evaluate import clip_activations
from evaluation.folds import per_fold, pooled
from streamer.config import load_config
from streamer.inference.bundle import open_bundle
from tests.conftest import FOOTAGE, REPO

REAL = REPO / "models" / "real"


def training_record(name: str):
    """A committed file of the model's training record (`models/real/training/NAME`)."""
    return json.loads((REAL / "training" / name).read_text())


def test_it_opens_with_the_runtime_as_a_fight_normal_model_at_10_fps():
    bundle = open_bundle(REAL, providers=("cpu",))
    m = bundle.manifest
    assert m.classes == ("normal", "fight") and m.normal_class == "normal"
    assert m.sample_fps == 10.0 and m.frames == 8 and m.cam_label == "HiResCAM"


def test_the_cards_cross_validated_numbers_are_the_fold_reports():
    folds = training_record("folds.json")
    summary = training_record("crossval.json")
    assert summary["pooled"] == pooled(folds)
    assert summary["per_fold"] == per_fold(folds)
    held_out = [c for f in folds for c in f["validation_clips"]]
    assert len(held_out) == len(set(held_out)) == 197  # every clip judged once
    card = (REAL / "README.md").read_text()
    p = summary["pooled"]
    assert f"**{p['accuracy']:.3f}**" in card and f"**{p['auc']['fight']:.3f}**" in card
    assert f"normal {p['confusion'][0][0]} / {p['confusion'][0][1]}" in card
    assert f"fight {p['confusion'][1][0]} / {p['confusion'][1][1]}" in card


def test_the_card_claims_what_each_folds_deletion_scores_show():
    """The card says the map beats the centre and random baselines in every fold: each fold's own
    report must say so, and the card's means must be those reports' means."""
    folds = training_record("folds.json")
    scores = [f["faithfulness"]["fight"] for f in folds]
    assert all(s["map_drop"] > s["centre_drop"] and s["map_drop"] > s["random_drop"] for s in scores)
    card = (REAL / "README.md").read_text()
    for key in ("map_drop", "centre_drop"):
        assert (
            f"**{np.mean([s[key] for s in scores]):.3f} ± {np.std([s[key] for s in scores], ddof=1):.3f}**"
            in card
        )
    assert "in **all 5 folds**" in card


def test_the_cards_tried_recipes_are_their_committed_summaries():
    """The card's "What would improve it" quotes recipes that were tried and not shipped: its numbers must be
    those runs' committed summaries beside the shipped recipe's folds (paired by fold)."""
    folds = training_record("folds.json")
    card = " ".join((REAL / "README.md").read_text().split())

    scenes = training_record("ablation-augment-scenes.json")["pooled"]
    shipped = pooled(folds[:4])  # that recipe ran folds 0-3 of the same split
    assert shipped["clips"] == scenes["clips"] == 156
    common = set(shipped["wrong"]) & set(scenes["wrong"])
    assert f"got {len(common)} of their {len(shipped['wrong'])} and {len(scenes['wrong'])} wrong" in card

    for summary, paired_folds in (("ablation-16-frames.json", (0, 1)), ("ablation-160px.json", (2, 4))):
        tried = training_record(summary)["per_fold"]
        base = per_fold([folds[i] for i in paired_folds])
        for name, label in (("clip accuracy", "clip accuracy"), ("fight clip AUC (mean)", "AUC")):
            a, b = base[name]["folds"], tried[name]["folds"]
            assert f"{label} {a[0]:.3f} / {a[1]:.3f} -> {b[0]:.3f} / {b[1]:.3f}" in card, (summary, name)

    curve = [training_record(f"learning-curve-{k}-folds.json")["pooled"] for k in (2, 3)] + [pooled(folds)]
    assert all(point["clips"] == 197 for point in curve)
    accuracy = " / ".join(f"{point['accuracy']:.3f}" for point in curve)
    auc = " / ".join(f"{point['auc']['fight']:.3f}" for point in curve)
    assert f"accuracy {accuracy}, AUC {auc}" in card


@pytest.mark.skipif(not FOOTAGE.is_file(), reason="the shared street footage is not beside the checkout")
def test_ordinary_street_life_gets_no_window_at_the_alert_threshold():
    bundle = open_bundle(REAL, providers=("cpu",))
    m = bundle.manifest
    clip = open_clip(FOOTAGE)
    windows = clip_windows(clip, m.frames, m.sample_fps, 0.4)
    shown = {f for w in windows for f in w}
    frames = read_frames(FOOTAGE, set(m.model_input.sources(sorted(shown), clip.fps)), size=None)
    activations = clip_activations(bundle, frames, shown, clip.fps)
    fight = m.classes.index("fight")
    probs = np.array([bundle.head(np.stack([activations[f] for f in w])).probs[fight] for w in windows])
    assert len(probs) > 150
    # The motion-coded model reacts to people walking (its card: 5 of 197 windows above 0.5, at most
    # 0.67); none may reach the shipped alert threshold.
    threshold = load_config(REPO / "config.toml").alerts.threshold
    assert probs.max() < threshold, f"window {np.argmax(probs)}: {probs.max():.2f}"
