"""tf.data pipelines over class-per-folder video data sets: windows streamed from disk, augmented."""

from __future__ import annotations

import dataclasses
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


STAMP, BAND = "stamp", "band"
OVERLAY_COLOURS = ((255, 255, 255), (0, 0, 0), (0, 215, 255), (40, 40, 200), (200, 90, 20))


@dataclass(frozen=True)
class Overlay:
    """Graphics burned into the picture, as cameras and broadcasters do: a timestamp in a corner, or
    a caption band across the bottom (the news clips the real-footage model missed). Drawn alike on
    every frame of a window, on both classes, so they say nothing of the class."""

    kind: str  # STAMP or BAND
    text: str
    corner: int  # a stamp's corner: 0 top left, 1 top right, 2 bottom left, 3 bottom right
    height: float  # of the text (a band: of the band), as a share of the picture's height
    colour: tuple[int, int, int]

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Overlay:
        colour = OVERLAY_COLOURS[int(rng.integers(len(OVERLAY_COLOURS)))]
        if rng.random() < 0.5:
            digits = rng.integers(0, 10, 14)
            text = "{}{}{}{}-{}{}-{}{} {}{}:{}{}:{}{}".format(*digits)
            return cls(STAMP, text, int(rng.integers(4)), rng.uniform(0.04, 0.08), colour)
        letters = rng.choice(list("ABCDEFGHIJKLMNOPRSTUVWYZ     "), int(rng.integers(8, 30)))
        return cls(BAND, "".join(letters).strip() or "LIVE", 2, rng.uniform(0.10, 0.22), colour)

    def paint(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        font = cv2.FONT_HERSHEY_SIMPLEX
        if self.kind == BAND:
            top = int(h * (1 - self.height))
            image[top:] = self.colour
            ink = (0, 0, 0) if sum(self.colour) > 380 else (255, 255, 255)
            scale = max(0.2, (h - top) * 0.5 / 22)
            cv2.putText(
                image, self.text, (int(w * 0.03), h - (h - top) // 3), font, scale, ink, 1, cv2.LINE_8
            )
            return
        scale = max(0.2, h * self.height / 22)
        (tw, th), _ = cv2.getTextSize(self.text, font, scale, 1)
        x = 4 if self.corner in (0, 2) else max(0, w - tw - 4)
        y = th + 4 if self.corner in (0, 1) else h - 4
        cv2.putText(image, self.text, (x, y), font, scale, self.colour, max(1, int(scale * 1.5)), cv2.LINE_8)


@dataclass(frozen=True)
class Augmentation:
    """One random crop, flip and brightness change for a whole window (a camera does not jump),
    applied alike to its frames and to its boxes. With scenes: some windows also become a wider
    view (the picture shrunk onto a plain canvas: people small, as in the wide views the
    real-footage model missed), and some get burned-in graphics (Overlay)."""

    crop: tuple[int, int, int, int]  # x0, y0, width, height
    flip: bool
    gain: float
    offset: float
    zoom: float = 1.0  # below 1: the cropped picture shrunk by this onto a canvas of its own size
    place: tuple[int, int] = (0, 0)  # where the shrunk picture's top left lies on that canvas
    overlay: Overlay | None = None

    @classmethod
    def draw(cls, size: tuple[int, int], rng: np.random.Generator, scenes: bool = False) -> Augmentation:
        h, w = size
        scale = rng.uniform(0.8, 1.0)
        ch, cw = int(h * scale), int(w * scale)
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        basic = cls((x0, y0, cw, ch), bool(rng.random() < 0.5), rng.uniform(0.7, 1.3), rng.uniform(-20, 20))
        if not scenes:
            return basic
        zoom = rng.uniform(0.55, 0.95) if rng.random() < 0.4 else 1.0
        place = (int(rng.integers(0, cw - int(cw * zoom) + 1)), int(rng.integers(0, ch - int(ch * zoom) + 1)))
        overlay = Overlay.draw(rng) if rng.random() < 0.4 else None
        return dataclasses.replace(basic, zoom=zoom, place=place, overlay=overlay)

    @property
    def _shrunk(self) -> tuple[int, int]:
        return int(self.crop[2] * self.zoom), int(self.crop[3] * self.zoom)

    def frame(self, frame: np.ndarray) -> np.ndarray:
        x0, y0, cw, ch = self.crop
        crop = frame[y0 : y0 + ch, x0 : x0 + cw]
        if self.flip:
            crop = crop[:, ::-1]
        crop = np.ascontiguousarray(crop)
        if self.zoom < 1.0:
            (zw, zh), (px, py) = self._shrunk, self.place
            canvas = np.empty_like(crop)
            canvas[:] = np.array(cv2.mean(crop)[:3], np.uint8)  # numpy's mean: 20 ms a 1080p frame
            canvas[py : py + zh, px : px + zw] = cv2.resize(crop, (zw, zh), interpolation=cv2.INTER_AREA)
            crop = canvas
        picture = cv2.convertScaleAbs(crop, alpha=self.gain, beta=self.offset)
        if self.overlay is not None:
            self.overlay.paint(picture)
        return picture

    def box(self, box: Box) -> Box:
        x0, y0, cw, ch = self.crop
        bx0, by0, bx1, by1 = box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0
        if self.flip:
            bx0, bx1 = cw - 1 - bx1, cw - 1 - bx0
        if self.zoom < 1.0:
            (zw, zh), (px, py) = self._shrunk, self.place
            sx, sy = zw / cw, zh / ch
            bx0, bx1 = px + int(bx0 * sx), px + int((bx1 + 1) * sx) - 1
            by0, by1 = py + int(by0 * sy), py + int((by1 + 1) * sy) - 1
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
    scenes: bool = False,
) -> Iterator[tuple]:
    """(window uint8 [T, H, W, 3], label) for each clip, each clip decoded once; with box_grid,
    also the actors' box masks [T, gh, gw] on that grid (see window_masks).

    With rng (training): clips shuffled, a random start offset, windows_per_clip random windows,
    augmentation (with scenes: wider views and overlays too, see Augmentation). Without
    (validation): every window, in order, as is.
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
                Augmentation.draw(frames[0].shape[:2], rng, scenes) if rng is not None and augment else None
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
    scenes: bool = False,
) -> tuple[tf.data.Dataset, int]:
    """A batched, prefetched dataset and its steps per epoch; training (seed given) repeats forever.

    Targets are y, or a dict when the model has more outputs than the logits: frame_labels=T adds
    "frame_logits" (y repeated T times, the per-frame auxiliary loss); box_grid adds "attention"
    (the box masks the box loss reads). class_weights: a per-window sample weight on the labels."""
    epochs = itertools.count()

    def generate():
        rng = None if seed is None else np.random.default_rng([seed, next(epochs)])
        yield from iter_windows(clips, spec, rng, windows_per_clip, augment, box_grid, scenes)

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
