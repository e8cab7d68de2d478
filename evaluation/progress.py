"""A progress bar on stderr for long offline jobs (explaining or scanning a long clip)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int, label: str, stream=None, width: int = 30) -> Iterator[T]:
    """Yield items, redrawing `label [####    ] i/total  eta` in place on a terminal; elsewhere
    (a log file, CI) one line per tenth, so logs stay short."""
    stream = stream or sys.stderr
    tty = stream.isatty()
    start, shown = time.monotonic(), -1
    for i, item in enumerate(items, 1):
        yield item
        tenth = i * 10 // max(total, 1)
        if not tty and tenth == shown and i != total:
            continue
        shown = tenth
        done = min(i / max(total, 1), 1.0)
        elapsed = time.monotonic() - start
        eta = elapsed / done - elapsed if done > 0 else 0.0
        bar = "#" * int(done * width)
        line = f"{label} [{bar:<{width}}] {i}/{total}  {elapsed:.0f} s, ~{eta:.0f} s left"
        stream.write(("\r" + line) if tty else line + "\n")
        stream.flush()
    if tty:
        stream.write("\n")
