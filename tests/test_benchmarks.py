"""Each benchmark runs on tiny settings and prints the JSON it promises (speed itself is not tested)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


def run(script: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_inference_benchmark_runs():
    pytest.importorskip("tensorflow")
    report = run("inference.py", "--backbones", "compact", "--quick")
    r = report["results"][0]
    assert report["machine"]["cores"] >= 1 and "CPUExecutionProvider" in report["machine"]["providers_available"]
    assert r["backbone"] == "compact" and r["naive_window_ms"] > 0
    assert set(r["cached"]) == {"1", "4"} and all(v["speedup_vs_naive"] > 0 for v in r["cached"].values())
    assert r["explanation_overhead_head"] > 0
    assert set(r["backbone_frames_per_s_by_batch"]) == {"1", "2"}
    assert r["backbone_ms_per_frame_by_threads"] and r["tensorflow_over_onnxruntime"]["head_explained"] > 0


def test_pipeline_benchmark_runs(tiny_bundle):
    report = run("pipeline.py", "--bundle", str(tiny_bundle), "--quick")
    (r,) = report["runs"]
    assert r["cameras"] == 1 and r["analysed_fps_per_camera"] > 0
    assert {"p50", "p95", "p99"} == set(r["decision_latency_ms"]) == set(r["overlay_ms_per_frame"])
    assert r["rss_mb"]["max"] >= r["rss_mb"]["start"] > 0


@pytest.mark.rtsp
def test_pipeline_benchmark_runs_over_rtsp(tiny_bundle):
    from tests.rtsp import gst_rtsp_available

    if not gst_rtsp_available():
        pytest.skip("needs ffmpeg and GStreamer's RTSP server (Debian gir1.2-gst-rtsp-server-1.0, python3-gi)")
    report = run("pipeline.py", "--bundle", str(tiny_bundle), "--quick", "--rtsp")
    assert [(r["source"], r["resolution"]) for r in report["runs"]] == [("file", "320x180"), ("rtsp", "320x180")]
    assert report["runs"][1]["analysed_fps_per_camera"] > 0
