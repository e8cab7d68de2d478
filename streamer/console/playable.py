"""Alert clips a browser can play. The monitor records MPEG-4 Part 2 (cheap to encode, plays in
VLC), which browsers do not play; the console transcodes a clip to H.264 the first time a reviewer
opens it, into a cache folder. The evidence file itself is never touched (its hash stays the one
recorded)."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av

CACHE_FOLDER = "playable"
_locks: dict[Path, threading.Lock] = {}
_locks_lock = threading.Lock()


def playable_clip(clip: Path) -> Path:
    """The H.264 copy of `clip` (made now if missing); OSError or av.FFmpegError when the clip
    cannot be read."""
    target = clip.parent / CACHE_FOLDER / (clip.stem + ".h264.mp4")
    with _locks_lock:
        lock = _locks.setdefault(target, threading.Lock())
    with lock:
        if target.exists() and target.stat().st_mtime >= clip.stat().st_mtime:
            return target
        target.parent.mkdir(exist_ok=True)
        part = target.with_name(target.name + ".tmp.mp4")
        try:
            _transcode(clip, part)
            part.replace(target)
        finally:
            part.unlink(missing_ok=True)
        return target


def _transcode(source: Path, target: Path) -> None:
    with (
        av.open(str(source)) as reader,
        av.open(str(target), "w", options={"movflags": "+faststart"}) as writer,
    ):
        video = reader.streams.video[0]
        rate = video.average_rate or 25
        out = writer.add_stream("libx264", rate=rate)
        out.width, out.height = video.codec_context.width // 2 * 2, video.codec_context.height // 2 * 2
        out.pix_fmt = "yuv420p"
        out.options = {"preset": "veryfast", "crf": "23"}
        for index, frame in enumerate(reader.decode(video)):
            picture = frame.reformat(width=out.width, height=out.height, format="yuv420p")
            picture.pts, picture.time_base = index, Fraction(1, 1) / Fraction(rate)  # the clip's own rate
            for packet in out.encode(picture):
                writer.mux(packet)
        for packet in out.encode(None):
            writer.mux(packet)
