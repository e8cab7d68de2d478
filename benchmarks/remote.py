"""Many monitors, one inference server, against each monitor with its own inference: 1, 2 and 4
real `vigil run` processes (two cameras each: a generated street at 640x360, 10 fps, paced in real
time, headless), first each on its own ONNX Runtime (one thread), then all through one `vigil serve`
(PyPI's Triton, its own environment), in one run on one machine.

A third setting keeps the head on each monitor (inference.server_head = false): only frames go to
the server. Per setting: analysed frames per second over all monitors, the p50/p95 decision
latency (capture of a window's newest frame to its decision, from the monitors' histograms),
frames dropped, CPU of the monitors and of the server, and from Triton's metrics the batches its
dynamic batcher formed and what a batch cost. From those costs, by arithmetic, how many cameras
one server of this kind carries.

    python -m benchmarks.remote --out benchmarks/results/remote-cpu.json   # about 9 min
    python -m benchmarks.remote --quick                                     # 2 monitors, 5 s
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.console import cpu_seconds
from benchmarks.machine import emit, machine_info
from benchmarks.pipeline import bucket_percentiles
from evaluation import synth
from streamer.inference.bundle import read_manifest
from streamer.serving.protocol import model_names
from testbed.rtsp import free_port
from testbed.triton import TritonServer, model_counter

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "models" / "demo"
FPS = 10.0  # the cameras'; the monitor samples them at the bundle's rate
STRIDE = 4
SAMPLE_FPS = read_manifest(DEMO).sample_fps
WARM_UP_S = 10.0


def scrape(port: int) -> list:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return list(text_string_to_metric_families(text))


def total(families: list, family: str, **labels: str) -> float:
    return sum(
        s.value
        for f in families
        if f.name == family
        for s in f.samples
        if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items())
    )


def latency_buckets(families: list) -> dict[float, float]:
    buckets: dict[float, float] = {}
    for f in families:
        if f.name == "vigil_decision_latency_seconds":
            for s in f.samples:
                if s.name.endswith("_bucket"):
                    bound = float(s.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + s.value
    return buckets


def start_monitors(
    count: int, cameras: int, scene: Path, workdir: Path, server: str, server_head: bool
) -> list[tuple[subprocess.Popen, int]]:
    monitors = []
    for i in range(count):
        folder = workdir / f"{'remote' if server else 'local'}-{server_head}-{count}-{i}"
        folder.mkdir()
        port = free_port()
        inference = f'server = "{server}"\nserver_head = {str(server_head).lower()}\n' if server else ""
        streams = "".join(
            f'[[cameras]]\nname = "cam{i}-{j}"\nsource = "{scene}"\nloop = true\n' for j in range(cameras)
        )
        (folder / "config.toml").write_text(
            f'[model]\nbundle = "{DEMO}"\nproviders = ["cpu"]\nthreads = 1\n'
            f"[inference]\nstride = {STRIDE}\n{inference}"
            f'[alerts]\ndirectory = "{folder / "alerts"}"\n'
            '[overlay]\ndisplay = "headless"\n'
            f"[metrics]\nport = {port}\n" + streams
        )
        with open(folder / "log.txt", "w") as log:  # the child keeps its own copy of the file
            process = subprocess.Popen(
                [sys.executable, "-m", "vigil", "run", "--config", str(folder / "config.toml")],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        monitors.append((process, port))
    deadline = time.monotonic() + 60
    for process, port in monitors:
        while True:
            try:
                scrape(port)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("a monitor did not start") from None
                time.sleep(0.5)
    return monitors


def measure(
    count: int,
    cameras: int,
    scene: Path,
    workdir: Path,
    seconds: float,
    server: TritonServer | None,
    server_head: bool = True,
) -> dict:
    monitors = start_monitors(count, cameras, scene, workdir, server.url if server else "", server_head)
    try:
        time.sleep(WARM_UP_S)
        before = [scrape(port) for _, port in monitors]
        cpu0 = [cpu_seconds(p.pid) for p, _ in monitors]
        served0 = server.metrics() if server else ""
        server_cpu0 = server_cpu(server)
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        after = [scrape(port) for _, port in monitors]
        cpu1 = [cpu_seconds(p.pid) for p, _ in monitors]
        served1 = server.metrics() if server else ""
        server_cpu1 = server_cpu(server)
    finally:
        for process, _ in monitors:
            process.terminate()
        for process, _ in monitors:
            process.wait(timeout=30)
    analysed = sum(
        total(a, "vigil_frames_analysed") - total(b, "vigil_frames_analysed") for a, b in zip(after, before)
    )
    since, now = {}, {}
    for b, a in zip(before, after):
        for bound, value in latency_buckets(b).items():
            since[bound] = since.get(bound, 0.0) + value
        for bound, value in latency_buckets(a).items():
            now[bound] = now.get(bound, 0.0) + value
    drops = {
        reason: sum(
            total(a, "vigil_frames_dropped", reason=reason) - total(b, "vigil_frames_dropped", reason=reason)
            for a, b in zip(after, before)
        )
        for reason in ("analysis_backlog", "inference_down")
    }
    result = {
        "monitors": count,
        "cameras_per_monitor": cameras,
        "inference": ("server" if server_head else "server, head here") if server else "local",
        "seconds": round(elapsed, 1),
        "analysed_fps": round(analysed / elapsed, 2),
        "sampled_fps_offered": count * cameras * SAMPLE_FPS,
        "decision_latency_ms": bucket_percentiles(now, since),
        "frames_dropped": drops,
        "monitors_cpu_cores": round(sum(cpu1) / elapsed - sum(cpu0) / elapsed, 3),
    }
    if server:
        result["server_cpu_cores"] = round((server_cpu1 - server_cpu0) / elapsed, 3)
        result["server"] = served_batches(served0, served1)
    return result


def server_cpu(server: TritonServer | None) -> float:
    """CPU seconds of the server's whole process group (Triton, its backend stubs, PyTriton)."""
    if server is None:
        return 0.0
    group = server.process.pid
    used = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:  # the process group id
                used += cpu_seconds(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return used


def served_batches(before: str, after: str) -> dict:
    """Per model, from Triton's counters: requests, executions, the mean batch its batcher formed,
    and the mean time an execution computed."""
    out = {}
    for model in ("vigil_backbone", "vigil_head"):
        delta = {
            name: model_counter(after, name, model) - model_counter(before, name, model)
            for name in (
                "nv_inference_request_success",
                "nv_inference_count",
                "nv_inference_exec_count",
                "nv_inference_compute_infer_duration_us",
                "nv_inference_queue_duration_us",
            )
        }
        executions = delta["nv_inference_exec_count"] or 1
        out[model] = {
            "requests": delta["nv_inference_request_success"],
            "executions": delta["nv_inference_exec_count"],
            "mean_batch": round(delta["nv_inference_count"] / executions, 2),
            "compute_ms_per_execution": round(
                delta["nv_inference_compute_infer_duration_us"] / executions / 1e3, 2
            ),
            "queue_ms_per_request": round(
                delta["nv_inference_queue_duration_us"] / (delta["nv_inference_request_success"] or 1) / 1e3,
                2,
            ),
        }
    return out


def capacity(results: list[dict]) -> dict:
    """Cameras one server carries, from the busiest run's per-execution costs: each camera needs
    SAMPLE_FPS backbone frames and SAMPLE_FPS / STRIDE head runs a second. And what crosses the
    network per camera, from the tensors' sizes."""
    busiest = max((r for r in results if r["inference"] == "server"), key=lambda r: r["monitors"])
    head_here = [r for r in results if r["inference"] == "server, head here"]
    backbone, head = busiest["server"]["vigil_backbone"], busiest["server"]["vigil_head"]
    per_frame_ms = backbone["compute_ms_per_execution"] / max(backbone["mean_batch"], 1.0)
    busy_ms_per_camera_s = SAMPLE_FPS * per_frame_ms + SAMPLE_FPS / STRIDE * head["compute_ms_per_execution"]
    m = read_manifest(DEMO)
    (h, w), (ah, aw, k) = m.input_size, m.activation_shape
    frame_bytes, activation_bytes = h * w * 3, ah * aw * k * 4
    upload = SAMPLE_FPS * frame_bytes + SAMPLE_FPS / STRIDE * m.frames * activation_bytes
    download = SAMPLE_FPS * activation_bytes + SAMPLE_FPS / STRIDE * m.frames * ah * aw * 4
    return {
        "from_run_with_monitors": busiest["monitors"],
        "backbone_ms_per_frame": round(per_frame_ms, 2),
        "head_ms_per_window": head["compute_ms_per_execution"],
        "server_busy_ms_per_camera_second": round(busy_ms_per_camera_s, 1),
        "cameras_per_server_compute_unit": round(1000.0 / busy_ms_per_camera_s, 1),
        "network_per_camera_mbit_s": {
            "to_server": round(upload * 8 / 1e6, 1),
            "from_server": round(download * 8 / 1e6, 1),
            "to_server_head_here": round(SAMPLE_FPS * frame_bytes * 8 / 1e6, 1),
            "from_server_head_here": round(SAMPLE_FPS * activation_bytes * 8 / 1e6, 1),
        },
        "server_busy_ms_per_camera_second_head_here": round(SAMPLE_FPS * per_frame_ms, 1)
        if head_here
        else None,
        "models": {"backbone": model_names(m).backbone, "head": model_names(m).head},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="each measured phase")
    parser.add_argument("--monitors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--cameras", type=int, default=2, help="cameras per monitor")
    parser.add_argument("--quick", action="store_true", help="2 monitors, 5 s phases (the test suite)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    seconds, counts = (5.0, [2]) if args.quick else (args.seconds, args.monitors)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        scene = workdir / "street.mp4"
        synth.make_demo(
            scene, seed=2, width=640, height=360, fps=FPS, timeline=(("normal", 4.0), ("fight", 4.0))
        )
        results = [measure(n, args.cameras, scene, workdir, seconds, None) for n in counts]
        with TritonServer(DEMO, workdir / "serve.log") as server:
            results += [measure(n, args.cameras, scene, workdir, seconds, server) for n in counts]
            results += [measure(n, args.cameras, scene, workdir, seconds, server, False) for n in counts]
    emit({"machine": machine_info(), "remote": results, "capacity": capacity(results)}, args.out)


if __name__ == "__main__":
    main()
