"""Frame sources: RTSP, HTTP (MJPEG), webcam index or file, opened with timeouts by the reader that
suits them (readers.py): PyAV for files and RTSP decoded in software, OpenCV for the rest."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import cv2

from streamer.capture.diagnose import diagnose
from streamer.capture.readers import OpenCVReader, PyAVReader, open_pyav
from streamer.config import CaptureConfig
from streamer.redact import redact_url

# OPENCV_FFMPEG_CAPTURE_OPTIONS is read by each open: set it and open under one lock.
_OPEN_LOCK = threading.Lock()


SCHEMES = {"rtsp": "rtsp", "rtsps": "rtsp", "http": "http", "https": "http"}
# capture.hw_decode -> OpenCV's FFmpeg hardware acceleration; "auto" lets OpenCV pick one that works.
HW_DECODERS = {
    "auto": cv2.VIDEO_ACCELERATION_ANY,
    "vaapi": cv2.VIDEO_ACCELERATION_VAAPI,
    "mfx": cv2.VIDEO_ACCELERATION_MFX,
    "d3d11": cv2.VIDEO_ACCELERATION_D3D11,
    "drm": cv2.VIDEO_ACCELERATION_DRM,
}
DECODER_NAMES = {v: k for k, v in HW_DECODERS.items() if k != "auto"} | {
    cv2.VIDEO_ACCELERATION_NONE: "software"
}
_HW_UNAVAILABLE: set[str] = set()  # decoders that failed where software worked: not asked again


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


def ffmpeg_options(kind: str, capture: CaptureConfig) -> dict[str, str]:
    """FFmpeg options for a network stream. `stimeout` is ignored by current FFmpeg: `timeout`
    (microseconds) bounds each read; small analyzeduration/probesize cut open time from ~3 s to <1 s."""
    transport = {"rtsp_transport": capture.rtsp_transport} if kind == "rtsp" else {}
    timeout = str(int(capture.read_timeout_s * 1e6))
    return transport | {"timeout": timeout, "analyzeduration": "500000", "probesize": "500000"}


def opencv_options(options: dict[str, str]) -> str:
    """The same options in OPENCV_FFMPEG_CAPTURE_OPTIONS' form."""
    return "|".join(f"{key};{value}" for key, value in options.items())


@dataclass
class OpenedSource:
    reader: OpenCVReader | PyAVReader
    kind: str
    fps: float
    decoding: str = "software"  # what decodes it: "software", "vaapi", ... with why, after a fallback

    @property
    def keeps_packets(self) -> bool:
        """Its frames come with their packets: alert clips need no JPEG of each frame."""
        return isinstance(self.reader, PyAVReader)


def open_source(source: str, capture: CaptureConfig) -> OpenedSource:
    """Open a source or raise OSError with a message free of credentials."""
    kind = source_kind(source)
    timeouts = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(capture.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        int(capture.read_timeout_s * 1000),
    ]
    if kind == "file" and not os.path.isfile(source):
        raise OSError(f"{redact_url(source)}: no such file")
    params = timeouts if kind in ("rtsp", "http") else []
    hw = capture.hw_decode if kind != "webcam" and capture.hw_decode not in _HW_UNAVAILABLE else "none"
    if capture.reader == "auto" and kind != "webcam" and capture.hw_decode == "none":
        return _open_with_pyav(source, kind, capture)
    with _OPEN_LOCK:
        if kind in ("rtsp", "http"):
            os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = opencv_options(ffmpeg_options(kind, capture))
        if kind == "webcam":
            cap = cv2.VideoCapture(int(source))
        else:
            cap = _open_ffmpeg(source, params, hw)
            if hw != "none" and not cap.isOpened():  # the decoder, or the source? software says which
                cap.release()
                cap = _open_ffmpeg(source, params, "none")
                if cap.isOpened():
                    _HW_UNAVAILABLE.add(hw)
    if not cap.isOpened():
        cap.release()
        raise _cannot_open(source, kind, capture)
    reader = OpenCVReader(cap)
    return OpenedSource(reader, kind, _plausible(reader.fps), _decoding(cap, kind, capture.hw_decode))


def _open_with_pyav(source: str, kind: str, capture: CaptureConfig) -> OpenedSource:
    options = ffmpeg_options(kind, capture) if kind in ("rtsp", "http") else {}
    reader = open_pyav(source, options, capture.open_timeout_s, capture.read_timeout_s)
    if reader is None:
        raise _cannot_open(source, kind, capture)
    return OpenedSource(reader, kind, _plausible(reader.fps), "software (PyAV)")


def _cannot_open(source: str, kind: str, capture: CaptureConfig) -> OSError:
    """Why a source did not open, in Vigil's words: FFmpeg's own carry the URL with its password."""
    reason = diagnose(source, capture.open_timeout_s) if kind in ("rtsp", "http") else "not a readable video"
    return OSError(f"{redact_url(source)}: cannot open {kind} source: {reason}")


def _plausible(fps: float) -> float:
    """A header's frame rate, or 25 where it lies (0, NaN, thousands)."""
    return fps if fps and 0 < fps < 1000 else 25.0


def _open_ffmpeg(source: str, params: list[int], hw: str) -> cv2.VideoCapture:
    extra = [cv2.CAP_PROP_HW_ACCELERATION, HW_DECODERS[hw]] if hw != "none" else []
    return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params + extra)


def _decoding(cap: cv2.VideoCapture, kind: str, asked: str) -> str:
    """What decodes the stream, and why not what was asked: said in the camera's 'up' line."""
    if kind == "webcam":
        return "the camera's driver"
    used = DECODER_NAMES.get(int(cap.get(cv2.CAP_PROP_HW_ACCELERATION)), "software")
    if asked not in ("none", "auto") and used != asked:
        return f"{used} ({asked} not available here)"
    if asked == "auto" and used == "software":
        return "software (no hardware decoder available)"
    return used
