"""`vigil evaluate`: a bundle on a labelled data set, through the monitor's own path (backbone once
per frame, cached; head per window): classification scores, the CAM's pointing game where clips
have boxes, and its deletion score (faithfulness without boxes)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from evaluation import faithfulness, fidelity
from evaluation.dataset import Clip, Dataset, clip_windows, read_frames
from evaluation.scores import classification_report, clip_report, format_classification
from evaluation.sheet import ContactSheet
from streamer.display import maps
from streamer.inference.bundle import Bundle

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


def clip_activations(
    bundle: Bundle, frames: dict[int, np.ndarray], indices: set[int], fps: float, batch: int = 32
) -> dict[int, np.ndarray]:
    """Backbone activations of each of `indices`, computed once: the monitor's per-frame cache.
    `frames` holds them and (motion coding) their predecessors, decoded at the clip's `fps`."""
    model_input = bundle.manifest.model_input
    order = sorted(indices)
    out = {}
    for i in range(0, len(order), batch):
        chunk = order[i : i + batch]
        images = [frames[f] for f in model_input.sources(chunk, fps)]
        out.update(zip(chunk, bundle.backbone(model_input.encode(images))))
    return out


def class_probability(bundle: Bundle, target: int) -> Callable[[list[np.ndarray]], float]:
    """probability(native frames of a window, as ModelInput.sources names them) of the target
    class, through the bundle."""
    model_input = bundle.manifest.model_input

    def probability(frames: list[np.ndarray]) -> float:
        acts = bundle.backbone(model_input.encode(frames))
        return float(bundle.head(acts, target=target).probs[target])

    return probability


@dataclass
class Tallies:
    """What evaluate_clip adds to, by class ("all" too): pointing game and deletion."""

    pointing: dict[str, Pointing] = field(default_factory=dict)
    deletion: dict[str, faithfulness.Deletion] = field(default_factory=dict)

    def add_pointing(self, label: str, cam_up: np.ndarray, boxes: list, margin: int) -> None:
        for key in ("all", label):
            self.pointing.setdefault(key, Pointing()).add(cam_up, boxes, margin)

    def add_deletion(self, label: str, result: dict) -> None:
        for key in ("all", label):
            self.deletion.setdefault(key, faithfulness.Deletion()).add(result)


def evaluate_clip(
    bundle: Bundle,
    clip: Clip,
    hop_seconds: float,
    margin: int,
    normal: int,
    tallies: Tallies,
    deletion_windows: int = 1,
    rng: np.random.Generator | None = None,
    sheet: ContactSheet | None = None,
) -> np.ndarray | None:
    """Every window of the clip scored (its probabilities [windows, classes], None without a
    window); on anomaly clips, each window's CAM (of the true class: what should be seen) against
    the boxes, and the first `deletion_windows` windows' deletion; with a sheet, the clip's tile."""
    m = bundle.manifest
    windows = clip_windows(clip, m.frames, m.sample_fps, hop_seconds)
    if not windows:
        return None
    shown = {f for w in windows for f in w}
    frames = read_frames(clip.path, set(m.model_input.sources(sorted(shown), clip.fps)), size=None)
    activations = clip_activations(bundle, frames, shown, clip.fps)
    probs = []
    label = m.classes[clip.label]
    for n, window in enumerate(windows):
        result = bundle.head(np.stack([activations[f] for f in window]), target=clip.label)
        probs.append(np.asarray(result.probs, np.float64).reshape(-1))
        if clip.label == normal:
            continue
        maps_up = np.stack([maps.upsample(result.cam[k], frames[f].shape[:2]) for k, f in enumerate(window)])
        for k, f in enumerate(window):
            if clip.boxes and f in clip.boxes:
                tallies.add_pointing(label, maps_up[k], clip.boxes[f], margin)
        if n < deletion_windows:
            # One mask on every frame the window's input is made of (predecessors too).
            window_frames = [frames[f] for f in m.model_input.sources(window, clip.fps)]
            deleted = faithfulness.deletion(
                class_probability(bundle, clip.label),
                window_frames,
                maps_up,
                rng if rng is not None else np.random.default_rng(n),
            )
            tallies.add_deletion(label, deleted)
    if sheet is not None:
        sheet.add(clip, frames, windows, activations, np.stack(probs))
    return np.stack(probs)


def evaluate(
    bundle: Bundle,
    dataset: Dataset,
    hop_seconds: float = 0.8,
    margin: int = 4,
    deletion_windows: int = 1,
    sheet: ContactSheet | None = None,
) -> dict:
    """Scores of every window of every clip, and of every clip (its windows' mean and max); CAMs
    explain the true class (what should be seen). The data set may hold a subset of the classes.
    With a sheet, each clip's tile goes to it (evaluation/sheet.py)."""
    if tuple(dataset.classes) != tuple(bundle.manifest.classes):
        raise ValueError(
            f"classes: the bundle has {list(bundle.manifest.classes)}, the data set {list(dataset.classes)}"
        )
    normal = bundle.manifest.classes.index(bundle.manifest.normal_class)
    y_true, y_pred, tallies = [], [], Tallies()
    clip_probs, clip_labels, clip_names = [], [], []
    rng = np.random.default_rng(0)  # the random baseline's masks: the same every run
    for i, clip in enumerate(dataset.clips, 1):
        probs = evaluate_clip(
            bundle, clip, hop_seconds, margin, normal, tallies, deletion_windows, rng, sheet
        )
        if probs is not None:
            y_true += [clip.label] * len(probs)
            y_pred += probs.argmax(axis=1).tolist()
            clip_probs.append(probs)
            clip_labels.append(clip.label)
            clip_names.append(clip.path.name)
        if i % 50 == 0:
            logger.info("evaluated %d/%d clips", i, len(dataset.clips))
    report = classification_report(y_true, y_pred, dataset.classes)
    report["clip_level"] = (
        clip_report(clip_probs, clip_labels, dataset.classes, normal) if clip_probs else None
    )
    if clip_probs:  # each clip's scores: for pooling folds and for looking at the mistakes
        report["clip_level"]["per_clip"] = [
            {
                "clip": name,
                "label": dataset.classes[label],
                "mean": [round(float(v), 4) for v in probs.mean(axis=0)],
                "max": [round(float(v), 4) for v in probs.max(axis=0)],
            }
            for name, label, probs in zip(clip_names, clip_labels, clip_probs)
        ]
    report["explanation"] = {key: p.summary() for key, p in sorted(tallies.pointing.items())}
    report["faithfulness"] = {key: d.summary() for key, d in sorted(tallies.deletion.items())}
    report["deletion_fraction"] = faithfulness.DROP_AT
    report["margin_px"] = margin
    report["cam"] = bundle.manifest.cam_label
    report["normal_class"] = bundle.manifest.normal_class
    report["skipped"] = list(dataset.skipped)
    return report


def format_report(report: dict) -> str:
    """The report as a plain-text table."""
    lines = [
        f"accuracy {report['accuracy']:.3f} over {report['windows']} windows",
        "",
        *format_classification(report),
    ]
    clips = report.get("clip_level")
    if clips:
        lines += [
            "",
            f"clips: {clips['clips']}, accuracy {clips['accuracy_of_mean']:.3f} (a clip is its windows' "
            "mean); ROC AUC against the normal clips, of each clip's mean and max window probability",
            format_table(
                [["class", "clips", "normal clips", "AUC (mean)", "AUC (max)"]]
                + [[n, a["clips"], a["normal_clips"], a["mean"], a["max"]] for n, a in clips["auc"].items()]
            ),
        ]
    if report.get("faithfulness"):
        lines += [
            "",
            f"{report.get('cam', 'CAM')} deletion: the class probability's drop when "
            f"{report['deletion_fraction']:.0%} of the frame is blurred, one mask per window "
            "(higher: the map held more of what the model used); AUC of the probability left over "
            f"{', '.join(f'{f:.0%}' for f in faithfulness.FRACTIONS)} removed (lower is better)",
            format_table(deletion_table(report["faithfulness"])),
        ]
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


def deletion_table(summaries: dict[str, dict]) -> list[list]:
    """The deletion table, header first: map, centre and random masks side by side per class."""
    rows: list[list] = [
        ["class", "windows", "map drop", "centre drop", "random drop", "map AUC", "centre AUC", "random AUC"]
    ]
    rows += [
        [
            name,
            s["windows"],
            *(s[f"{k}_drop"] for k in faithfulness.MASKS),
            *(s[f"{k}_auc"] for k in faithfulness.MASKS),
        ]
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
