"""FrameRing: a fixed-capacity buffer that overwrites the oldest frame and counts what it dropped."""

from __future__ import annotations

import threading
from collections import deque

from streamer.types import Frame


class FrameRing:
    """Capture never blocks on a slow consumer: a full ring drops its oldest frame instead."""

    def __init__(self, capacity: int, name: str = "ring"):
        if capacity < 1:
            raise ValueError(f"ring capacity: expected >= 1, got {capacity}")
        self.capacity = capacity
        self.name = name
        self._frames: deque[Frame] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self.dropped = 0

    def put(self, frame: Frame) -> bool:
        """Add a frame; False when it pushed out an unread one."""
        with self._lock:
            full = len(self._frames) == self.capacity
            if full:
                self.dropped += 1
            self._frames.append(frame)
            self._ready.notify_all()
            return not full

    def drain(self) -> list[Frame]:
        """Every unread frame, oldest first."""
        with self._lock:
            frames = list(self._frames)
            self._frames.clear()
            return frames

    def wait(self, timeout: float) -> bool:
        """Wait until a frame is there (or timeout): lets a consumer sleep instead of polling."""
        with self._lock:
            return bool(self._frames) or self._ready.wait(timeout)

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)
