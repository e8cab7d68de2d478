"""`vigil evaluate`: a bundle on a labelled data set, through the monitor's own path (backbone once
per frame, cached; head per window): classification scores and Grad-CAM fidelity."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from evaluation import fidelity
from evaluation.dataset import Clip, Dataset, clip_windows, read_frames
from evaluation.scores import classification_report
from streamer.display import maps
from streamer.inference.bundle import Bundle
from streamer.inference.frames import to_model_input

logger = logging.getLogger(__name__)


@dataclass
class Pointing:
    """Running sums of the explanation-fidelity measures over anomaly frames."""

    frames: int = 0
    hits: int = 0
    energy: float = 0.0
    centre_hits: int = 0
    random_hits: float = 0.0

    def add(self, cam_up: np.ndarray, boxes: list, margin: int) -> None:
        size = cam_up.shape
        self.frames += 1
        self.hits += fidelity.inside(fidelity.peak(cam_up), boxes, margin, size)
        self.energy += fidelity.energy_in_boxes(cam_up, boxes)
        self.centre_hits += fidelity.centre_hit(boxes, margin, size)
        self.random_hits += fidelity.random_point_hit_rate(boxes, margin, size)

    def __iadd__(self, other: Pointing) -> Pointing:
        self.frames += other.frames
        self.hits += other.hits
        self.energy += other.energy
        self.centre_hits += other.centre_hits
        self.random_hits += other.random_hits
        return self

    def summary(self) -> dict:
        n = max(self.frames, 1)
        return {
            "frames": self.frames,
            "pointing_game": round(self.hits / n, 4),
            "energy_in_box": round(self.energy / n, 4),
            "centre_prior": round(self.centre_hits / n, 4),
            "random_point": round(self.random_hits / n, 4),
        }


def clip_activations(bundle: Bundle, frames: dict[int, np.ndarray], batch: int = 32) -> dict[int, np.ndarray]:
    """Backbone activations of each frame, computed once: the monitor's per-frame cache."""
    order = sorted(frames)
    size = bundle.manifest.input_size
    out = {}
    for i in range(0, len(order), batch):
        chunk = order[i : i + batch]
        acts = bundle.backbone(np.stack([to_model_input(frames[f], size) for f in chunk]))
        out.update(zip(chunk, acts))
    return out


def evaluate_clip(
    bundle: Bundle, clip: Clip, hop_seconds: float, margin: int, normal: int, pointing: dict[str, Pointing]
) -> tuple[list[int], list[int]]:
    m = bundle.manifest
    windows = clip_windows(clip, m.frames, m.sample_fps, hop_seconds)
    if not windows:
        return [], []
    frames = read_frames(clip.path, {f for w in windows for f in w}, size=None)
    activations = clip_activations(bundle, frames)
    predictions = []
    for window in windows:
        result = bundle.head(np.stack([activations[f] for f in window]), target=clip.label)
        predictions.append(int(np.argmax(result.probs)))
        if clip.label == normal or not clip.boxes:
            continue
        for k, f in enumerate(window):
            if f in clip.boxes:
                cam_up = maps.upsample(result.cam[k], frames[f].shape[:2])
                for key in ("all", m.classes[clip.label]):
                    pointing.setdefault(key, Pointing()).add(cam_up, clip.boxes[f], margin)
    return [clip.label] * len(predictions), predictions


def evaluate(bundle: Bundle, dataset: Dataset, hop_seconds: float = 0.8, margin: int = 4) -> dict:
    """Scores of every window of every clip; CAMs explain the true class (what should be seen)."""
    if tuple(dataset.classes) != tuple(bundle.manifest.classes):
        raise ValueError(
            f"classes: the bundle has {list(bundle.manifest.classes)}, the data set {list(dataset.classes)}"
        )
    normal = bundle.manifest.classes.index(bundle.manifest.normal_class)
    y_true, y_pred, pointing = [], [], {}
    for i, clip in enumerate(dataset.clips, 1):
        t, p = evaluate_clip(bundle, clip, hop_seconds, margin, normal, pointing)
        y_true += t
        y_pred += p
        if i % 50 == 0:
            logger.info("evaluated %d/%d clips", i, len(dataset.clips))
    report = classification_report(y_true, y_pred, dataset.classes)
    report["explanation"] = {key: p.summary() for key, p in sorted(pointing.items())}
    report["margin_px"] = margin
    report["cam"] = bundle.manifest.cam_label
    report["skipped"] = list(dataset.skipped)
    return report


def format_report(report: dict) -> str:
    """The report as a plain-text table."""
    lines = [
        f"accuracy {report['accuracy']:.3f} over {report['windows']} windows",
        "",
        f"{'class':<12}{'precision':>10}{'recall':>10}{'f1':>8}{'support':>9}",
    ]
    for name, s in report["per_class"].items():
        lines.append(f"{name:<12}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>8.3f}{s['support']:>9}")
    lines += [
        "",
        "confusion (rows: true, columns: predicted)",
        " " * 12 + "".join(f"{c[:9]:>10}" for c in report["classes"]),
    ]
    for name, row in zip(report["classes"], report["confusion"]):
        lines.append(f"{name:<12}" + "".join(f"{v:>10}" for v in row))
    if report.get("explanation"):
        lines += [
            "",
            f"{report.get('cam', 'Grad-CAM')} on anomaly frames (margin {report['margin_px']} px)",
            format_table(pointing_table(report["explanation"], "class")),
        ]
    return "\n".join(lines)


POINTING_COLUMNS = ("frames", "pointing game", "energy in box", "centre prior", "random point")


def pointing_table(summaries: dict[str, dict], first_column: str) -> list[list]:
    """The pointing-game table, header first: one row per entry of Pointing.summary()s (a class, a
    method), with the baselines beside it. Text and HTML reports both draw this one."""
    rows: list[list] = [[first_column, *POINTING_COLUMNS]]
    rows += [
        [name, s["frames"], s["pointing_game"], s["energy_in_box"], s["centre_prior"], s["random_point"]]
        for name, s in summaries.items()
    ]
    return rows


def format_table(rows: list[list]) -> str:
    """Rows as aligned plain text: the first column left, numbers right, floats to 3 decimals."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in cells
    )
