"""An alert's record (what, where, when, how sure, which frames, the strongest regions of its map)
and its snapshot picture: built here, written by the log's thread."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
