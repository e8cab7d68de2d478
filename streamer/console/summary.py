"""An alert in plain words, for the reviewer: what was decided, when, where the evidence is, how
sure, how the event went, and who has reviewed it. Built from the log's lines alone."""

from __future__ import annotations

import datetime as dt

from streamer.alerts.words import certainty, where_in_words
from streamer.console.catalog import AlertEntry

DECISION_WORDS = {"confirmed": "confirmed", "false_alarm": "marked a false alarm"}


def _clock(iso: str) -> str:
    """'2026-12-02T23:55:01.123+00:00' -> '2026-12-02 23:55:01 UTC'."""
    try:
        return dt.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError):
        return str(iso)


def _seconds_between(start: str, end: str) -> float | None:
    try:
        return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


def alert_summary(entry: AlertEntry) -> list[str]:
    r = entry.record
    label = r.get("class", "?")
    sentences = [
        f"Vigil judged camera {r.get('camera')} as {label.upper()} at {_clock(r.get('time_utc'))}: "
        f"{certainty(float(r.get('score', 0.0)))}.",
    ]
    frames = r.get("window_frames") or ["?", "?"]
    sentences.append(
        f"When: a window of frames {frames[0]} to {frames[-1]}, captured from "
        f"{_clock(r.get('window_start_utc'))} to {_clock(r.get('window_end_utc'))}."
    )
    boxes, size = r.get("boxes") or [], r.get("frame_size")
    if boxes and size and min(size) > 0:
        sentences.append(
            f"Where: the evidence for {label} is strongest in {where_in_words(boxes[0]['box'], size)} "
            "(the white box on the snapshot; the heat shows where the model looked, red strongest), "
            f"from the model's own map ({r.get('map_method', 'CAM')}), the one the guard saw."
        )
    else:
        sentences.append(f"Where: the model's map for {label} is empty on these frames: no place stands out.")
    if entry.end is None:
        sentences.append("The event is still open (or the monitor was stopped by force).")
    elif entry.end.get("reason") == "monitor restarted":  # its real end is unknown: no duration
        sentences.append(
            "The monitor was stopped by force during this event; its end is not known "
            f"(closed when the monitor started again, {_clock(entry.end.get('time_utc'))})."
        )
    else:
        lasted = _seconds_between(r.get("window_end_utc"), entry.end.get("time_utc"))
        how_long = f" after {lasted:.0f} s" if lasted is not None and lasted >= 0 else ""
        sentences.append(f"The event ended{how_long}: {entry.end.get('reason', 'unknown')}.")
    if entry.reviews:
        last = entry.reviews[-1]
        sentences.append(
            f"Reviewed: {DECISION_WORDS.get(last['decision'], last['decision'])} by {last['user']} "
            f"at {_clock(last['time_utc'])}."
        )
    else:
        sentences.append("Not reviewed yet: a person should confirm it or mark it a false alarm.")
    return sentences
