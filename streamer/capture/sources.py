"""Frame sources: RTSP, HTTP (MJPEG), webcam index or file, opened through OpenCV with timeouts."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import cv2

from streamer.capture.diagnose import diagnose
from streamer.config import CaptureConfig
from streamer.redact import redact_url

# OPENCV_FFMPEG_CAPTURE_OPTIONS is read by each open: set it and open under one lock.
_OPEN_LOCK = threading.Lock()


SCHEMES = {"rtsp": "rtsp", "rtsps": "rtsp", "http": "http", "https": "http"}


class SourceError(ValueError):
    """A camera source that no backend could ever open (unknown scheme)."""


def source_kind(source: str) -> str:
    """'rtsp', 'http', 'webcam' or 'file'; SourceError for a URL of an unknown scheme (`rstp://`)."""
    lowered = source.strip().lower()
    if "://" in lowered:
        scheme = lowered.split("://", 1)[0]
        if scheme not in SCHEMES:
            raise SourceError(
                f"unknown scheme '{scheme}://' (expected one of "
                f"{', '.join(s + '://' for s in SCHEMES)}, a webcam index or a file)"
            )
        return SCHEMES[scheme]
    if lowered.isdigit():
        return "webcam"
    return "file"


def silence_backend_logs() -> None:
    """Keep FFmpeg's and OpenCV's own lines out of Vigil's log: they repeat on every retry and some
    print the camera URL with its password. Vigil says why a source failed itself (diagnose.py).
    FFmpeg's level is read when OpenCV first opens a capture: call this before that."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # no "can't be used to capture by name"


def ffmpeg_options(kind: str, capture: CaptureConfig) -> str:
    """FFmpeg options for a network stream. `stimeout` is ignored by current FFmpeg: `timeout`
    (microseconds) bounds each read; small analyzeduration/probesize cut open time from ~3 s to <1 s."""
    options = [f"timeout;{int(capture.read_timeout_s * 1e6)}", "analyzeduration;500000", "probesize;500000"]
    if kind == "rtsp":
        options.insert(0, f"rtsp_transport;{capture.rtsp_transport}")
    return "|".join(options)


@dataclass
class OpenedSource:
    capture: cv2.VideoCapture
    kind: str
    fps: float


def open_source(source: str, capture: CaptureConfig) -> OpenedSource:
    """Open a source or raise OSError with a message free of credentials."""
    kind = source_kind(source)
    timeouts = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(capture.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        int(capture.read_timeout_s * 1000),
    ]
    with _OPEN_LOCK:
        if kind in ("rtsp", "http"):
            os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = ffmpeg_options(kind, capture)
            cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, timeouts)
        elif kind == "webcam":
            cap = cv2.VideoCapture(int(source))
        else:
            if not os.path.isfile(source):
                raise OSError(f"{redact_url(source)}: no such file")
            cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        reason = (
            diagnose(source, capture.open_timeout_s) if kind in ("rtsp", "http") else "not a readable video"
        )
        raise OSError(f"{redact_url(source)}: cannot open {kind} source: {reason}")
    fps = cap.get(cv2.CAP_PROP_FPS)
    return OpenedSource(cap, kind, fps if fps and 0 < fps < 1000 else 25.0)
