"""A k-fold run's reports as one: each score's mean and spread over the folds (how much a number
depends on which recordings were held out), and the scores of every held-out clip pooled (each clip
judged once, by the model that never saw it). `vigil folds RUN_f0 RUN_f1 ...`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from evaluation.scores import classification_report, format_classification, roc_auc


class FoldsError(ValueError):
    pass


def read_reports(runs: list[str | Path]) -> list[dict]:
    """Each run folder's report.json; FoldsError naming the first that is missing or unusable."""
    reports = []
    for run in runs:
        path = Path(run) / "report.json"
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise FoldsError(
                f"{path}: not a training report ({getattr(err, 'strerror', None) or err})"
            ) from None
        if not (report.get("clip_level") or {}).get("per_clip") or "normal_class" not in report:
            raise FoldsError(f"{path}: no per-clip scores (a run without validation, or from an older Vigil)")
        reports.append(report)
    classes = {tuple(r["classes"]) for r in reports}
    if len(classes) > 1:
        raise FoldsError(f"the runs have different classes: {sorted(classes)}")
    return reports


def spread(values: list[float]) -> dict:
    """Mean, standard deviation (over folds: ddof 1) and the values themselves."""
    a = np.asarray(values, float)
    return {
        "mean": round(float(a.mean()), 4),
        "sd": round(float(a.std(ddof=1)) if len(a) > 1 else 0.0, 4),
        "folds": [round(float(v), 4) for v in a],
    }


def per_fold(reports: list[dict]) -> dict:
    """Each headline score's spread over the folds."""
    scores: dict[str, list[float]] = {}

    def add(name: str, value) -> None:
        if value is not None:
            scores.setdefault(name, []).append(float(value))

    for r in reports:
        clips = r["clip_level"]
        add("window accuracy", r["accuracy"])
        add("clip accuracy", clips["accuracy_of_mean"])
        for name, auc in clips["auc"].items():
            add(f"{name} clip AUC (mean)", auc["mean"])
            add(f"{name} clip AUC (max)", auc["max"])
        for name, s in clips["classification"]["per_class"].items():
            for key in ("precision", "recall", "f1"):
                add(f"{name} clip {key}", s[key])
        deletion = (r.get("faithfulness") or {}).get("all")
        if deletion:
            for key in ("map_drop", "centre_drop", "random_drop"):
                add(f"deletion {key.replace('_', ' ')}", deletion[key])
    return {name: spread(values) for name, values in scores.items()}


def pooled(reports: list[dict]) -> dict:
    """Every held-out clip once: accuracy, per-class P/R/F1, confusion and each anomaly class's ROC
    AUC of its mean window probability against the normal clips."""
    classes = reports[0]["classes"]
    clips = [c for r in reports for c in r["clip_level"]["per_clip"]]
    labels = np.array([classes.index(c["label"]) for c in clips])
    mean = np.array([c["mean"] for c in clips])
    out = classification_report(labels, mean.argmax(axis=1), classes)
    out["clips"] = out.pop("windows")
    normal = classes.index(reports[0]["normal_class"])
    out["auc"] = {}
    for k, name in enumerate(classes):
        keep = (labels == k) | (labels == normal)
        if k != normal and (labels == k).any() and (labels == normal).any():
            out["auc"][name] = round(roc_auc(mean[keep, k], labels[keep] == k), 4)
    out["wrong"] = sorted(
        c["clip"] for c, label, row in zip(clips, labels, mean) if int(np.argmax(row)) != int(label)
    )
    return out


def summarise(runs: list[str | Path]) -> dict:
    reports = read_reports(runs)
    return {"runs": [str(r) for r in runs], "per_fold": per_fold(reports), "pooled": pooled(reports)}


def format_summary(summary: dict) -> str:
    """Plain-text: the spread table, then the pooled clip scores and confusion."""
    folds = len(summary["runs"])
    lines = [f"{folds} folds: mean ± sd over folds (each fold's value)", ""]
    width = max(len(n) for n in summary["per_fold"]) + 2
    for name, s in summary["per_fold"].items():
        each = " ".join(f"{v:.3f}" for v in s["folds"])
        lines.append(f"{name:<{width}}{s['mean']:.3f} ± {s['sd']:.3f}   ({each})")
    p = summary["pooled"]
    lines += [
        "",
        f"pooled: {p['clips']} held-out clips, accuracy {p['accuracy']:.3f}, "
        + ", ".join(f"{n} AUC {a:.3f}" for n, a in p["auc"].items()),
        "",
        *format_classification(p, count="clips"),
    ]
    lines += ["", f"wrong ({len(p['wrong'])}): " + " ".join(p["wrong"])]
    return "\n".join(lines)
