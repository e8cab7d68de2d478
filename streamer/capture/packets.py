"""Frames kept as the camera's own encoded packets, decoded again only for an alert clip.

A clip needs each frame at full size, but only when an alert fires. JPEG-encoding every frame in
case one does cost ~2 ms a 720p frame, per camera, all day. The camera already sent the frame
compressed: keeping its packets from the last keyframe costs a copy of ~2-10 kB a frame, and the
clip writer's thread decodes them again, from the keyframe, when a clip needs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import av
import cv2
import numpy as np

logger = logging.getLogger(__name__)

# A stream whose keyframes are far apart (or never come again) would hold its packets without end:
# past this a group's later frames are kept as JPEG instead (the capture thread's fallback).
MAX_GOP_BYTES = 32_000_000


def to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as OpenCV's BGR: video-range YUV 4:2:0 (what cameras' H.264 is) through
    OpenCV's converter (0.6 ms at 720p), 2 ms faster than FFmpeg's swscale to bgr24; anything else,
    full-range JPEG's yuvj included, through swscale, which knows its range."""
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
    return frame.to_ndarray(format="bgr24")


@dataclass(frozen=True)
class StreamFormat:
    """What a fresh decoder needs to read a stream's packets: its codec and its headers."""

    codec: str
    extradata: bytes | None
    width: int
    height: int

    def decoder(self) -> av.VideoCodecContext:
        context = av.CodecContext.create(self.codec, "r")
        if self.extradata:
            context.extradata = self.extradata
        context.width, context.height = self.width, self.height
        context.thread_count = 1
        return context


@dataclass(eq=False)
class PacketGroup:
    """A keyframe's packets and those after it up to the next keyframe (a GOP), held while any frame
    decoded from them is held (display hold-back, a clip's pre-roll)."""

    stream: StreamFormat
    packets: list[tuple[bytes, int | None]] = field(default_factory=list)  # (data, pts), decode order
    stamps: set[int] = field(default_factory=set)  # the frames' timestamps it holds
    size: int = 0
    closed: bool = False  # the next keyframe came (or the stream ended): no packet will be added

    def add(self, data: bytes, pts: int | None) -> None:
        self.packets.append((data, pts))
        if pts is not None:
            self.stamps.add(pts)
        self.size += len(data)


@dataclass(frozen=True)
class KeptFrame:
    """A frame as its packets: the group it was decoded from, its timestamp, and its place in the
    group's output (which decides only where a stream has no timestamps)."""

    group: PacketGroup
    index: int
    pts: int | None


class PacketKeeper:
    """The capture side: holds each group's packets as they are read, and names the group each
    decoded frame belongs to. With B-frames the last frames of a group come out of the decoder after
    the next keyframe went in, so the group before is held too and frames are matched by timestamp."""

    def __init__(self, stream: StreamFormat):
        self.stream = stream
        self.group: PacketGroup | None = None  # None before the first keyframe, or past the bound
        self.previous: PacketGroup | None = None
        self.outputs = 0

    def packet(self, data: bytes, pts: int | None, keyframe: bool) -> None:
        if keyframe:
            self.close()
            self.previous, self.group, self.outputs = self.group, PacketGroup(self.stream), 0
        if self.group is None:
            return
        self.group.add(data, pts)
        if self.group.size > MAX_GOP_BYTES:
            logger.debug("keyframes too far apart: frames kept as JPEG until the next one")
            self.group = None

    def close(self) -> None:
        """The stream ended: its last group is whole (its last frames can be flushed out)."""
        if self.group is not None:
            self.group.closed = True

    def frame(self, pts: int | None) -> KeptFrame | None:
        """The decoded frame that came out next, as packets; None where they are not held."""
        index, self.outputs = self.outputs, self.outputs + 1
        if pts is None:
            return KeptFrame(self.group, index, None) if self.group is not None else None
        for group in (self.group, self.previous):
            if group is not None and pts in group.stamps:
                return KeptFrame(group, index, pts)
        return None


class KeptDecoder:
    """The clip side: decodes kept frames in the order they are asked for, carrying one decoder
    along a group, so that a clip costs one decode per frame, not one per frame since the keyframe."""

    def __init__(self) -> None:
        self.group: PacketGroup | None = None
        self.context: av.VideoCodecContext | None = None
        self.fed = 0  # packets of the group sent to the decoder
        self.flushed = False
        self.outputs = 0  # frames it gave
        self.last_pts: int | None = None
        self.ready: list[tuple[int, av.VideoFrame]] = []  # (place, frame) given and not yet asked for

    def picture(self, kept: KeptFrame) -> np.ndarray | None:
        """The frame at full size; None if its packets no longer decode to it (a damaged stream)."""
        if kept.group is not self.group or self._passed(kept):
            self._start(kept.group)
        while True:
            for place, frame in self.ready:
                if self._is(kept, place, frame):
                    self.ready = [(p, f) for p, f in self.ready if p > place]
                    return to_bgr(frame)
            if not self._feed():
                return None

    def _feed(self) -> bool:
        """Decode the group's next packet (or, once it is whole, flush the decoder's last frames)."""
        if self.fed < len(self.group.packets):
            data, pts = self.group.packets[self.fed]
            self.fed += 1
            packet = av.Packet(data)
            packet.pts = pts
        elif self.group.closed and not self.flushed:
            packet, self.flushed = None, True
        else:
            return False
        try:
            frames = self.context.decode(packet)
        except av.FFmpegError:
            return True
        for frame in frames:
            self.ready.append((self.outputs, frame))
            self.outputs += 1
            self.last_pts = frame.pts
        self.ready = self.ready[-64:]  # frames never asked for (skipped by the display) go
        return True

    @staticmethod
    def _is(kept: KeptFrame, place: int, frame: av.VideoFrame) -> bool:
        if kept.pts is not None and frame.pts is not None:
            return frame.pts == kept.pts
        return place == kept.index

    def _passed(self, kept: KeptFrame) -> bool:
        """Asked for a frame this decoder has already gone beyond: start the group again."""
        if any(self._is(kept, place, frame) for place, frame in self.ready):
            return False
        if kept.pts is not None and self.last_pts is not None:
            return kept.pts <= self.last_pts
        return kept.index < self.outputs

    def _start(self, group: PacketGroup) -> None:
        self.group, self.context = group, group.stream.decoder()
        self.fed = self.outputs = 0
        self.flushed, self.last_pts, self.ready = False, None, []
