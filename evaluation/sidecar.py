"""The ground truth beside a clip: the one home of its format. Written by `vigil synth`, read by
data sets, evaluation and `vigil explain`. Same stem as the clip, `.json`:

    {"label": "fight", "fps": 10.0, "frames": 40, "size": [w, h],
     "event": {"start": first frame, "end": frame after the last} | null,
     "boxes": {"<frame>": [[x0, y0, x1, y1], ...]},
     "events": [{"label": ..., "start": ..., "end": ...}]}          (demo videos: several events)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

Box = tuple[int, int, int, int]
SUFFIX = ".json"


@dataclass(frozen=True)
class GroundTruth:
    label: str | None
    event: tuple[int, int] | None  # anomaly frame range [start, end)
    boxes: dict[int, list[Box]]  # the actors' boxes per frame


def path_of(clip: Path) -> Path:
    return Path(clip).with_suffix(SUFFIX)


def write(clip: Path, data: dict) -> None:
    path_of(clip).write_text(json.dumps(data))


def read(clip: Path) -> GroundTruth | None:
    """The clip's ground truth, None when it has none; ValueError naming the file when it is bad."""
    side = path_of(clip)
    if not side.is_file():
        return None
    try:
        data = json.loads(side.read_text())
        event = data.get("event")
        span = (int(event["start"]), int(event["end"])) if event else None
        boxes = {int(k): [tuple(int(v) for v in b) for b in bs] for k, bs in data.get("boxes", {}).items()}
        label = data.get("label")
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{side}: bad ground-truth sidecar ({err})") from None
    return GroundTruth(label, span, boxes)
