"""The real `vigil run` pipeline, headless, on video files paced in real time: analysed fps, drops by
reason, capture-to-decision latency percentiles, overlay ms per frame, CPU and RSS over time, for
1, 2, 4, ... cameras until analysis drops appear. Prints JSON.

    python benchmarks/pipeline.py --bundle models/demo --seconds 30 --cameras 1,2,4
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import emit, machine_info  # noqa: E402
from streamer import synth  # noqa: E402
from streamer.config import parse_config  # noqa: E402
from streamer.monitor import build_monitor  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    a = np.asarray(values) * 1e3
    return {f"p{q}": round(float(np.percentile(a, q)), 1) for q in (50, 95, 99)}


def run_once(bundle: str, video: Path, cameras: int, seconds: float, workdir: Path) -> dict:
    data = {"model": {"bundle": bundle, "providers": ["cpu"]},
            "alerts": {"directory": str(workdir / "alerts")},
            "overlay": {"display": "headless"}, "metrics": {"enabled": False},
            "cameras": [{"name": f"cam{i}", "source": str(video), "loop": True, "realtime": True} for i in range(cameras)]}
    config = parse_config(data)
    monitor = build_monitor(config, threading.Event())
    latencies: list[float] = []
    decide = monitor.on_analysis

    def record(analysis):
        latencies.append(analysis.latency)
        decide(analysis)

    monitor.worker.on_analysis = record
    rss = [rss_mb()]
    monitor.start()
    warm = 3.0   # skip start-up: session warm-up and the first window filling
    time.sleep(warm)
    latencies.clear()
    sample = monitor.metrics.registry.get_sample_value
    names = [f"cam{i}" for i in range(cameras)]
    start_counts = {n: sample("vigil_frames_analysed_total", {"camera": n}) or 0 for n in names}
    cpu0, t0 = cpu_seconds(), time.monotonic()
    while time.monotonic() - t0 < seconds:
        time.sleep(1.0)
        rss.append(rss_mb())
    elapsed, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
    drops = {}
    for n in names:
        for reason in ("analysis_ring", "display_ring", "analysis_backlog"):
            value = sample("vigil_frames_dropped_total", {"camera": n, "reason": reason}) or 0
            if value:
                drops[reason] = drops.get(reason, 0) + int(value)
    analysed = {n: ((sample("vigil_frames_analysed_total", {"camera": n}) or 0) - start_counts[n]) / elapsed
                for n in names}
    overlay_ms = list(monitor.compositor.draw_seconds)
    monitor.shutdown()
    m = monitor.bundle.manifest
    return {"cameras": cameras, "seconds": round(elapsed, 1), "model_fps": m.sample_fps,
            "analysed_fps_per_camera": round(float(np.mean(list(analysed.values()))), 2),
            "drops": drops, "analysis_drops": drops.get("analysis_backlog", 0) + drops.get("analysis_ring", 0),
            "window_span_s": round((m.frames - 1) / m.sample_fps, 2),
            "decision_latency_ms": percentiles(latencies),
            "overlay_ms_per_frame": percentiles(overlay_ms),
            "cpu_percent": round(100 * cpu / elapsed, 1), "rss_mb": {"start": round(rss[0]), "end": round(rss[-1]),
                                                                     "max": round(max(rss))}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="models/demo")
    parser.add_argument("--video", help="source file (default: a generated 720p 25 fps scene)")
    parser.add_argument("--cameras", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--quick", action="store_true", help="one camera, small video, a few seconds")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        video = Path(args.video) if args.video else workdir / "scene.mp4"
        if not args.video:
            size = (320, 180) if args.quick else (1280, 720)
            synth.make_demo(video, seed=11, width=size[0], height=size[1], fps=25.0,
                            timeline=(("normal", 4.0 if args.quick else 20.0),))
        counts = [1] if args.quick else [int(c) for c in args.cameras.split(",")]
        seconds = 3.0 if args.quick else args.seconds
        runs = []
        for n in counts:
            runs.append(run_once(args.bundle, video, n, seconds, workdir))
            if runs[-1]["analysis_drops"]:
                break   # this machine's limit is reached
    report = {"benchmark": "pipeline", "machine": machine_info(), "bundle": args.bundle,
              "video": "generated" if not args.video else os.path.basename(args.video), "runs": runs}
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
