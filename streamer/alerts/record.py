"""An alert's record (what, where, when, how sure, which frames, the strongest regions of its map)
and its snapshot picture: built here, written by the log's thread."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import cv2
import numpy as np

from streamer.config import OverlayConfig
from streamer.display import drawing, maps
from streamer.types import Analysis


def utc(wall: float) -> str:
    """ISO 8601 UTC with milliseconds: the one time format of alert records."""
    return dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="milliseconds")


def alert_id(analysis: Analysis, label: str) -> str:
    """`<UTC of the newest frame>_<camera>_<class>`: the stem of every file of one alert."""
    stamp = dt.datetime.fromtimestamp(analysis.walls[-1], dt.UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3]
    return f"{stamp}_{analysis.camera}_{label}"


@dataclass(frozen=True)
class Alert:
    """One raised alert: its record (the log line, less the evidence) and the decision behind it."""

    id: str
    label: str
    record: dict
    analysis: Analysis


def build_alert(analysis: Analysis, index: int, classes: tuple[str, ...], now_wall: float) -> Alert:
    """The alert's record: when, where, what, how sure, which frames, and the strongest regions of
    the newest frame's map when it explains this class."""
    label = classes[index]
    regions, evidence = [], analysis.evidence
    if analysis.explained == index and analysis.images:
        regions = maps.strongest_regions(maps.upsample(analysis.maps[evidence], analysis.frame_size))
    ident = alert_id(analysis, label)
    record = {
        "type": "alert",
        "id": ident,
        "time_utc": utc(now_wall),
        "camera": analysis.camera,
        "class": label,
        "score": round(float(analysis.probs[index]), 4),
        "window_start_utc": utc(analysis.walls[0]),
        "window_end_utc": utc(analysis.walls[-1]),
        "window_frames": [analysis.seqs[0], analysis.seqs[-1]],
        "evidence_frame": analysis.seqs[evidence],
        "frame_size": list(analysis.frame_size),
        "boxes": regions,
    }
    return Alert(ident, label, record, analysis)


def snapshot_picture(
    alert: Alert, classes: tuple[str, ...], map_name: str, config: OverlayConfig
) -> np.ndarray:
    """The window's evidence frame (its strongest map) with that map (heatmap and contours,
    whatever the guard's keys), the evidence boxes, the panel and the alert banner: what an
    investigator opens first."""
    a = alert.analysis
    picture = a.evidence_image.copy()
    drawing.draw_explanation(picture, a.maps[a.evidence], a.map_scale, config)
    drawing.draw_boxes(picture, [tuple(r["box"]) for r in alert.record["boxes"]])
    drawing.draw_panel(
        picture,
        drawing.Panel(
            a.camera, classes, a.probs, classes[a.explained], map_name, alert=alert.label, latency=a.latency
        ),
    )
    return picture


# Each frame of the window strip: wide enough to see people, small enough for 16 frames a page.
STRIP_FRAME_WIDTH = 320
STRIP_COLUMNS = 4


def window_strip(alert: Alert, config: OverlayConfig) -> np.ndarray | None:
    """Every frame of the decided window with its own map, oldest first, four a row, each with its
    time from the window's start; the evidence frame (the snapshot's) framed in white. None when the
    frames are not carried."""
    a = alert.analysis
    if not a.images:
        return None
    tiles = []
    for i, (image, cam) in enumerate(zip(a.images, a.maps)):
        h, w = image.shape[:2]
        tile = cv2.resize(image, (STRIP_FRAME_WIDTH, max(1, round(h * STRIP_FRAME_WIDTH / w))))
        drawing.draw_explanation(tile, cam, a.map_scale, config)
        label = f"+{a.walls[i] - a.walls[0]:.1f} s" if a.walls else f"#{i}"
        cv2.putText(tile, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tile, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        if i == a.evidence:
            cv2.rectangle(tile, (1, 1), (tile.shape[1] - 2, tile.shape[0] - 2), (255, 255, 255), 3)
        tiles.append(tile)
    blank = np.zeros_like(tiles[0])
    rows = [tiles[i : i + STRIP_COLUMNS] for i in range(0, len(tiles), STRIP_COLUMNS)]
    rows[-1] = rows[-1] + [blank] * (STRIP_COLUMNS - len(rows[-1])) if len(rows) > 1 else rows[-1]
    return np.vstack([np.hstack(row) for row in rows])
