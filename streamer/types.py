"""What passes between the threads: frames and analysed windows."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from streamer.capture.packets import KeptFrame
from streamer.display import maps


@dataclass(frozen=True)
class Frame:
    """One captured frame: which camera, its sequence number and capture time (monotonic seconds)."""

    camera: str
    seq: int
    ts: float
    image: np.ndarray
    wall: float = 0.0  # time.time() at capture, for logs and alert files
    kept: KeptFrame | bytes | None = (
        None  # the full-size frame alert clips are drawn on: its packets, or a JPEG
    )


@dataclass(frozen=True)
class Analysis:
    """The head's verdict on one window, with the CAM of each analysed frame."""

    camera: str
    seqs: tuple[int, ...]  # sequence numbers of the window's frames, oldest first
    stamps: tuple[float, ...]  # their capture times
    probs: np.ndarray  # [C]
    maps: np.ndarray  # [T, h, w], one per frame, for the explained class
    explained: int  # class the CAMs explain
    decided_at: float  # monotonic time the decision was ready
    walls: tuple[float, ...] = ()  # wall-clock capture times of the frames
    images: tuple[np.ndarray, ...] = ()  # the window's frames as captured (the cache holds them anyway)
    activations: np.ndarray | None = None  # [T, h, w, k] of the window: to explain another class

    @property
    def latency(self) -> float:
        """Capture of the newest frame -> decision."""
        return self.decided_at - self.stamps[-1]

    def explained_as(self, index: int, head) -> Analysis:
        """The same window explained for class `index` (head: Bundle.head on the cached
        activations; no backbone run): an alert's evidence is its own class's map."""
        if index == self.explained or self.activations is None:
            return self
        result = head(self.activations, target=index)
        return replace(self, maps=result.cam, explained=index)

    @property
    def evidence(self) -> int:
        """The window's frame whose map is strongest: an alert shows this one (maps.strongest_frame)."""
        return maps.strongest_frame(self.maps)

    @property
    def evidence_image(self) -> np.ndarray | None:
        """The evidence frame as captured; None when the frames are not carried."""
        return self.images[self.evidence] if self.images else None

    @property
    def frame_size(self) -> tuple[int, int]:
        """(H, W) of the camera's frames; (0, 0) when the frames are not carried."""
        return (0, 0) if not self.images else self.images[-1].shape[:2]

    @property
    def map_scale(self) -> float:
        """The window's one colour scale (maps.window_scale)."""
        return maps.window_scale(self.maps, self.probs[self.explained])
