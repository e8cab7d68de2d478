"""The alerts a console shows: the alert log's lines (the current file and its rotated backups)
joined by id into one entry per alert, with its clip, its end and its review, newest first."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from streamer.alerts.log import LOG_NAME

REVIEW_STATES = ("unreviewed", "confirmed", "false_alarm")


@dataclass
class AlertEntry:
    """One alert as a reviewer sees it: the log's alert line, and what followed it."""

    record: dict
    clip: dict | None = None
    end: dict | None = None
    reviews: list[dict] = field(default_factory=list)  # oldest first

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def state(self) -> str:
        return self.reviews[-1]["decision"] if self.reviews else "unreviewed"

    def files(self) -> set[str]:
        """The evidence files its lines name: the only files the console serves for it."""
        named = {self.record.get("snapshot"), self.record.get("window_strip")}
        if self.clip:
            named |= {self.clip.get("clip"), self.clip.get("raw_clip")}
        return {name for name in named if name}


def log_files(directory: Path) -> list[Path]:
    """The current log and its backups, oldest first."""
    backups = sorted(directory.glob(LOG_NAME + ".*"), key=lambda p: -int(p.suffix[1:] or 0))
    backups = [p for p in backups if p.suffix[1:].isdigit()]
    current = directory / LOG_NAME
    return backups + ([current] if current.exists() else [])


def read_lines(path: Path) -> list[dict]:
    """Whole JSON object lines; a torn or foreign line is skipped."""
    lines = []
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return lines
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("id"), str):
            lines.append(line)
    return lines


def load_alerts(directory: Path, reviews: list[dict]) -> list[AlertEntry]:
    """Every alert of the log, newest first, each with its clip, end and reviews."""
    entries: dict[str, AlertEntry] = {}
    for path in log_files(Path(directory)):
        for line in read_lines(path):
            kind, ident = line.get("type"), line["id"]
            if kind == "alert":
                entries[ident] = AlertEntry(line)
            elif kind in ("clip", "end") and ident in entries:
                setattr(entries[ident], kind, line)
    for review in reviews:
        if review.get("alert") in entries:
            entries[review["alert"]].reviews.append(review)
    return sorted(entries.values(), key=lambda e: e.record.get("time_utc", ""), reverse=True)


@dataclass(frozen=True)
class AlertFilter:
    """What the review queue asks for; empty fields match everything. Times are ISO UTC prefixes
    compared as text, the log's own format."""

    camera: str = ""
    label: str = ""
    state: str = ""
    since: str = ""
    until: str = ""

    def matches(self, entry: AlertEntry) -> bool:
        r = entry.record
        when = r.get("time_utc", "")
        return (
            (not self.camera or r.get("camera") == self.camera)
            and (not self.label or r.get("class") == self.label)
            and (not self.state or entry.state == self.state)
            and (not self.since or when >= self.since)
            and (not self.until or when[: len(self.until)] <= self.until)
        )
