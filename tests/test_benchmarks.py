"""Each benchmark runs on tiny settings and prints the JSON it promises (speed itself is not tested)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from testbed.triton import triton_available
from tests.conftest import REPO


def run(script: str, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{script.removesuffix('.py')}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def assert_plots(report: dict, tmp_path, count: int) -> None:
    """The report's plots are real, non-blank PNGs."""
    import cv2

    from benchmarks.plot import plot_file

    path = tmp_path / f"{report['benchmark']}.json"
    path.write_text(json.dumps(report))
    pngs = plot_file(path)
    assert len(pngs) == count
    for png in pngs:
        image = cv2.imread(str(png))
        assert image is not None and image.shape[0] > 200 and image.std() > 10, png


def test_inference_benchmark_runs(tmp_path):
    pytest.importorskip("tensorflow")
    report = run("inference.py", "--backbones", "compact", "--quick")
    r = report["results"][0]
    assert (
        report["machine"]["cores"] >= 1 and "CPUExecutionProvider" in report["machine"]["providers_available"]
    )
    assert r["backbone"] == "compact" and r["naive_window_ms"] > 0
    assert set(r["cached"]) == {"1", "4"} and all(v["speedup_vs_naive"] > 0 for v in r["cached"].values())
    assert r["explanation_overhead_head"] > 0
    assert set(r["backbone_frames_per_s_by_batch"]) == {"1", "2"}
    assert r["backbone_ms_per_frame_by_threads"] and r["tensorflow_over_onnxruntime"]["head_explained"] > 0
    # the compact backbone at 32 px: five 3x3 convs, 24-48-48-96-96 channels, strides 2-2-1-2-1
    assert r["arithmetic"]["backbone_gmacs_per_frame"] == round(
        sum(
            o * s * s * 9 * i for o, s, i in [(24, 16, 3), (48, 8, 24), (48, 8, 48), (96, 4, 48), (96, 4, 96)]
        )
        / 1e9,
        4,
    )
    assert r["arithmetic"]["backbone_fraction_of_matmul"] > 0
    cache = r["device_resident_cache"]
    assert cache["device"] == "cpu" and cache["head_explained_bound_ms"] > 0 and cache["cache_upload_ms"] >= 0
    assert_plots(report, tmp_path, 2)


def test_pipeline_benchmark_runs(tiny_bundle, tmp_path):
    report = run("pipeline.py", "--bundle", str(tiny_bundle), "--quick", "--export", "mobilenetv2")
    compact, mobilenet = report["runs"]
    for r in report["runs"]:
        assert r["cameras"] == 1 and r["analysed_fps_per_camera"] > 0
        assert {"p50", "p95", "p99"} == set(r["decision_latency_ms"]) == set(r["overlay_ms_per_frame"])
        assert r["rss_mb"]["max"] >= r["rss_mb"]["start"] > 0
    assert compact["backbone"] == "compact" and mobilenet["backbone"].startswith("mobilenetv2")
    assert [(s["backbone"], s["realtime_cameras"]) for s in report["summary"]] == [
        (r["backbone"], 0 if r["shortfalls"] else 1) for r in report["runs"]
    ]
    assert_plots(report, tmp_path, 1)


@pytest.mark.parametrize(
    "drops,p95,read_fps,expected",
    [
        ({}, 40.0, 25.0, []),
        ({}, 250.0, 25.0, []),
        ({}, 251.0, 25.0, ["p95 latency 251 ms > 250"]),
        # 2 cameras x 10 s x 25 fps = 500 frames: 1% may go unshown, not more.
        ({"display_late": 5}, 40.0, 25.0, []),
        ({"display_ring": 6}, 40.0, 25.0, ["6 display drops (1.2% of frames)"]),
        ({"analysis_backlog": 1}, 40.0, 25.0, ["1 analysis_backlog drops"]),
        ({"analysis_backlog": 3}, 900.5, 25.0, ["3 analysis_backlog drops", "p95 latency 900.5 ms > 250"]),
        ({}, 40.0, 24.0, ["read 24 of 25 fps per camera"]),  # frames decoded slower than sent
    ],
)
def test_a_run_falls_short_of_real_time_as_the_issue_counts_it(drops, p95, read_fps, expected):
    from benchmarks.pipeline import shortfalls

    run = {
        "cameras": 2,
        "seconds": 10.0,
        "source_fps": 25.0,
        "captured_fps_per_camera": read_fps,
        "drops": drops,
        "decision_latency_ms": {"p50": 1.0, "p95": p95},
    }
    assert shortfalls(run) == expected


def test_pipeline_summary_finds_the_most_cameras_sustained():
    from benchmarks.pipeline import summarise

    def run(resolution, cameras, shortfalls):
        return {
            "version": "working tree",
            "backbone": "b",
            "resolution": resolution,
            "source": "file",
            "cameras": cameras,
            "shortfalls": shortfalls,
            "cpu_percent_per_camera": 30.0 - cameras,
            "rss_mb": {"max": 400 + 100 * cameras},
        }

    runs = [
        run("720p", 1, []),
        run("720p", 2, []),
        run("720p", 4, ["3 display_ring drops"]),
        run("1080p", 1, []),
    ]
    assert summarise(runs) == [
        {
            "version": "working tree",
            "backbone": "b",
            "resolution": "720p",
            "source": "file",
            "realtime_cameras": 2,
            "cpu_percent_per_camera": 28.0,
            "rss_mb_per_added_camera": 100,
            "next_count_fell_short": {"cameras": 4, "by": ["3 display_ring drops"]},
        },
        {
            "version": "working tree",
            "backbone": "b",
            "resolution": "1080p",
            "source": "file",
            "realtime_cameras": 1,
            "cpu_percent_per_camera": 29.0,
            "rss_mb_per_added_camera": None,
            "next_count_fell_short": None,
        },
    ]


def test_plot_refuses_what_is_not_a_benchmark_report(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"benchmark": "other"}')
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.plot", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"plot: {path}: expected a benchmark report (['inference', 'pipeline']), got 'other'"
    )


@pytest.mark.rtsp
def test_pipeline_benchmark_runs_over_rtsp(tiny_bundle):
    from testbed.rtsp import gst_rtsp_available

    if not gst_rtsp_available():
        pytest.skip(
            "needs ffmpeg and GStreamer's RTSP server (Debian gir1.2-gst-rtsp-server-1.0, python3-gi)"
        )
    report = run("pipeline.py", "--bundle", str(tiny_bundle), "--quick", "--rtsp")
    assert [(r["source"], r["resolution"]) for r in report["runs"]] == [
        ("file", "320x180"),
        ("rtsp", "320x180"),
    ]
    assert report["runs"][1]["analysed_fps_per_camera"] > 0


def test_gpu_script_runs_end_to_end_and_skips_missing_providers(tmp_path):
    """The GPU script's plumbing, on whatever this machine has (--quick): a script that only ever
    runs on a borrowed GPU must not fail there on a typo."""
    pytest.importorskip("tensorflow")
    from streamer.inference.providers import nvidia_driver_present

    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", "benchmarks/gpu.sh", str(tmp_path), "--quick"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    inference = json.loads((tmp_path / "inference-gpu.json").read_text())
    by_provider = {r["asked"]: r for r in inference["results"]}
    assert list(by_provider) == ["tensorrt-fp16", "tensorrt", "cuda", "cpu"]
    assert by_provider["cpu"]["provider"] == "cpu"
    if not nvidia_driver_present():
        assert all("skipped" in by_provider[p] for p in ("tensorrt-fp16", "tensorrt", "cuda"))
    pipeline = json.loads((tmp_path / "pipeline-gpu.json").read_text())
    assert pipeline["runs"][0]["analysed_fps_per_camera"] > 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "inference-gpu-batch.png",
        "inference-gpu-window.png",
        "pipeline-gpu-cameras.png",
    ]


def test_live_view_reports_heat_share_and_peak_jumps_per_event_with_and_without_memory():
    report = run("live_view.py", "--quick")
    runs = report["heat_memory_s"]
    assert set(runs) == {"0.0", "0.4"}
    for per_event in runs.values():
        fight = per_event["fight"]
        assert fight["frames_shown"] >= 30 and 0 <= fight["share_with_heat"] <= 1
        assert fight["peak_jump_p90"] is None or 0 <= fight["peak_jump_p90"] <= 1
        assert 0 <= fight["share_peak_on_actors"] <= fight["share_with_heat"]


def test_a_heat_peak_counts_on_the_actors_only_inside_their_box_and_margin():
    from benchmarks.live_view import on_actors

    boxes, size = [[100, 50, 140, 120]], (400, 200)  # margin 4% of 400 px = 16 px
    assert on_actors((120 / 400, 80 / 200), boxes, size)
    assert on_actors((155 / 400, 80 / 200), boxes, size)
    assert not on_actors((160 / 400, 80 / 200), boxes, size)
    assert not on_actors((120 / 400, 150 / 200), boxes, size)


def test_heads_benchmark_times_each_bundle_side_by_side(tiny_bundle):
    report = run("heads.py", str(tiny_bundle), "models/demo", "--repeats", "8")
    assert set(report["heads"]) == {str(tiny_bundle), "models/demo"}
    demo = report["heads"]["models/demo"]
    assert 0 < demo["median_ms"] <= demo["p90_ms"] and demo["activations"] == [8, 16, 16, 96]
    assert report["machine"]["cores"] >= 1


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs mosquitto (apt install mosquitto)")
def test_sinks_benchmark_reports_delivery_latency_and_an_outage_with_nothing_missing():
    report = run("sinks", "--alerts", "40", "--rate", "40", "--down", "0.5")
    for sink in ("mqtt", "webhook_multipart"):
        steady = report["steady"][sink]
        assert steady["n"] == 40 and steady["missing"] == 0 and 0 < steady["p50_ms"] <= steady["p95_ms"]
    outage = report["broker_killed"]
    assert outage["missing"] == 0 and outage["alerts_logged_while_down"] >= 1


def test_int8_benchmark_compares_each_bundle_with_its_quantized_copy(tiny_bundle, tmp_path):
    from evaluation import synth

    synth.make_demo(
        tmp_path / "cam.mp4", seed=1, width=160, height=120, fps=10.0, timeline=(("normal", 20.0),)
    )
    report = run("int8", str(tiny_bundle), "--calibration", str(tmp_path), "--rounds", "2")
    (result,) = report["bundles"].values()
    assert set(result["backbone_ms_per_frame"]) == {"fp32", "int8"} and result["speedup"] > 0
    assert result["agreement"]["check_windows"] > 0 and -1 <= result["agreement"]["cam_correlation_mean"] <= 1


def test_alert_burst_benchmark_runs_and_every_alert_has_its_clip(tmp_path):
    from evaluation import synth

    video = tmp_path / "fight.mp4"
    synth.make_demo(video, width=320, height=180, fps=25.0, timeline=(("normal", 2.0), ("fight", 6.0)))
    report = run("alert_burst.py", "--video", str(video), "--cameras", "2", "--seconds", "9")
    (result,) = report["runs"]
    assert result["version"] == "working tree" and result["cameras"] == 2
    assert result["alerts"] >= 2 and result["clips"] == result["alerts"]  # a stop finishes every clip
    assert result["longest_gap_ms"] >= result["p99_gap_ms"] > 0


def test_console_benchmark_measures_viewers_against_none():
    report = run("console.py", "--quick", "--cameras", "2")
    phases = report["console"]["phases"]
    assert [p["viewers"] for p in phases] == [0, 2]
    watched = phases[1]
    assert all(p["cpu_cores"] > 0 for p in phases)
    # Each camera's stream is bounded by console.live_fps (5): the fast viewer gets at most that.
    assert 0 < watched["pictures_per_s_fast_viewer"] <= 2 * 5 * 1.2
    assert 0 < watched["pictures_per_s_slow_viewer"] <= watched["pictures_per_s_fast_viewer"]


@pytest.mark.triton
@pytest.mark.skipif(not triton_available(), reason="no Triton environment (make venv-triton)")
def test_remote_benchmark_compares_a_server_with_local_inference_from_both_sides_metrics():
    report = run("remote.py", "--quick")
    local, served, head_here = report["remote"]
    assert [r["inference"] for r in report["remote"]] == ["local", "server", "server, head here"]
    assert head_here["server"]["vigil_head"]["requests"] == 0 < served["server"]["vigil_head"]["requests"]
    for row in (local, served, head_here):
        assert (
            row["analysed_fps"] > 0.5 * row["sampled_fps_offered"] and row["decision_latency_ms"]["p95"] > 0
        )
    backbone = served["server"]["vigil_backbone"]
    assert (
        backbone["executions"] > 0
        and backbone["mean_batch"] >= 1
        and backbone["compute_ms_per_execution"] > 0
    )
    assert report["capacity"]["cameras_per_server_compute_unit"] > 0
