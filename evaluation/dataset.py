"""Class-per-folder video data sets (DIR/<class>/<clip>.mp4, optional .json ground truth): index,
windows, split. Free of TensorFlow: the trainer streams from it, the evaluator runs on it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from evaluation import sidecar
from evaluation.sidecar import Box
from streamer.inference.frames import sample_indices, to_model_input

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg"}


class DatasetError(Exception):
    """A data set that cannot train or evaluate a model; the message names the folder or file."""


@dataclass(frozen=True)
class Clip:
    path: Path
    label: int
    fps: float
    frames: int
    width: int
    height: int
    event: tuple[int, int] | None = None  # anomaly frame range [start, end), from the sidecar
    boxes: dict[int, list[Box]] | None = None


@dataclass(frozen=True)
class Dataset:
    classes: tuple[str, ...]
    clips: tuple[Clip, ...]
    skipped: tuple[str, ...] = ()  # one line per file left out, saying why


def probe_video(path: Path) -> tuple[float, int, int, int]:
    """(fps, frame count, width, height) of a readable video, else DatasetError naming it.

    The count is what decodes, not what the header says: some real AVI files claim hundreds of
    frames more than they hold, and every window planned from such a count fails at its end."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise DatasetError(f"{path}: cannot open video")
        fps = capture.get(cv2.CAP_PROP_FPS)
        claimed = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        width, height = (
            int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        count = 0
        while capture.grab():  # decodes each frame: the only count that holds
            count += 1
    finally:
        capture.release()
    if count <= 0 or not fps or fps <= 0:
        raise DatasetError(f"{path}: unreadable video (no frames or no frame rate)")
    if claimed > 0 and claimed != count:
        logger.warning("%s: the header says %d frames, %d decode: using %d", path, claimed, count, count)
    return float(fps), count, width, height


def read_sidecar(path: Path) -> tuple[tuple[int, int] | None, dict[int, list[Box]] | None]:
    """The ground truth next to a clip: event frame range and boxes per frame (None, None without)."""
    try:
        truth = sidecar.read(path)
    except ValueError as err:
        raise DatasetError(str(err)) from None
    return (truth.event, truth.boxes) if truth else (None, None)


def open_clip(path: str | Path, label: int = -1) -> Clip:
    """One video (with its ground truth when a sidecar exists), outside any data set."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such video file")
    fps, count, width, height = probe_video(path)
    event, boxes = read_sidecar(path)
    return Clip(path, label, fps, count, width, height, event, boxes)


def order_classes(names: list[str], normal_class: str) -> tuple[str, ...]:
    """Normal first, then the rest alphabetically: a stable class order across runs and machines."""
    if normal_class not in names:
        raise DatasetError(f"classes: expected a '{normal_class}' folder among {names}")
    return (normal_class, *sorted(n for n in names if n != normal_class))


def parse_class_map(text: str | None) -> dict[str, str]:
    """ "noFight=normal,Fight=fight" -> {folder: class}: data sets name their folders their own way."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        folder, sep, name = (x.strip() for x in item.partition("="))
        if not sep or not folder or not name:
            raise DatasetError(f"class map: expected FOLDER=CLASS, got {item!r}")
        if folder in mapping:
            raise DatasetError(f"class map: folder {folder!r} mapped twice")
        mapping[folder] = name
    return mapping


def class_folders(
    root: Path, classes: tuple[str, ...], class_map: dict[str, str], subset: bool
) -> dict[str, list[Path]]:
    """{class: its folders} under root, by name or through the map; every folder must have a class.

    subset: the model's classes may lack folders (a fight/normal set for a three-class model)."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown_map = sorted(set(class_map) - {p.name for p in folders})
    if unknown_map:
        raise DatasetError(f"{root}: class map names folder(s) {unknown_map} that are not there")
    found: dict[str, list[Path]] = {}
    strangers = []
    for folder in folders:
        name = class_map.get(folder.name, folder.name)
        if name in classes:
            found.setdefault(name, []).append(folder)
        else:
            strangers.append(f"{folder.name}={name}" if folder.name in class_map else folder.name)
    if strangers:
        raise DatasetError(
            f"{root}: folder(s) {strangers} are none of the classes {list(classes)} "
            "(map each: --class-map FOLDER=CLASS,...)"
        )
    missing = [c for c in classes if c not in found]
    if missing and not subset:
        raise DatasetError(f"{root}: no folder for class(es) {missing}")
    return found


def index_dataset(
    root: str | Path,
    normal_class: str = "normal",
    min_frames: int = 1,
    classes: tuple[str, ...] | None = None,
    class_map: dict[str, str] | None = None,
    subset: bool = False,
) -> Dataset:
    """Every readable clip of DIR/<class>/; unreadable or too short clips are skipped and listed.

    classes: the expected order (a model's); default: the folders (through class_map), normal first.
    class_map: {folder: class} for folders not named after their class.
    subset: with classes, folders for only some of them are enough (the normal one and one more).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such data folder")
    class_map = class_map or {}
    if classes is None:
        names = sorted(
            {
                class_map.get(p.name, p.name)
                for p in root.iterdir()
                if p.is_dir() and not p.name.startswith(".")
            }
        )
        classes = order_classes(names, normal_class)
    if len(classes) < 2:
        raise DatasetError(f"{root}: one class only ({list(classes)}): a classifier needs two or more")
    folders = class_folders(root, tuple(classes), class_map, subset)
    if subset and (normal_class not in folders or len(folders) < 2):
        raise DatasetError(
            f"{root}: expected a folder for '{normal_class}' and for at least one other of {list(classes)}"
        )
    clips, skipped = [], []
    for label, name in enumerate(classes):
        if name not in folders:
            continue
        videos = sorted(
            p for folder in folders[name] for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES
        )
        where = ", ".join(str(f) for f in folders[name])
        if not videos:
            raise DatasetError(f"{where}: empty class folder (no video files)")
        for path in videos:
            try:
                fps, count, width, height = probe_video(path)
                event, boxes = read_sidecar(path)
            except DatasetError as err:
                skipped.append(f"{err}: skipped")
                continue
            if count < min_frames:
                skipped.append(f"{path}: {count} frames, shorter than a window ({min_frames}): skipped")
                continue
            clips.append(Clip(path, label, fps, count, width, height, event, boxes))
        if not any(c.label == label for c in clips):
            raise DatasetError(f"{where}: no usable clip ({len(videos)} skipped)")
    for line in skipped:
        logger.warning("%s", line)
    return Dataset(tuple(classes), tuple(clips), tuple(skipped))


def clip_windows(clip: Clip, frames: int, sample_fps: float, hop_seconds: float) -> list[list[int]]:
    """Frame numbers of every window of a clip, one window every hop_seconds.

    A clip with an event range only gives windows inside it: a window is labelled with the clip's
    class, so it must show the event throughout.
    """
    lo, hi = clip.event if clip.event else (0, clip.frames)
    hi = min(hi, clip.frames)
    hop = max(1, int(round(hop_seconds * clip.fps)))
    windows, start = [], lo
    while True:
        indices = sample_indices(clip.fps, sample_fps, start, frames)
        if indices[-1] >= hi:
            break
        windows.append(indices)
        start += hop
    return windows


def window_at(clip: Clip, frames: int, sample_fps: float, start_frame: int) -> list[int]:
    """Frame numbers of the window of `frames` frames at sample_fps that starts at start_frame:
    the one home of window sampling outside a data set's planner, and of the message when the
    clip has no room for it."""
    window = sample_indices(clip.fps, sample_fps, start_frame, frames)
    if start_frame < 0 or window[-1] >= clip.frames:
        span = (frames - 1) / sample_fps
        latest = (clip.frames - 1) / clip.fps - span
        room = (
            f"it must start between 0 and {latest:.1f} s"
            if latest >= 0
            else f"the clip has {clip.frames / clip.fps:.1f} s"
        )
        raise DatasetError(
            f"{clip.path}: a window is {frames} frames at {sample_fps:g} fps ({span:.1f} s); {room}, "
            f"asked at {start_frame / clip.fps:.1f} s"
        )
    return window


def decode(path: Path, wanted: set[int], size: tuple[int, int] | None):
    """(frame number, frame) of the wanted frames in order, decoding the clip once (grab() skips
    the others cheaply); resized to the model input when size is given."""
    last = max(wanted)
    capture = cv2.VideoCapture(str(path))
    try:
        index = 0
        while index <= last:
            if not capture.grab():
                raise DatasetError(f"{path}: video ended at frame {index}, frames up to {last} were expected")
            if index in wanted:
                ok, frame = capture.retrieve()
                if ok:
                    yield index, to_model_input(frame, size) if size else frame
            index += 1
    finally:
        capture.release()


def read_frames(
    path: Path, indices: set[int] | list[int], size: tuple[int, int] | None
) -> dict[int, np.ndarray]:
    """Decode a clip once, keeping the wanted frames (resized to the model input when size is given)."""
    wanted = set(indices)
    out = dict(decode(path, wanted, size))
    if len(out) != len(wanted):
        raise DatasetError(f"{path}: frames {sorted(wanted - set(out))[:5]} could not be decoded")
    return out


def iter_window_frames(path: Path, windows: list[list[int]], size: tuple[int, int] | None = None):
    """(window, {frame number: frame}) for windows sorted by their first frame, decoding the clip
    once and holding only the frames still wanted: a long clip's every window in bounded memory. A
    window is any list of frame numbers (with a motion coding, ModelInput.sources: predecessors too)."""
    pending = sorted(windows, key=min)
    frames = decode(path, {f for w in windows for f in w}, size)
    held: dict[int, np.ndarray] = {}
    for n, window in enumerate(pending):
        while not all(f in held for f in window):
            index, frame = next(frames, (None, None))
            if index is None:
                raise DatasetError(
                    f"{path}: frames {[f for f in window if f not in held]} could not be decoded"
                )
            held[index] = frame
        yield window, {f: held[f] for f in window}
        keep_from = min(pending[n + 1]) if n + 1 < len(pending) else max(held) + 1
        held = {f: v for f, v in held.items() if f >= keep_from}


def split_by_file(clips: tuple[Clip, ...], val_fraction: float, seed: int) -> tuple[list[Clip], list[Clip]]:
    """Train/validation split of files, stratified by class: no clip has windows on both sides."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in sorted({c.label for c in clips}):
        group = [c for c in clips if c.label == label]
        order = rng.permutation(len(group))
        n_val = max(1, int(round(val_fraction * len(group)))) if len(group) > 1 else 0
        val += [group[i] for i in order[:n_val]]
        train += [group[i] for i in order[n_val:]]
    return train, val
