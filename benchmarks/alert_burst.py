"""When several cameras alert at once, does the guard's picture keep going? The demo video on N
cameras in a grid (every camera raises its alerts at the same moment, the worst case for clip
work): the longest gap between two pictures laid out for the screen, the p99 gap, frames skipped
as late, alerts and clips. With --compare REV, a git revision's monitor beside the working tree's.

    python -m benchmarks.alert_burst --cameras 4 --compare 8d3930e \
        --out benchmarks/results/alert-burst-cpu.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import emit, machine_info
from benchmarks.versions import ROOT, checkout, run_in_tree
from evaluation import synth
from streamer.config import parse_config
from streamer.display.clips import RAW_SUFFIX
from streamer.monitor import build_monitor

SCREEN = (1920, 1080)


def measure(bundle: str, video: str, cameras: int, seconds: float, workdir: str) -> dict:
    """The monitor on `cameras` copies of `video` for `seconds`, its picture watched at 200 Hz as
    the window's main loop would."""
    folder = Path(tempfile.mkdtemp(dir=workdir))
    data = {
        "model": {"bundle": bundle},
        "alerts": {"directory": str(folder)},
        "overlay": {"display": "headless"},
        "metrics": {"enabled": False},
        "cameras": [{"name": f"cam{i}", "source": video} for i in range(cameras)],
    }
    monitor = build_monitor(parse_config(data), threading.Event(), canvas_size=SCREEN)
    monitor.start()
    shown, gaps = 0, []
    last = time.monotonic()
    ends = last + seconds
    while time.monotonic() < ends:
        picture_id, _ = monitor.compositor.latest()
        now = time.monotonic()
        if picture_id != shown:
            if shown > 25:  # after the first second of pictures: start-up is not the question
                gaps.append(now - last)
            shown, last = picture_id, now
        time.sleep(0.005)
    sample = monitor.metrics.registry.get_sample_value
    names = [f"cam{i}" for i in range(cameras)]
    late = sum(
        sample("vigil_frames_dropped_total", {"camera": n, "reason": "display_late"}) or 0 for n in names
    )
    alerts = sum(
        sample("vigil_alerts_total", {"camera": n, "class": c}) or 0
        for n in names
        for c in ("fight", "shooting")
    )
    monitor.shutdown()
    gaps_ms = np.asarray(gaps) * 1e3
    return {
        "cameras": cameras,
        "seconds": seconds,
        "alerts": int(alerts),
        # Each alert's clip with its map; its copy as captured (.raw.mp4, newer monitors) not counted.
        "clips": len([p for p in folder.glob("*.mp4") if not p.name.endswith(RAW_SUFFIX)]),
        "display_late_frames": int(late),
        "longest_gap_ms": round(float(gaps_ms.max()), 1),
        "p99_gap_ms": round(float(np.percentile(gaps_ms, 99)), 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="models/demo")
    parser.add_argument("--video", help="default: the demo video, generated (a fight, then a shooting)")
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=50.0, help="the demo's shooting starts at 42 s")
    parser.add_argument("--compare", metavar="REVISION", help="also run this git revision's monitor")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        video = Path(args.video) if args.video else workdir / "demo.mp4"
        if not args.video:
            synth.make_demo(video)
        versions = [("working tree", ROOT)]
        if args.compare:
            versions.append((args.compare, checkout(args.compare, workdir)))
        bundle = str(Path(args.bundle).resolve())
        for version, tree in versions:
            result = run_in_tree(
                tree, "benchmarks.alert_burst:measure", bundle, str(video), args.cameras, args.seconds, tmp
            )
            runs.append({"version": version, **result})
    emit({"benchmark": "alert_burst", "machine": machine_info(), "runs": runs}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
