"""What a guard sees during an event: the real monitor, headless, on the README's demo video (or a
short scene with --quick), once without carrying the heat through time (overlay.heat_memory_s = 0,
each frame's own map: the old view) and once with the default memory, side by side in one run.

Per event of the video's ground truth: the share of displayed frames that show heat, the share
whose heat peaks on the actors (inside their box, grown by 4% of the frame's width), and the p90
jump of the heat's peak between consecutive displayed frames (share of the frame's diagonal). Read
through the monitor's public measure interface (Metrics.heat_shown).

    python -m benchmarks.live_view                 # the 60 s demo video, ~2.5 min
    python -m benchmarks.live_view --bundle build/run/bundle --out live.json
    python -m benchmarks.live_view --quick         # a 6 s scene at 320x180
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.machine import emit, machine_info
from evaluation import synth
from streamer.config import OverlayConfig, parse_config
from streamer.metrics import Metrics, build_metrics
from streamer.monitor import build_monitor

DEMO = Path(__file__).resolve().parent.parent / "models" / "demo"


@dataclass(frozen=True)
class ShownMetrics(Metrics):
    """The monitor's metrics, also keeping every displayed frame's heat peak."""

    shown: list = field(default_factory=list)  # (frame number, peak (x, y) or None)

    def heat_shown(self, camera: str, seq: int, peak: tuple[float, float] | None) -> None:
        super().heat_shown(camera, seq, peak)
        self.shown.append((seq, peak))


PEAK_MARGIN = 0.04  # of the frame's width: a peak on a cell at the box's edge still counts


def watch(
    video: Path, memory_s: float, workdir: Path, bundle: Path = DEMO
) -> list[tuple[int, tuple[float, float] | None]]:
    """Every displayed frame's (number, heat peak) of one headless run over the whole video."""
    data = {
        "model": {"bundle": str(bundle), "providers": ["cpu"]},
        "alerts": {"directory": str(workdir / f"alerts-{memory_s}")},
        "overlay": {"display": "headless", "heat_memory_s": memory_s},
        "metrics": {"enabled": False},
        "cameras": [{"name": "demo", "source": str(video), "loop": False, "realtime": True}],
    }
    base = build_metrics()
    metrics = ShownMetrics(**{name: getattr(base, name) for name in Metrics.__dataclass_fields__})
    monitor = build_monitor(parse_config(data), threading.Event(), metrics=metrics)
    monitor.start()
    while not monitor.captures[0].finished:
        time.sleep(0.2)
    time.sleep(monitor.compositor.delay + 1.0)  # the held-back frames
    monitor.shutdown()
    return metrics.shown


def on_actors(peak: tuple[float, float], boxes: list, size: tuple[int, int]) -> bool:
    """Is a peak (x, y as shares of the frame) inside one of the boxes (pixels), with the margin?"""
    w, h = size
    x, y, margin = peak[0] * w, peak[1] * h, PEAK_MARGIN * w
    return any(b[0] - margin <= x <= b[2] + margin and b[1] - margin <= y <= b[3] + margin for b in boxes)


def summarise(shown: list, sidecar: dict) -> dict:
    out = {}
    boxes, size = sidecar.get("boxes", {}), tuple(sidecar.get("size", (1, 1)))
    for event in sidecar["events"]:
        inside = [(seq, peak) for seq, peak in shown if event["start"] <= seq < event["end"]]
        jumps = [
            float(np.hypot(b[0] - a[0], b[1] - a[1]) / np.sqrt(2))
            for (_, a), (_, b) in zip(inside, inside[1:])
            if a and b
        ]
        boxed = [(peak, boxes[str(seq)]) for seq, peak in inside if str(seq) in boxes]
        out[event["label"]] = {
            "frames_shown": len(inside),
            "share_with_heat": round(sum(p is not None for _, p in inside) / max(len(inside), 1), 3),
            "share_peak_on_actors": round(
                sum(bool(p) and on_actors(p, b, size) for p, b in boxed) / len(boxed), 3
            )
            if boxed
            else None,
            "peak_jump_p90": round(float(np.percentile(jumps, 90)), 4) if jumps else None,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--video", help="a video with a demo sidecar (events); default: make the README's demo"
    )
    parser.add_argument("--quick", action="store_true", help="a 6 s 320x180 scene instead (tests)")
    parser.add_argument(
        "--bundle", type=Path, default=DEMO, help="the bundle to watch with; default: the demo"
    )
    parser.add_argument(
        "--memories",
        help="comma-separated overlay.heat_memory_s values to compare; default: 0 and the default",
    )
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    default = {0.0, OverlayConfig().heat_memory_s}
    memories = sorted({float(m) for m in args.memories.split(",")} if args.memories else default)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        video = Path(args.video) if args.video else work / "demo.mp4"
        if args.quick:
            timeline = (("normal", 2.0), ("fight", 4.0))
            sidecar = synth.make_demo(video, seed=21, width=320, height=180, fps=10.0, timeline=timeline)
        elif args.video:
            import json

            sidecar = json.loads(video.with_suffix(".json").read_text())
        else:
            sidecar = synth.make_demo(video)
        report = {
            "machine": machine_info(),
            "video": "quick scene" if args.quick else str(args.video or "demo"),
            "bundle": str(args.bundle),
        }
        report["heat_memory_s"] = {
            str(memory): summarise(watch(video, memory, work, args.bundle), sidecar) for memory in memories
        }
    emit(report, args.out)


if __name__ == "__main__":
    main()
