"""What passes between the threads: frames and analysed windows."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One captured frame: which camera, its sequence number and capture time (monotonic seconds)."""

    camera: str
    seq: int
    ts: float
    image: np.ndarray
    wall: float = 0.0  # time.time() at capture, for logs and alert files


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
        """The window's frame whose map is strongest (the newest on a tie): an alert shows this
        one. The newest frame alone may carry almost none of the evidence (a muzzle flash two
        frames before), and its map's faint maximum then lies anywhere."""
        strength = self.maps.reshape(len(self.maps), -1).max(axis=1)
        return len(strength) - 1 - int(np.argmax(strength[::-1]))

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
        """One strength for the whole window, so colours compare across its frames, scaled by the
        explained class's probability, so a weak decision draws faint maps."""
        return float(self.maps.max()) / max(float(self.probs[self.explained]), 1e-6)
