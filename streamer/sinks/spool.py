"""A sink's queue on disk: one file per message, so messages wait for a sink that is down, survive
a restart (or `kill -9`) and are taken in the order they were put."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from pathlib import Path

from streamer.alerts.log import write_durably

logger = logging.getLogger(__name__)
SUFFIX = ".json"


class Spool:
    """A bounded FIFO of JSON messages in a folder, each file `<sequence>.json` written whole or
    not at all. When full, the oldest message is dropped (and counted): the alert log keeps every
    line, so a sink that was down for days catches up on the newest."""

    def __init__(self, folder: Path, capacity: int):
        self.folder, self.capacity = Path(folder), capacity
        self.folder.mkdir(parents=True, exist_ok=True)
        for part in self.folder.glob("*.tmp"):  # a write interrupted by kill -9: never acknowledged
            part.unlink(missing_ok=True)
        self._names = deque(sorted(p.name for p in self.folder.glob("*" + SUFFIX)))
        self._next = int(self._names[-1][: -len(SUFFIX)]) + 1 if self._names else 0
        self._lock = threading.Condition()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._names)

    def put(self, message: dict) -> None:
        """Store the message durably; raises OSError (counted as dropped) when it cannot."""
        data = json.dumps(message, separators=(",", ":")).encode()
        with self._lock:
            name = f"{self._next:016d}{SUFFIX}"
            try:
                write_durably(self.folder / name, data)
            except OSError:
                self.dropped += 1  # lost to this sink; the alert log still has it
                raise
            self._next += 1
            self._names.append(name)
            while len(self._names) > self.capacity:
                self._discard(self._names.popleft(), "queue full: oldest message dropped")
            self._lock.notify_all()

    def peek(self, timeout: float) -> tuple[str, dict] | None:
        """The oldest message and its name, waiting up to `timeout` for one; None if still empty."""
        with self._lock:
            while True:
                if not self._names and not self._lock.wait(timeout):
                    return None
                if not self._names:
                    return None
                name = self._names[0]
                try:
                    return name, json.loads((self.folder / name).read_bytes())
                except (OSError, ValueError) as err:  # a damaged file must not block the rest
                    self._names.popleft()
                    self._discard(name, f"unreadable ({err})")

    def remove(self, name: str) -> None:
        """The message was delivered: forget it."""
        with self._lock:
            if self._names and self._names[0] == name:
                self._names.popleft()
            (self.folder / name).unlink(missing_ok=True)

    def discard(self, name: str, why: str) -> None:
        """Drop a message that can never be delivered, saying why; the rest go on."""
        with self._lock:
            if self._names and self._names[0] == name:
                self._names.popleft()
            self._discard(name, why)

    def _discard(self, name: str, why: str) -> None:
        self.dropped += 1
        logger.error("%s: message %s %s", self.folder.name, name, why)
        (self.folder / name).unlink(missing_ok=True)
