"""tf.data pipelines over class-per-folder video data sets: windows streamed from disk, augmented."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import tensorflow as tf

from evaluation.dataset import Clip, clip_windows, read_frames
from evaluation.sidecar import Box
from streamer.inference.frames import BGR_INPUT, ModelInput


@dataclass(frozen=True)
class WindowSpec:
    frames: int
    size: tuple[int, int]
    sample_fps: float
    hop_seconds: float
    input_coding: str = BGR_INPUT

    @property
    def model_input(self) -> ModelInput:
        return ModelInput(self.size, self.input_coding, self.sample_fps)


@dataclass(frozen=True)
class Augmentation:
    """One random crop, flip and brightness change for a whole window (a camera does not jump),
    applied alike to its frames and to its boxes."""

    crop: tuple[int, int, int, int]  # x0, y0, width, height
    flip: bool
    gain: float
    offset: float

    @classmethod
    def draw(cls, size: tuple[int, int], rng: np.random.Generator) -> Augmentation:
        h, w = size
        scale = rng.uniform(0.8, 1.0)
        ch, cw = int(h * scale), int(w * scale)
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        return cls((x0, y0, cw, ch), bool(rng.random() < 0.5), rng.uniform(0.7, 1.3), rng.uniform(-20, 20))

    def frame(self, frame: np.ndarray) -> np.ndarray:
        x0, y0, cw, ch = self.crop
        crop = frame[y0 : y0 + ch, x0 : x0 + cw]
        if self.flip:
            crop = crop[:, ::-1]
        return cv2.convertScaleAbs(np.ascontiguousarray(crop), alpha=self.gain, beta=self.offset)

    def box(self, box: Box) -> Box:
        x0, y0, cw, _ = self.crop
        bx0, by0, bx1, by1 = box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0
        if self.flip:
            bx0, bx1 = cw - 1 - bx1, cw - 1 - bx0
        return (bx0, by0, bx1, by1)

    @property
    def size(self) -> tuple[int, int]:
        return self.crop[3], self.crop[2]


def box_mask(boxes: list[Box], size: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """float32 [gh, gw]: 1 on every cell of a grid over a frame of size (H, W) that a box touches."""
    h, w = size
    gh, gw = grid
    mask = np.zeros(grid, np.float32)
    for x0, y0, x1, y1 in boxes:
        c0, c1 = max(0, int(x0 * gw // w)), min(gw - 1, int(x1 * gw // w))
        r0, r1 = max(0, int(y0 * gh // h)), min(gh - 1, int(y1 * gh // h))
        if c0 <= c1 and r0 <= r1:
            mask[r0 : r1 + 1, c0 : c1 + 1] = 1.0
    return mask


def window_masks(
    clip: Clip,
    window: list[int],
    size: tuple[int, int],
    grid: tuple[int, int],
    augmentation: Augmentation | None,
) -> np.ndarray:
    """[T, gh, gw] masks of the actors' boxes on each frame of the window (zeros where none)."""
    masks = np.zeros((len(window), *grid), np.float32)
    if augmentation is not None:
        size = augmentation.size
    for k, f in enumerate(window):
        boxes = (clip.boxes or {}).get(f)
        if boxes:
            if augmentation is not None:
                boxes = [augmentation.box(b) for b in boxes]
            masks[k] = box_mask(boxes, size, grid)
    return masks


def iter_windows(
    clips: list[Clip],
    spec: WindowSpec,
    rng: np.random.Generator | None,
    windows_per_clip: int | None,
    augment: bool = True,
    box_grid: tuple[int, int] | None = None,
) -> Iterator[tuple]:
    """(window uint8 [T, H, W, 3], label) for each clip, each clip decoded once; with box_grid,
    also the actors' box masks [T, gh, gw] on that grid (see window_masks).

    With rng (training): clips shuffled, a random start offset, windows_per_clip random windows,
    augmentation. Without (validation): every window, in order, as is.
    """
    order = rng.permutation(len(clips)) if rng is not None else range(len(clips))
    for i in order:
        clip = clips[i]
        offset = rng.uniform(0, spec.hop_seconds) if rng is not None else 0.0
        windows = clip_windows(clip, spec.frames, spec.sample_fps, spec.hop_seconds)
        if rng is not None and windows:
            shift = int(round(offset * clip.fps))
            shifted = [
                [f + shift for f in w] for w in windows if w[-1] + shift < (clip.event or (0, clip.frames))[1]
            ]
            windows = shifted or windows
            if windows_per_clip and len(windows) > windows_per_clip:
                windows = [windows[j] for j in rng.choice(len(windows), windows_per_clip, replace=False)]
        if not windows:
            continue
        model_input = spec.model_input
        needed = {f for w in windows for f in model_input.sources(w, clip.fps)}
        decoded = read_frames(clip.path, needed, size=None)
        for window in windows:
            frames = [decoded[f] for f in model_input.sources(window, clip.fps)]
            augmentation = (
                Augmentation.draw(frames[0].shape[:2], rng) if rng is not None and augment else None
            )
            if augmentation is not None:  # predecessors too: the camera did not move between them
                frames = [augmentation.frame(f) for f in frames]
            pixels = model_input.encode(frames)
            if box_grid is None:
                yield pixels, clip.label
            else:
                size = decoded[window[0]].shape[:2]
                yield pixels, clip.label, window_masks(clip, window, size, box_grid, augmentation)


def count_windows(clips: list[Clip], spec: WindowSpec, windows_per_clip: int | None) -> int:
    total = 0
    for clip in clips:
        n = len(clip_windows(clip, spec.frames, spec.sample_fps, spec.hop_seconds))
        total += min(n, windows_per_clip) if windows_per_clip else n
    return total


def make_dataset(
    clips: list[Clip],
    spec: WindowSpec,
    batch: int,
    seed: int | None,
    windows_per_clip: int | None = None,
    augment: bool = True,
    class_weights: dict[int, float] | None = None,
    frame_labels: int | None = None,
    box_grid: tuple[int, int] | None = None,
) -> tuple[tf.data.Dataset, int]:
    """A batched, prefetched dataset and its steps per epoch; training (seed given) repeats forever.

    Targets are y, or a dict when the model has more outputs than the logits: frame_labels=T adds
    "frame_logits" (y repeated T times, the per-frame auxiliary loss); box_grid adds "attention"
    (the box masks the box loss reads). class_weights: a per-window sample weight on the labels."""
    epochs = itertools.count()

    def generate():
        rng = None if seed is None else np.random.default_rng([seed, next(epochs)])
        yield from iter_windows(clips, spec, rng, windows_per_clip, augment, box_grid)

    signature = (tf.TensorSpec((spec.frames, *spec.size, 3), tf.uint8), tf.TensorSpec((), tf.int32))
    if box_grid is not None:
        signature += (tf.TensorSpec((spec.frames, *box_grid), tf.float32),)
    data = tf.data.Dataset.from_generator(generate, output_signature=signature)
    if seed is not None:
        data = data.shuffle(4 * batch, seed=seed).repeat()
    table = None
    if class_weights:
        table = tf.constant([class_weights.get(i, 1.0) for i in range(max(class_weights) + 1)], tf.float32)

    def targets(x, y, masks=None):
        w = tf.gather(table, y) if table is not None else tf.constant(1.0)
        if not frame_labels and masks is None:
            return (x, y, w) if table is not None else (x, y)
        labels, weights = {"logits": y}, {"logits": w}
        if frame_labels:
            labels["frame_logits"], weights["frame_logits"] = (
                tf.fill([frame_labels], y),
                tf.fill([frame_labels], w),
            )
        if masks is not None:
            labels["attention"], weights["attention"] = masks, tf.constant(1.0)
        return (x, labels, weights) if table is not None else (x, labels)

    data = data.map(targets)
    steps = math.ceil(count_windows(clips, spec, windows_per_clip) / batch)
    return data.batch(batch).prefetch(2), steps
