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
from streamer.inference.frames import to_model_input


@dataclass(frozen=True)
class WindowSpec:
    frames: int
    size: tuple[int, int]
    sample_fps: float
    hop_seconds: float


def augment_window(frames: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """One random crop, flip and brightness change for the whole window (a camera does not jump)."""
    h, w = frames[0].shape[:2]
    scale = rng.uniform(0.8, 1.0)
    ch, cw = int(h * scale), int(w * scale)
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    flip = rng.random() < 0.5
    gain, offset = rng.uniform(0.7, 1.3), rng.uniform(-20, 20)
    out = []
    for frame in frames:
        crop = frame[y0 : y0 + ch, x0 : x0 + cw]
        if flip:
            crop = crop[:, ::-1]
        out.append(cv2.convertScaleAbs(np.ascontiguousarray(crop), alpha=gain, beta=offset))
    return out


def iter_windows(
    clips: list[Clip],
    spec: WindowSpec,
    rng: np.random.Generator | None,
    windows_per_clip: int | None,
    augment: bool = True,
) -> Iterator[tuple[np.ndarray, int]]:
    """(window uint8 [T, H, W, 3], label) for each clip, each clip decoded once.

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
        decoded = read_frames(clip.path, {f for w in windows for f in w}, size=None)
        for window in windows:
            frames = [decoded[f] for f in window]
            if rng is not None and augment:
                frames = augment_window(frames, rng)
            yield np.stack([to_model_input(f, spec.size) for f in frames]), clip.label


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
) -> tuple[tf.data.Dataset, int]:
    """A batched, prefetched dataset and its steps per epoch; training (seed given) repeats forever.

    frame_labels=T: targets become {"logits": y, "frame_logits": y repeated T times} for the
    per-frame auxiliary loss; class_weights: a per-window sample weight."""
    epochs = itertools.count()

    def generate():
        rng = None if seed is None else np.random.default_rng([seed, next(epochs)])
        yield from iter_windows(clips, spec, rng, windows_per_clip, augment)

    signature = (tf.TensorSpec((spec.frames, *spec.size, 3), tf.uint8), tf.TensorSpec((), tf.int32))
    data = tf.data.Dataset.from_generator(generate, output_signature=signature)
    if seed is not None:
        data = data.shuffle(4 * batch, seed=seed).repeat()
    if frame_labels:
        data = data.map(lambda x, y: (x, {"logits": y, "frame_logits": tf.fill([frame_labels], y)}))
    if class_weights:
        table = tf.constant([class_weights.get(i, 1.0) for i in range(max(class_weights) + 1)], tf.float32)

        def weigh(x, y):
            if not frame_labels:
                return x, y, tf.gather(table, y)
            w = tf.gather(table, y["logits"])
            return x, y, {"logits": w, "frame_logits": tf.fill([frame_labels], w)}

        data = data.map(weigh)
    steps = math.ceil(count_windows(clips, spec, windows_per_clip) / batch)
    return data.batch(batch).prefetch(2), steps
