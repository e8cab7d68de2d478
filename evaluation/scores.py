"""Classification scores from labels and predictions: confusion matrix, accuracy, per-class P/R/F1."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """[true, predicted] counts."""
    matrix = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(matrix, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return matrix


def classification_report(y_true, y_pred, classes: tuple[str, ...] | list[str]) -> dict:
    matrix = confusion_matrix(y_true, y_pred, len(classes))
    per_class = {}
    for i, name in enumerate(classes):
        tp = int(matrix[i, i])
        predicted, actual = int(matrix[:, i].sum()), int(matrix[i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": actual,
        }
    total = int(matrix.sum())
    return {
        "accuracy": round(float(np.trace(matrix) / total), 4) if total else 0.0,
        "windows": total,
        "classes": list(classes),
        "per_class": per_class,
        "confusion": matrix.tolist(),
    }


def roc_auc(scores, positive) -> float | None:
    """Area under the ROC curve: the chance that a random positive scores above a random negative
    (ties count half; the Mann-Whitney statistic). None without both kinds."""
    scores, positive = np.asarray(scores, float), np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def clip_report(clip_probs: list[np.ndarray], labels: list[int], classes, normal: int) -> dict:
    """Clip-level scores from each clip's window probabilities [windows, classes]: a clip is what
    its mean window says; for each anomaly class present, ROC AUC of that class's mean and max
    window probability, its clips against the normal ones (how well a threshold could separate);
    per-class precision, recall and F1 and the confusion matrix of the clips' decisions."""
    mean = np.stack([p.mean(axis=0) for p in clip_probs])
    peak = np.stack([p.max(axis=0) for p in clip_probs])
    labels = np.asarray(labels)
    report = {
        "clips": len(labels),
        "accuracy_of_mean": round(float((mean.argmax(axis=1) == labels).mean()), 4),
        "classification": classification_report(labels, mean.argmax(axis=1), classes),
        "auc": {},
    }
    for k, name in enumerate(classes):
        keep = (labels == k) | (labels == normal)
        if k == normal or not (labels == k).any() or not (labels == normal).any():
            continue
        report["auc"][name] = {
            "clips": int((labels == k).sum()),
            "normal_clips": int((labels == normal).sum()),
            "mean": round(roc_auc(mean[keep, k], labels[keep] == k), 4),
            "max": round(roc_auc(peak[keep, k], labels[keep] == k), 4),
        }
    return report


def format_classification(report: dict, count: str = "support") -> list[str]:
    """Text lines of a classification report: P/R/F1 per class (with its `count` column), then the
    confusion matrix; the one layout of `vigil evaluate`, `vigil train` and `vigil folds`."""
    lines = [f"{'class':<12}{'precision':>10}{'recall':>10}{'f1':>8}{count:>9}"]
    for name, s in report["per_class"].items():
        lines.append(f"{name:<12}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>8.3f}{s['support']:>9}")
    lines += [
        "",
        "confusion (rows: true, columns: predicted)",
        " " * 12 + "".join(f"{c[:9]:>10}" for c in report["classes"]),
    ]
    for name, row in zip(report["classes"], report["confusion"]):
        lines.append(f"{name:<12}" + "".join(f"{v:>10}" for v in row))
    return lines
