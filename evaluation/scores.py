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
