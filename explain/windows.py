"""`vigil explain`: the paper's visualisations, per frame, for chosen windows of a clip.

Computed with TensorFlow on the bundle's model.keras (offline, in depth), through the same
frame sampling and resizing as the monitor, so a window here is the window the monitor scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from evaluation import faithfulness, fidelity
from evaluation.dataset import Clip, DatasetError, clip_windows, iter_window_frames, open_clip, window_at
from evaluation.evaluate import Pointing
from evaluation.progress import progress
from explain.methods import CAM_METHODS, GradCam
from explain.methods.saliency import saliency, smoothgrad
from explain.methods.video import frame_importance, temporal_smooth
from models.convrnn import split_convrnn
from streamer.display import maps
from streamer.inference.bundle import KERAS_FILE, BundleError, Manifest, read_manifest
from streamer.inference.frames import BGR_INPUT, ModelInput

SMOOTHED = "gradcam-smoothed"
SALIENCY, SMOOTHGRAD = "saliency", "smoothgrad"
METHOD_LABELS = {
    **{name: m.label for name, m in CAM_METHODS.items()},
    SMOOTHED: "the bundle's CAM, smoothed in time",
    SALIENCY: "Saliency",
    SMOOTHGRAD: "SmoothGrad",
}
METHODS = tuple(METHOD_LABELS)
PIXEL_METHODS = (SALIENCY, SMOOTHGRAD)  # maps over input pixels; the others over the last conv


class ExplainError(Exception):
    """What stops an explanation (bundle, video, window choice); the message names it."""


@dataclass
class Explainer:
    """A bundle's Keras model, split at the time-distributed backbone, ready to explain windows."""

    name: str
    manifest: Manifest
    backbone: keras.Model
    head: keras.Model

    @classmethod
    def open(cls, directory: str | Path) -> Explainer:
        from models.export import load_model

        directory = Path(directory)
        try:
            manifest = read_manifest(directory)
        except BundleError as err:
            raise ExplainError(str(err)) from None
        path = directory / KERAS_FILE
        if not path.is_file():
            raise ExplainError(
                f"{directory}: the bundle has no {KERAS_FILE}; vigil explain needs the Keras "
                f"model (export the bundle again with vigil export)"
            )
        backbone, head = split_convrnn(load_model(path))
        return cls(directory.name, manifest, backbone, head)

    def activations(self, frames: np.ndarray, batch: int = 32) -> np.ndarray:
        """Backbone activations of uint8 model-input frames [N, H, W, 3], once per frame."""
        return np.concatenate(
            [
                np.asarray(self.backbone(frames[i : i + batch], training=False))
                for i in range(0, len(frames), batch)
            ]
        )

    def class_index(self, name: str) -> int:
        classes = self.manifest.classes
        if name not in classes:
            raise ExplainError(f"class: expected one of {list(classes)}, got {name!r}")
        return classes.index(name)

    @property
    def monitor_cam(self) -> str:
        return self.manifest.cam if self.manifest else "gradcam"

    @property
    def model_input(self) -> ModelInput:
        if self.manifest:
            return self.manifest.model_input
        return ModelInput(tuple(self.backbone.input.shape[1:3]), BGR_INPUT)

    def class_probability(self, target: int):
        """probability(the native frames a window's input is made of) of the target class: what
        deletion follows."""
        model_input = self.model_input

        def probability(frames: list[np.ndarray]) -> float:
            acts = self.activations(model_input.encode(frames))
            logits = np.asarray(self.head(acts[None], training=False))[0]
            return float(np.exp(logits[target] - logits.max()) / np.exp(logits - logits.max()).sum())

        return probability

    def window_span(self) -> float:
        return (self.manifest.frames - 1) / self.manifest.sample_fps


@dataclass
class WindowExplanation:
    """Everything the report shows for one window and one explained class."""

    index: int
    frames: list[int]  # frame numbers in the clip
    times: list[float]  # seconds from the clip's start
    images: list[np.ndarray]  # the native frames, BGR
    sources: list[np.ndarray]  # what its input is made of: the frames (and their predecessors)
    probs: np.ndarray
    target: int
    maps: dict[str, np.ndarray]  # method -> [T, h, w] (last conv) or [T, H, W] (input pixels)
    activations: np.ndarray  # [T, h, w, k]
    weights: np.ndarray  # Grad-CAM channel weights [T, k]
    importance: np.ndarray  # [T], signed
    boxes: list[list] = field(default_factory=list)  # ground truth per frame ([] when none)
    pointing: dict[str, Pointing] = field(default_factory=dict)  # per method, where boxes exist
    monitor_cam: str = "gradcam"  # the method whose map the bundle carries (the monitor's)
    _upsampled: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def upsampled(self, method: str) -> np.ndarray:
        """A method's maps over the native frames (computed once: pointing, JSON and report share it)."""
        if method not in self._upsampled:
            size = self.images[0].shape[:2]
            self._upsampled[method] = np.stack([maps.upsample(m, size) for m in self.maps[method]])
        return self._upsampled[method]

    def trajectory(self, method: str | None = None) -> tuple[list, list]:
        return fidelity.trajectory(self.upsampled(method or self.monitor_cam))


def check_methods(methods: tuple[str, ...]) -> tuple[str, ...]:
    """The asked methods in a fixed order (all when none are asked), or a one-line error."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ExplainError(f"methods: expected some of {list(METHODS)}, got {unknown}")
    return tuple(m for m in METHODS if m in methods) if methods else METHODS


def compute_maps(
    explainer: Explainer,
    inputs: np.ndarray,
    activations: np.ndarray,
    target: int,
    methods: tuple[str, ...],
    smooth_samples: int = 8,
) -> dict[str, np.ndarray]:
    """Every asked method's maps for one window (inputs: uint8 [T, H, W, 3] at the model's size)."""
    maps = {}
    for name in methods:
        if name in CAM_METHODS:
            maps[name] = CAM_METHODS[name](explainer.head)(activations, target)
        elif name == SMOOTHED:
            own = explainer.monitor_cam
            maps[name] = temporal_smooth(
                maps[own] if own in maps else CAM_METHODS[own](explainer.head)(activations, target)
            )
        elif name == SALIENCY:
            maps[name] = saliency(explainer.backbone, explainer.head, inputs, target)
        elif name == SMOOTHGRAD:
            maps[name] = smoothgrad(
                explainer.backbone, explainer.head, inputs, target, samples=smooth_samples
            )
        else:
            raise ExplainError(f"method: expected one of {list(METHODS)}, got {name!r}")
    return maps


def explain_window(
    explainer: Explainer,
    index: int,
    window: list[int],
    images: dict[int, np.ndarray],
    clip: Clip,
    target: int | None,
    methods: tuple[str, ...],
    margin: int = 4,
    smooth_samples: int = 8,
) -> WindowExplanation:
    """One window: probabilities, the explained class (asked, else the top one) and every map.
    images: the window's frames and, with a motion coding, their predecessors."""
    sources = [images[f] for f in explainer.model_input.sources(window, clip.fps)]
    inputs = explainer.model_input.encode(sources)
    activations = explainer.activations(inputs)
    explained = GradCam(explainer.head).explain(activations, -1 if target is None else target)
    target = int(explained["cam_class"])
    maps = compute_maps(explainer, inputs, activations, target, methods, smooth_samples)
    boxes = [(clip.boxes or {}).get(f, []) for f in window]
    result = WindowExplanation(
        index,
        list(window),
        [f / clip.fps for f in window],
        [images[f] for f in window],
        sources,
        explained["probs"],
        target,
        maps,
        activations,
        explained["weights"],
        frame_importance(explained["weights"], activations),
        boxes,
        monitor_cam=explainer.monitor_cam,
    )
    if any(boxes):
        for name in maps:
            pointing = Pointing()
            for cam_up, frame_boxes in zip(result.upsampled(name), boxes):
                if frame_boxes:
                    pointing.add(cam_up, frame_boxes, margin)
            result.pointing[name] = pointing
    return result


# ---------------------------------------------------------------- choosing windows


def windows_of(explainer: Explainer, clip: Clip, hop_seconds: float) -> list[list[int]]:
    m = explainer.manifest
    # The whole clip, not only a sidecar's event range: an investigator asks about any moment.
    windows = clip_windows(
        Clip(clip.path, clip.label, clip.fps, clip.frames, clip.width, clip.height),
        m.frames,
        m.sample_fps,
        hop_seconds,
    )
    if not windows:
        raise ExplainError(
            f"{clip.path}: shorter than a window ({m.frames} frames at {m.sample_fps:g} fps "
            f"= {explainer.window_span():.1f} s; the clip has {clip.frames / clip.fps:.1f} s)"
        )
    return windows


def window_of(explainer: Explainer, clip: Clip, start_seconds: float) -> list[int]:
    m = explainer.manifest
    try:
        return window_at(clip, m.frames, m.sample_fps, int(round(start_seconds * clip.fps)))
    except DatasetError as err:
        raise ExplainError(f"--start {start_seconds:g}: {err}") from None


def suspicion(explainer: Explainer, clip: Clip, windows: list[list[int]]) -> list[float]:
    """Each window's likeliest anomaly probability (backbone once per frame, as in the monitor)."""
    normal = explainer.manifest.classes.index(explainer.manifest.normal_class)
    cache: dict[int, np.ndarray] = {}
    scores = []
    model_input = explainer.model_input
    sources = [model_input.sources(w, clip.fps) for w in windows]
    decoded = iter_window_frames(clip.path, sources, model_input.size)
    for window, (_, frames) in zip(windows, progress(decoded, len(windows), "scanning")):
        new = [f for f in window if f not in cache]
        if new:
            images = [frames[f] for f in model_input.sources(new, clip.fps)]
            cache.update(zip(new, explainer.activations(model_input.encode(images))))
        logits = np.asarray(explainer.head(np.stack([cache[f] for f in window])[None], training=False))[0]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        scores.append(float(np.delete(probs, normal).max()))
        cache = {f: a for f, a in cache.items() if f >= window[0]}
    return scores


def choose_windows(
    explainer: Explainer,
    clip: Clip,
    hop_seconds: float,
    index: int | None = None,
    start: float | None = None,
    every: bool = False,
) -> list[tuple[int, list[int]]]:
    """(index, frame numbers) of the windows to explain: the asked one, all of them, or by
    default the most suspicious one (highest anomaly probability) — what an investigator opens."""
    if start is not None:
        return [(0, window_of(explainer, clip, start))]
    windows = windows_of(explainer, clip, hop_seconds)
    if every:
        return list(enumerate(windows))
    if index is not None:
        if not 0 <= index < len(windows):
            raise ExplainError(
                f"--window-index {index}: {clip.path} has windows 0..{len(windows) - 1} "
                f"(one every {hop_seconds:g} s)"
            )
        return [(index, windows[index])]
    scores = suspicion(explainer, clip, windows)
    best = int(np.argmax(scores))
    return [(best, windows[best])]


# ---------------------------------------------------------------- whole jobs


def decode_windows(explainer: Explainer, clip: Clip, windows: list[list[int]]):
    """(window, {frame number: frame}) for each window, with its frames' predecessors under a motion
    coding: the clip decoded once (evaluation.dataset.iter_window_frames)."""
    model_input = explainer.model_input
    by_sources = {tuple(model_input.sources(w, clip.fps)): w for w in windows}
    for sources, images in iter_window_frames(clip.path, [list(s) for s in by_sources]):
        yield by_sources[tuple(sources)], images


def explain_clip(
    explainer: Explainer,
    clip: Clip,
    chosen: list[tuple[int, list[int]]],
    targets: list[int | None],
    methods: tuple[str, ...],
    smooth_samples: int = 8,
):
    """Yield a WindowExplanation per chosen window and target, decoding the clip once."""
    by_window = {tuple(w): i for i, w in chosen}
    decoded = decode_windows(explainer, clip, [w for _, w in chosen])
    for window, images in progress(decoded, len(chosen), "explaining"):
        index = by_window[tuple(window)]
        for target in targets:
            yield explain_window(
                explainer,
                index,
                window,
                images,
                clip,
                target,
                methods,
                smooth_samples=smooth_samples,
            )


def compare_models(
    others: list[Explainer], clip: Clip, start_frame: int, target_name: str | None
) -> list[dict]:
    """The same moment explained by other bundles, each with its own frames, fps and size."""
    rows = []
    for other in others:
        m = other.manifest
        try:
            window = window_at(clip, m.frames, m.sample_fps, start_frame)
        except DatasetError as err:
            rows.append({"name": other.name, "error": str(err)})
            continue
        target = other.class_index(target_name) if target_name in m.classes else None
        _, images = next(decode_windows(other, clip, [window]))
        result = explain_window(other, 0, window, images, clip, target, (other.monitor_cam,))
        rows.append({"name": other.name, "explanation": result})
    return rows


def compare_methods(
    explainer: Explainer,
    clips: list[Clip],
    methods: tuple[str, ...],
    hop_seconds: float,
    margin: int = 4,
    smooth_samples: int = 8,
) -> dict[str, dict]:
    """Pointing game of every method on every window with ground-truth boxes, explaining the true
    class (as `vigil evaluate` does), beside the centre and random baselines."""
    normal = explainer.manifest.classes.index(explainer.manifest.normal_class)
    totals = {name: Pointing() for name in methods}
    jobs = [
        (clip, [w for w in windows_of(explainer, clip, hop_seconds) if any(f in clip.boxes for f in w)])
        for clip in clips
        if clip.label != normal and clip.boxes
    ]
    count = sum(len(windows) for _, windows in jobs)
    if not count:
        raise ExplainError("--compare-methods: no anomaly window with ground-truth boxes in the given clips")
    windows = (
        (clip, window, images)
        for clip, boxed in jobs
        if boxed
        for window, images in decode_windows(explainer, clip, boxed)
    )  # each clip decoded once
    deletions = {name: faithfulness.Deletion() for name in methods}
    scored: set[Path] = set()
    rng = np.random.default_rng(0)  # the random baseline's masks: the same every run
    for clip, window, images in progress(windows, count, "comparing methods"):
        result = explain_window(
            explainer,
            0,
            window,
            images,
            clip,
            clip.label,
            methods,
            margin=margin,
            smooth_samples=smooth_samples,
        )
        for name in methods:
            totals[name] += result.pointing[name]
        if clip.path not in scored:  # deletion on each clip's first window, as `vigil evaluate` does
            scored.add(clip.path)
            probability = explainer.class_probability(clip.label)
            for name in methods:
                deletions[name].add(
                    faithfulness.deletion(probability, result.sources, result.upsampled(name), rng)
                )
    return {name: {**totals[name].summary(), "deletion": deletions[name].summary()} for name in methods}


def open_video(video: str | Path) -> Clip:
    try:
        return open_clip(video)
    except DatasetError as err:
        raise ExplainError(str(err)) from None
