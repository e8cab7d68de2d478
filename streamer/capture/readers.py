"""Two ways to read a source: FFmpeg through PyAV, which also hands over each frame's packets (kept
for alert clips instead of a JPEG per frame), and OpenCV, for webcams, MJPEG over HTTP and hardware
decoding. Both give BGR frames; `read` returns None when the source has nothing more."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator

import av
import cv2
import numpy as np

from streamer.capture.packets import KeptFrame, PacketKeeper, StreamFormat, to_bgr

logger = logging.getLogger(__name__)

Decoded = tuple[np.ndarray, KeptFrame | None]
# Packets in a row that do not decode before a stream counts as unreadable (a file of random bytes
# that FFmpeg still opens as some format; a camera sending garbage).
MAX_BAD_PACKETS = 200


class OpenCVReader:
    """cv2.VideoCapture as a reader: no packets kept (the capture thread keeps a JPEG instead)."""

    def __init__(self, capture: cv2.VideoCapture):
        self.capture = capture

    def read(self) -> Decoded | None:
        ok, image = self.capture.read()
        return (image, None) if ok and image is not None else None

    def rewind(self) -> None:
        self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def release(self) -> None:
        self.capture.release()

    @property
    def fps(self) -> float:
        return self.capture.get(cv2.CAP_PROP_FPS)


class PyAVReader:
    """A file, RTSP or MJPEG stream demuxed and decoded by PyAV (FFmpeg) on the camera's thread."""

    def __init__(self, container: av.container.InputContainer):
        self.container = container
        self.stream = container.streams.video[0]
        context = self.stream.codec_context
        if context.width * context.height > 1920 * 1088:
            self.stream.thread_type = (
                "AUTO"  # one core takes 25-40 ms a 4K frame: spread it, a few frames late
            )
        else:
            context.thread_count = 1  # each camera has its own thread already; no frame-threading delay
        self.keeper = PacketKeeper(
            StreamFormat(context.name, context.extradata, context.width, context.height)
        )
        self._pending: deque[Decoded] = deque()
        self._packets = self._demux()

    def read(self) -> Decoded | None:
        while not self._pending:
            if next(self._packets, None) is None:
                return None
        return self._pending.popleft()

    def rewind(self) -> None:
        self.container.seek(0)
        self._pending.clear()
        self._packets = self._demux()

    def release(self) -> None:
        self.container.close()

    @property
    def fps(self) -> float:
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        return float(rate) if rate else 0.0

    def _demux(self) -> Iterator[bool]:
        """Decode packet by packet into _pending; yields once per packet. Ends with the stream, at
        a read error (a camera gone: the capture thread reconnects) or after too many bad packets."""
        bad = 0
        try:
            for packet in self.container.demux(self.stream):
                if packet.size:
                    self.keeper.packet(bytes(packet), packet.pts, packet.is_keyframe)
                else:
                    self.keeper.close()
                try:
                    frames = packet.decode()  # the empty packet at the end flushes the decoder
                except av.FFmpegError:
                    bad += 1
                    if bad > MAX_BAD_PACKETS:
                        return
                    yield True
                    continue
                bad = 0
                for frame in frames:
                    self._pending.append((to_bgr(frame), self.keeper.frame(frame.pts)))
                yield True
        except (av.FFmpegError, OSError) as err:  # carries the URL: only its kind is said
            logger.debug("demux ended: %s", type(err).__name__)


def open_pyav(source: str, options: dict[str, str], open_timeout_s: float, read_timeout_s: float):
    """Open with PyAV; None if FFmpeg cannot (the caller says why, without the URL's password)."""
    try:
        container = av.open(source, options=options, timeout=(open_timeout_s, read_timeout_s))
    except (av.FFmpegError, OSError, ValueError):
        return None
    if not container.streams.video:
        container.close()
        return None
    return PyAVReader(container)
