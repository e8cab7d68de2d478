"""The real `vigil run` pipeline, headless, on video files paced in real time: analysed fps, drops by
reason, capture-to-decision latency percentiles, overlay ms per frame, CPU and RSS over time, for
1, 2, 4, ... cameras until analysis drops appear; per bundle (the demo model, and with --export
fresh bundles of other backbones shaped like it), per resolution, from files or a local RTSP server.
Prints JSON, with a summary: the real-time cameras each backbone sustains here.

    python -m benchmarks.pipeline --bundle models/demo --seconds 30 --cameras 1,2,4
    python -m benchmarks.pipeline --resolutions 1280x720,1920x1080 --rtsp --cameras 1,2,4,8
    python -m benchmarks.pipeline --export mobilenetv2,vgg19     # needs the 'train' extra
    python -m benchmarks.pipeline --compare 8d3930e --cameras 1,2,4,8,16   # side by side with a commit
    python -m benchmarks.pipeline --also-opencv-reader   # also the working tree with capture.reader="opencv"

Generated scenes are H.264 as cameras send them (--codec mpeg4: as OpenCV writes them).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from benchmarks.machine import emit, machine_info
from benchmarks.versions import ROOT, checkout, run_in_tree
from evaluation import synth
from streamer.config import parse_config
from streamer.inference.bundle import read_manifest
from streamer.inference.providers import parse_providers
from streamer.monitor import build_monitor


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


def histogram_counts(histogram) -> dict[float, float]:
    """Cumulative count per upper bound of a Prometheus histogram, read from the registry's samples."""
    return {
        float(s.labels["le"]): s.value
        for metric in histogram.collect()
        for s in metric.samples
        if s.name.endswith("_bucket")
    }


def histogram_percentiles(histogram, since: dict[float, float]) -> dict:
    """p50/p95/p99 in ms of what the histogram saw since `since`, interpolated within buckets as
    Prometheus's histogram_quantile does (the overlay's buckets are 0.5-2 ms wide where it draws)."""
    return bucket_percentiles(histogram_counts(histogram), since)


def bucket_percentiles(now: dict[float, float], since: dict[float, float]) -> dict:
    """p50/p95/p99 in ms from cumulative bucket counts (upper bound -> count), less `since`."""
    bounds = sorted(now)
    counts = [now[b] - since.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if total <= 0:
        return {}
    out = {}
    for q in (50, 95, 99):
        rank = total * q / 100
        i = next(i for i, c in enumerate(counts) if c >= rank)
        lower, below = (bounds[i - 1], counts[i - 1]) if i else (0.0, 0.0)
        upper = bounds[i] if bounds[i] != float("inf") else lower
        inside = counts[i] - below
        value = lower + (upper - lower) * ((rank - below) / inside if inside else 1.0)
        out[f"p{q}"] = round(value * 1e3, 1)
    return out


def dropped_by_reason(counter) -> dict[str, int]:
    """Frames dropped over all cameras, by reason: every reason the monitor counts, as it counts it."""
    drops: dict[str, int] = {}
    for metric in counter.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.value:
                reason = sample.labels["reason"]
                drops[reason] = drops.get(reason, 0) + int(sample.value)
    return drops


def camera_config(name: str, source: str, substream: str = "") -> dict:
    camera = {"name": name, "source": source}
    if substream:  # only then: a version from before substreams refuses the key
        camera["substream"] = substream
    if not source.startswith("rtsp://"):
        camera.update(loop=True, realtime=True)
    return camera


def run_once(
    bundle: str,
    source: str,
    cameras: int,
    seconds: float,
    workdir: str,
    providers: list[str] = ("cpu",),
    substream: str = "",
    capture: dict | None = None,
) -> dict:
    workdir = Path(workdir)
    data = {
        "model": {"bundle": bundle, "providers": list(providers)},
        "capture": capture or {},  # only set keys: a version from before them refuses them
        "alerts": {"directory": str(workdir / "alerts")},
        "overlay": {"display": "headless"},
        "metrics": {"enabled": False},
        "cameras": [camera_config(f"cam{i}", source, substream) for i in range(cameras)],
    }
    config = parse_config(data)
    monitor = build_monitor(config, threading.Event())
    latencies: list[float] = []
    monitor.observe(lambda analysis: latencies.append(analysis.latency))
    rss = [rss_mb()]
    monitor.start()
    warm = 3.0  # skip start-up: session warm-up and the first window filling
    time.sleep(warm)
    latencies.clear()
    sample = monitor.metrics.registry.get_sample_value
    names = [f"cam{i}" for i in range(cameras)]
    counted = ("vigil_frames_analysed_total", "vigil_frames_captured_total")
    start_counts = {(c, n): sample(c, {"camera": n}) or 0 for c in counted for n in names}
    draws_before = histogram_counts(monitor.metrics.draw_seconds)
    cpu0, t0 = cpu_seconds(), time.monotonic()
    while time.monotonic() - t0 < seconds:
        time.sleep(1.0)
        rss.append(rss_mb())
    elapsed, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
    drops = dropped_by_reason(monitor.metrics.frames_dropped)
    rate = {  # per counter, frames a second per camera, over all cameras
        c: float(np.mean([((sample(c, {"camera": n}) or 0) - start_counts[c, n]) / elapsed for n in names]))
        for c in counted
    }
    overlay_ms = histogram_percentiles(monitor.metrics.draw_seconds, since=draws_before)
    monitor.shutdown()
    m = monitor.bundle.manifest
    return {
        "cameras": cameras,
        "provider": monitor.bundle.provider,
        "seconds": round(elapsed, 1),
        "model_fps": m.sample_fps,
        "captured_fps_per_camera": round(rate["vigil_frames_captured_total"], 2),
        "analysed_fps_per_camera": round(rate["vigil_frames_analysed_total"], 2),
        "drops": drops,
        "analysis_drops": drops.get("analysis_backlog", 0) + drops.get("analysis_ring", 0),
        "window_span_s": round((m.frames - 1) / m.sample_fps, 2),
        "decision_latency_ms": percentiles(latencies),
        "overlay_ms_per_frame": overlay_ms,
        "cpu_percent": round(100 * cpu / elapsed, 1),
        "cpu_percent_per_camera": round(100 * cpu / elapsed / cameras, 1),
        "rss_mb": {
            "start": round(rss[0]),
            "end": round(rss[-1]),
            "max": round(max(rss)),
            # every 10 s after warm-up: flat means no leak over the run
            "every_10s": [round(v) for v in rss[1::10]],
        },
    }


def bundle_label(bundle: Path) -> str:
    """The bundle's backbone, and "int8" for a quantized copy (`vigil quantize`)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    precision = manifest.get("backbone_precision", "")
    return f"{manifest['backbone']} {precision}".strip() if precision == "int8" else manifest["backbone"]


def generated_scene(workdir: Path, resolution: str, quick: bool, codec: str = "h264") -> Path:
    width, height = (int(v) for v in resolution.split("x"))
    video = workdir / f"scene-{resolution}.mp4"
    synth.make_demo(
        video, seed=11, width=width, height=height, fps=25.0, timeline=(("normal", 4.0 if quick else 20.0),)
    )
    if codec == "mpeg4":
        return video
    camera_like = workdir / f"scene-{resolution}-h264.mp4"
    as_h264(video, camera_like)
    return camera_like


def as_h264(video: Path, out: Path, gop: int = 50) -> None:
    """The video encoded as an IP camera sends it: H.264, a keyframe every 2 s at 25 fps, no B-frames."""
    import av

    with av.open(str(video)) as source, av.open(str(out), "w") as target:
        decoded = source.streams.video[0]
        stream = target.add_stream("libx264", rate=decoded.average_rate)
        stream.width, stream.height, stream.pix_fmt = decoded.width, decoded.height, "yuv420p"
        stream.options = {"g": str(gop), "bf": "0", "preset": "veryfast", "crf": "23"}
        for frame in source.decode(decoded):  # re-timed by the encoder at its own rate
            fresh = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
            for packet in stream.encode(fresh):
                target.mux(packet)
        for packet in stream.encode():
            target.mux(packet)


def export_like(bundle: Path, backbone: str, workdir: Path) -> Path:
    """A fresh bundle of another backbone with the given bundle's window, rate, classes and head
    (untrained weights: the cost is the same)."""
    import keras

    from models.convrnn import build_convrnn
    from models.export import export_bundle

    m = read_manifest(bundle)
    options = head_options(bundle)
    keras.utils.set_random_seed(0)
    size = {"vgg19": 224}.get(backbone, m.input_size[0])
    model = build_convrnn(
        backbone,
        frames=m.frames,
        input_size=(size, size),
        classes=m.classes,
        normal_class=m.normal_class,
        sample_fps=m.sample_fps,
        **options,
    )
    return export_bundle(model, workdir / f"bundle-{backbone}", verify=False)


def head_options(bundle: Path) -> dict:
    """The options of a bundle's head (pooling, motion, readout), read from its Keras model."""
    from models.convrnn import head_options as read_options
    from models.convrnn import split_convrnn
    from models.export import load_model

    return read_options(split_convrnn(load_model(bundle / "model.keras"))[1])


# The target: a decision at most this long after the window's newest frame was captured.
LATENCY_TARGET_MS = 250.0


# Real time, as the issue counts it: no analysis drop, at most 1% of frames not shown, every frame
# read as fast as the camera sends it.
DISPLAY_DROP_LIMIT = 0.01
CAPTURE_RATE_LIMIT = 0.97


def shortfalls(run: dict) -> list[str]:
    """Why a run is not real time: an analysis drop, display drops over 1% of the frames, frames
    read slower than the source sends them, or p95 capture-to-decision latency over the target.
    Empty when the cameras were sustained."""
    drops = run["drops"]
    reasons = [f"{count} {reason} drops" for reason, count in drops.items() if reason.startswith("analysis")]
    frames = run["captured_fps_per_camera"] * run["cameras"] * run["seconds"]
    display = sum(count for reason, count in drops.items() if reason.startswith("display"))
    if display > DISPLAY_DROP_LIMIT * max(frames, 1):
        reasons.append(f"{display} display drops ({100 * display / max(frames, 1):.1f}% of frames)")
    if run["captured_fps_per_camera"] < CAPTURE_RATE_LIMIT * run["source_fps"]:
        reasons.append(f"read {run['captured_fps_per_camera']:g} of {run['source_fps']:g} fps per camera")
    p95 = run["decision_latency_ms"].get("p95", 0.0)
    if p95 > LATENCY_TARGET_MS:
        reasons.append(f"p95 latency {p95:g} ms > {LATENCY_TARGET_MS:g}")
    return reasons


def summarise(runs: list[dict]) -> list[dict]:
    """Per version, backbone, resolution and source: the most cameras sustained in real time, what
    each camera costs there (CPU at that count; RSS added per camera between the fewest and most
    sustained), and what the next count tried fell short by (none: the limit lies beyond)."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        key = (run["version"], run["backbone"], run["resolution"], run["source"])
        groups.setdefault(key, []).append(run)
    summary = []
    for (version, backbone, resolution, source), group in groups.items():
        failed = [r for r in group if r["shortfalls"]]
        sustained = sorted((r for r in group if not r["shortfalls"]), key=lambda r: r["cameras"])
        most = sustained[-1] if sustained else None
        added = None
        if len(sustained) > 1:
            first = sustained[0]
            added = (most["rss_mb"]["max"] - first["rss_mb"]["max"]) / (most["cameras"] - first["cameras"])
        summary.append(
            {
                "version": version,
                "backbone": backbone,
                "resolution": resolution,
                "source": source,
                "realtime_cameras": most["cameras"] if most else 0,
                "cpu_percent_per_camera": most["cpu_percent_per_camera"] if most else None,
                "rss_mb_per_added_camera": None if added is None else round(added),
                "next_count_fell_short": (
                    {"cameras": failed[0]["cameras"], "by": failed[0]["shortfalls"]} if failed else None
                ),
            }
        )
    return summary


def isolated(fn, *args):
    """fn(*args) in a fresh process: each run's RSS, threads and CPU time are its own, and
    TensorFlow (for --export) never loads into a measured process."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


def sources(video: Path, rtsp: bool, substream: Path | None):
    """(kind, source, substream, server): the file paced in real time; with `substream`, the same
    file with a smaller copy of it as each camera's substream; with rtsp, the file served over RTSP
    by a local server, started here and killed by the caller."""
    yield "file", str(video), "", None
    if substream is not None:
        yield f"file, substream {substream.stem.split('-')[1]}", str(video), str(substream), None
    if rtsp:
        from testbed.rtsp import RtspServer, gst_rtsp_available

        if not gst_rtsp_available():
            raise SystemExit(
                "--rtsp needs ffmpeg and GStreamer's RTSP server (Debian gir1.2-gst-rtsp-server-1.0)"
            )
        server = RtspServer(video)
        server.start()
        time.sleep(2.0)  # the feeder's first keyframe
        yield "rtsp", server.url, "", server


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="models/demo", help="a bundle, or several separated by commas")
    parser.add_argument(
        "--export",
        default="",
        help="also time fresh bundles of these backbones shaped like --bundle, e.g. mobilenetv2,vgg19",
    )
    parser.add_argument("--video", help="source file (default: a generated 720p 25 fps scene)")
    parser.add_argument("--cameras", default="1,2,4,8")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--resolutions", default="1280x720", help="generated sources, e.g. 1280x720,1920x1080"
    )
    parser.add_argument(
        "--rtsp",
        action="store_true",
        help="also serve each source from a local RTSP server (GStreamer + ffmpeg) and measure that",
    )
    parser.add_argument(
        "--substream",
        metavar="WxH",
        help="also give each camera a substream of this size (the same scene), e.g. 640x360",
    )
    parser.add_argument("--providers", default="cpu", help="allowed execution providers, best first")
    parser.add_argument("--quick", action="store_true", help="one camera, small video, a few seconds")
    parser.add_argument(
        "--compare",
        metavar="REVISION",
        help="also run the monitor of this git revision (e.g. a commit before a change), side by side",
    )
    parser.add_argument(
        "--also-opencv-reader",
        action="store_true",
        help='also run the working tree with capture.reader = "opencv" (a JPEG of each frame for clips)',
    )
    parser.add_argument("--codec", choices=["h264", "mpeg4"], default="h264", help="of generated scenes")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    counts = [1] if args.quick else [int(c) for c in args.cameras.split(",")]
    seconds = 3.0 if args.quick else args.seconds
    resolutions = ["320x180"] if args.quick else args.resolutions.split(",")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bundles = [Path(b).resolve() for b in args.bundle.split(",")] + [
            isolated(export_like, Path(args.bundle), name, workdir)
            for name in filter(None, args.export.split(","))
        ]
        versions = [("working tree", ROOT, {})]
        if args.also_opencv_reader:
            versions.append(("working tree, OpenCV reader", ROOT, {"reader": "opencv"}))
        if args.compare:
            versions.append((args.compare, checkout(args.compare, workdir), {}))
        providers = list(parse_providers(args.providers))
        for resolution in [None] if args.video else resolutions:
            video = (
                Path(args.video)
                if args.video
                else generated_scene(workdir, resolution, args.quick, args.codec)
            )
            capture = cv2.VideoCapture(str(video))
            source_fps = capture.get(cv2.CAP_PROP_FPS)
            capture.release()
            small = (
                generated_scene(workdir, args.substream, args.quick, args.codec) if args.substream else None
            )
            for kind, source, substream, server in sources(video, args.rtsp, small):
                try:
                    for bundle in bundles:
                        backbone = bundle_label(bundle)
                        short = set()  # versions that fell short: their limit is reached
                        for n in counts:
                            for version, tree, capture in versions:  # interleaved: the same conditions
                                if version in short or (substream and version != "working tree"):
                                    continue  # limit reached; substreams: this version's alone
                                run = {
                                    "version": version,
                                    "backbone": backbone,
                                    "source": kind,
                                    "resolution": resolution or "file",
                                    "source_fps": source_fps,
                                    **run_in_tree(
                                        tree,
                                        "benchmarks.pipeline:run_once",
                                        str(bundle),
                                        source,
                                        n,
                                        seconds,
                                        str(workdir),
                                        providers,
                                        substream,
                                        capture,
                                    ),
                                }
                                runs.append({**run, "shortfalls": shortfalls(run)})
                                if runs[-1]["shortfalls"]:
                                    short.add(version)
                finally:
                    if server is not None:
                        server.kill()
    report = {
        "benchmark": "pipeline",
        "machine": machine_info(),
        "bundle": args.bundle,
        "video": f"generated 25 fps, {args.codec}" if not args.video else os.path.basename(args.video),
        "summary": summarise(runs),
        "runs": runs,
    }
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
