"""Reviewed alerts as a training set: each alert's clip as captured (no drawing on it) in a folder
named after its reviewed class, in the layout `vigil train` and `vigil evaluate` read. A confirmed
alert is an example of its class, a false alarm one of the normal class: a site fine-tunes its
model on its own mistakes. Camera names make the group file, so a split never puts one camera's
scene on both sides."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from streamer.console.catalog import AlertEntry

GROUPS_NAME = "groups.txt"
LABELS_NAME = "labels.jsonl"


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    counts: dict[str, int]  # class folder -> clips
    skipped: dict[str, str]  # alert id -> why not


def reviewed_class(entry: AlertEntry, normal_class: str) -> str | None:
    if entry.state == "confirmed":
        return entry.record["class"]
    if entry.state == "false_alarm":
        return normal_class
    return None


def export_reviewed(
    entries: list[AlertEntry], alert_dir: Path, export_dir: Path, normal_class: str
) -> ExportResult:
    """Copy every reviewed alert's raw clip into a new folder under export_dir; nothing is moved."""
    folder = Path(export_dir) / time.strftime("reviewed-%Y%m%dT%H%M%SZ", time.gmtime())
    counts: dict[str, int] = {}
    skipped: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    labels = []
    for entry in entries:
        label = reviewed_class(entry, normal_class)
        if label is None:
            continue
        raw = (entry.clip or {}).get("raw_clip")
        if not raw or not (Path(alert_dir) / raw).is_file():
            skipped[entry.id] = "no clip as captured (its clip was not finished, or it predates raw clips)"
            continue
        target = folder / label / f"{entry.id}.mp4"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(alert_dir) / raw, target)
        counts[label] = counts.get(label, 0) + 1
        groups.setdefault(entry.record["camera"], []).append(entry.id)
        last = entry.reviews[-1]
        labels.append(
            {
                "clip": f"{label}/{entry.id}.mp4",
                "class": label,
                "alert_class": entry.record["class"],
                "decision": last["decision"],
                "reviewer": last["user"],
                "reviewed_utc": last["time_utc"],
            }
        )
    if labels:
        lines = []
        for camera, stems in sorted(groups.items()):
            lines += [f"camera {camera}", *(f"{stem}: reviewed alert" for stem in stems)]
        (folder / GROUPS_NAME).write_text("\n".join(lines) + "\n")
        (folder / LABELS_NAME).write_text("".join(json.dumps(x) + "\n" for x in labels))
    return ExportResult(folder, counts, skipped)
