"""The `vigil explain` job: choose windows, explain them, write the report folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evaluation import sidecar
from evaluation.dataset import Clip, DatasetError, index_dataset
from evaluation.evaluate import deletion_table, format_table, pointing_table
from explain import report
from explain.answer import answer, answer_picture
from explain.features import filter_images, maximise_activation, strongest_channels
from explain.methods import CAM_METHODS
from explain.windows import (
    METHOD_LABELS,
    METHODS,
    Explainer,
    ExplainError,
    check_methods,
    choose_windows,
    compare_methods,
    compare_models,
    explain_clip,
    open_video,
)
from streamer.inference.bundle import CAM_DEFINITIONS

READING = [
    "Every map is drawn over the very frame it explains. Heatmap and contours share one colour scale "
    "(blue weak, red strong), set per row by the window's strongest frame, so a row also shows which "
    "frames mattered. White boxes are ground truth, when the clip has it.",
    "Grad-CAM, Grad-CAM++ and Ablation-CAM weigh the last convolution's channels of each frame "
    "(gradients; positive gradients weighted per pixel; the score lost when a channel is removed), "
    "HiResCAM weighs each location by its own gradient: the output of the time-distributed backbone is "
    "the only place a convRNN can be given a class activation map. Saliency and SmoothGrad "
    "are gradients down to the pixels. The smoothed row blurs the bundle's CAM (the monitor's map) across "
    "frames: where the two differ, the model's attention jumped between frames.",
]
# Said only for a motion-coded bundle (streamer/inference/frames.py).
READING_MOTION = (
    "This model sees each frame in grey together with its change since the previous sampled frame "
    "({seconds:.2g} s before), not in colour: its heat marks what was there and moving. Saliency and "
    "SmoothGrad are gradients down to those coded pixels, drawn over the frames as the camera showed them."
)


@dataclass
class ExplainOptions:
    bundle: str
    video: str
    out: str
    window_index: int | None = None
    start: float | None = None
    every: bool = False
    classes: list[str] = field(default_factory=list)
    methods: tuple[str, ...] = METHODS
    compare: list[str] = field(default_factory=list)
    hop_seconds: float = 0.8
    smooth_samples: int = 8
    channels: int = 8
    maximised: int = 4
    limit: int = 10


def window_sections(result, classes, names: dict[str, str], compare_name: str | None) -> dict:
    """The HTML section of one explained window."""
    top = int(np.argmax(result.probs))
    table = [["class", "probability"]] + [[c, f"{float(p):.3f}"] for c, p in zip(classes, result.probs)]
    pointing = pointing_table(
        {METHOD_LABELS.get(m, m): p.summary() for m, p in result.pointing.items()}, "method (ground truth)"
    )
    text = [
        f"Frames {result.frames[0]}..{result.frames[-1]} "
        f"({result.times[0]:.2f} to {result.times[-1]:.2f} s). "
        f"The model says {classes[top]} ({float(result.probs[top]):.2f}); the maps explain "
        f"{classes[result.target]}."
    ]
    images = [names["methods"], names["importance"], names["features"]] + (
        [compare_name] if compare_name else []
    )
    return {
        "heading": f"For engineers: window {result.index}, maps of {classes[result.target]}",
        "text": text,
        "tables": [table] + ([pointing] if len(pointing) > 1 else []),
        "images": images,
    }


def run_explain(opts: ExplainOptions) -> dict:
    """Explain the chosen windows of one clip into opts.out; returns what was written."""
    methods = check_methods(opts.methods)
    explainer = Explainer.open(opts.bundle)
    others = [Explainer.open(b) for b in opts.compare]
    clip = open_video(opts.video)
    classes = explainer.manifest.classes
    targets = [explainer.class_index(c) for c in opts.classes] or [None]
    chosen = choose_windows(explainer, clip, opts.hop_seconds, opts.window_index, opts.start, opts.every)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)

    records, sections, files, first = [], [], [], None
    movie = report.VideoFile(out / "explained.mp4", explainer.manifest.sample_fps)
    for result in explain_clip(explainer, clip, chosen, targets, methods, opts.smooth_samples):
        first = first or result
        stem = f"window{result.index:03d}_{classes[result.target]}"
        names = {
            "methods": f"{stem}_methods.png",
            "importance": f"{stem}_importance.png",
            "features": f"{stem}_features.png",
        }
        save_png(out / names["methods"], report.methods_png(result, METHOD_LABELS))
        save_png(out / names["importance"], report.importance_png(result))
        save_png(
            out / names["features"],
            report.features_png(result, strongest_channels(result.activations, opts.channels)),
        )
        compare_name = None
        if others:
            rows = [{"name": explainer.name, "explanation": result}] + compare_models(
                others, clip, result.frames[0], classes[result.target]
            )
            compare_name = f"{stem}_compare.png"
            save_png(
                out / compare_name,
                report.compare_png(
                    rows, {explainer.name: classes, **{o.name: o.manifest.classes for o in others}}
                ),
            )
            names["compare"] = compare_name
        own = result.maps.get(result.monitor_cam)
        if own is None:  # the report's methods left the bundle's own map out: the answer needs it
            own = CAM_METHODS[result.monitor_cam](explainer.head)(result.activations, result.target)
        annotated = report.annotated_frames(
            result, classes, clip.path.name, explainer.manifest.sample_fps, own_maps=own
        )
        said = answer(result, classes, clip.path.name, CAM_DEFINITIONS[result.monitor_cam], own)
        names["answer"] = f"{stem}_answer.png"
        save_png(out / names["answer"], answer_picture(annotated, result.times, said))
        files += list(names.values())
        records.append({**report.window_record(result, classes), "answer": said["sentences"]})
        sections.append(
            {
                "heading": f"What Vigil decided, {result.times[0]:.1f} to {result.times[-1]:.1f} s",
                "text": said["sentences"],
                "plain": True,
                "images": [names["answer"]],
            }
        )
        sections.append(window_sections(result, classes, names, compare_name))
        movie.write(annotated)

    model_sections = model_views(explainer, first, out, opts)
    files += [name for s in model_sections for name in s["images"]]
    if movie.close():
        files.append("explained.mp4")
    data = {
        "bundle": str(opts.bundle),
        "video": clip.path.name,
        "classes": list(classes),
        "methods": list(methods),
        "windows": records,
    }
    report.write_json(out / "explanation.json", data)
    files.append("explanation.json")
    page = report.write_html(
        out,
        f"Vigil explanation: {clip.path.name}",
        # People first (each window's answer), then how to read the engineers' views, then them.
        [x for x in sections if x.get("plain")]
        + [
            {
                "heading": "For engineers: how to read the maps",
                "text": READING
                + (
                    [READING_MOTION.format(seconds=1 / explainer.manifest.sample_fps)]
                    if explainer.model_input.uses_motion
                    else []
                ),
            }
        ]
        + [x for x in sections if not x.get("plain")]
        + model_sections,
        files,
    )
    return {"report": str(page), "files": files, "windows": len(records)}


def model_views(explainer: Explainer, result, out: Path, opts: ExplainOptions) -> list[dict]:
    """What the backbone computes, independent of the window: first-layer filters, and frames
    that excite the channels that weighed most in the (first) explained window."""
    layer, kernels = filter_images(explainer.backbone)
    save_png(
        out / "filters.png",
        report.gallery_png(
            kernels, [f"#{i}" for i in range(len(kernels))], 48, f"first-layer filters ({layer})"
        ),
    )
    sections = [
        {
            "heading": "Filters",
            "text": [f"The kernels of {layer}, each scaled to its own range."],
            "images": ["filters.png"],
        }
    ]
    if result is not None and opts.maximised > 0:
        contribution = (result.weights * result.activations.mean(axis=(1, 2))).sum(axis=0)
        channels = [int(k) for k in np.argsort(-contribution)[: opts.maximised]]
        size = explainer.manifest.input_size
        frames = [maximise_activation(explainer.backbone, k, size) for k in channels]
        save_png(
            out / "maximised.png",
            report.gallery_png(
                frames, [f"channel {k}" for k in channels], 160, "activation maximisation", columns=4
            ),
        )
        sections.append(
            {
                "heading": "Activation maximisation",
                "text": [
                    "Frames grown by gradient ascent to excite the last-conv channels that weighed "
                    "most in the explained window: what those channels look for."
                ],
                "images": ["maximised.png"],
            }
        )
    return sections


def save_png(path: Path, image: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), image):
        raise OSError(f"{path}: cannot write the image")


def run_compare_methods(opts: ExplainOptions) -> dict[str, dict]:
    """Pointing game per method on clips with ground truth: one clip, or up to opts.limit clips
    per class of a class-per-folder data set."""
    methods = check_methods(opts.methods)
    explainer = Explainer.open(opts.bundle)
    classes = explainer.manifest.classes
    path = Path(opts.video)
    if path.is_dir():
        try:
            data = index_dataset(path, explainer.manifest.normal_class, classes=classes)
        except DatasetError as err:
            raise ExplainError(str(err)) from None
        clips = [
            c
            for label in range(len(classes))
            for c in [c for c in data.clips if c.label == label][: opts.limit]
        ]
    else:
        clips = [labelled_clip(open_video(path), classes)]
    return compare_methods(explainer, clips, methods, opts.hop_seconds, smooth_samples=opts.smooth_samples)


def labelled_clip(clip: Clip, classes: tuple[str, ...]) -> Clip:
    truth = sidecar.read(clip.path) if clip.boxes else None
    label = truth.label if truth else None
    if label not in classes:
        raise ExplainError(
            f"{clip.path}: --compare-methods needs a clip with ground truth labelled as one "
            f"of {list(classes)} (a vigil synth clip), found {label!r}"
        )
    return Clip(
        clip.path,
        classes.index(label),
        clip.fps,
        clip.frames,
        clip.width,
        clip.height,
        clip.event,
        clip.boxes,
    )


def format_methods(table: dict[str, dict]) -> str:
    labels = {name: METHOD_LABELS.get(name, name) for name in table}
    pointing = pointing_table({labels[name]: s for name, s in table.items()}, "method")
    deletion = deletion_table({labels[name]: s["deletion"] for name, s in table.items()})
    deletion[0][0] = "method"
    return (
        f"{format_table(pointing)}\n\ndeletion: the class probability's drop with 20% of the frame "
        "blurred, one mask per window (higher: the map held more of what the model used)\n"
        f"{format_table(deletion)}"
    )
