"""`vigil quantize`: an INT8 backbone calibrated on footage, the FP32 head kept byte for byte, the
agreement measured on held-out windows, and one clear line for what cannot be quantized."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

from evaluation import synth
from streamer.inference.bundle import open_bundle
from tests.conftest import REPO

pytest.importorskip("onnxruntime.quantization")


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    folder = tmp_path_factory.mktemp("footage")
    for seed in (1, 2):
        synth.make_demo(
            folder / f"cam{seed}.mp4",
            seed=seed,
            width=160,
            height=120,
            fps=10.0,
            timeline=(("normal", 20.0),),
        )
    return folder


def test_the_int8_bundle_opens_keeps_its_fp32_head_and_measures_what_it_gave_up(
    tiny_bundle, footage, tmp_path
):
    from models.quantize import REPORT_FILE, quantize_bundle

    out = tmp_path / "int8"
    report = quantize_bundle(tiny_bundle, out, footage, max_frames=64, check=4)
    int8 = open_bundle(out, providers=("cpu",))  # checksums and the I/O contract hold
    fp32 = open_bundle(tiny_bundle, providers=("cpu",))
    ops = {node.op_type for node in onnx.load(out / "backbone.onnx").graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert (out / "head.onnx").read_bytes() == (tiny_bundle / "head.onnx").read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backbone_precision"] == "int8"
    assert json.loads((out / REPORT_FILE).read_text()) == report
    assert report["calibration_frames"] == 64 and report["check_windows"] == 4
    assert report["activation_correlation_mean"] > 0.9, report
    # The CAM is the exact gradient of the deployed (FP32) head at the deployed (INT8) activations.
    frames = np.random.default_rng(0).integers(
        0, 256, (fp32.manifest.frames, *fp32.manifest.input_size, 3), np.uint8
    )
    activations = int8.backbone(frames)
    assert not np.allclose(activations, fp32.backbone(frames))  # quantized: not the FP32 activations
    np.testing.assert_array_equal(int8.head(activations).cam, fp32.head(activations).cam)


def test_what_cannot_be_quantized_is_one_line_and_leaves_nothing(tiny_bundle, footage, tmp_path):
    empty = tmp_path / "no-videos"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a video")
    for args, message in (
        (["--calibration", str(empty), "--out", str(tmp_path / "a")], "no video files"),
        (["--calibration", str(footage), "--out", str(tiny_bundle)], "already exists"),
        (["--calibration", str(tmp_path / "missing"), "--out", str(tmp_path / "b")], "no video files"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "vigil", "quantize", str(tiny_bundle), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 1, result.stderr
        lines = [x for x in result.stderr.splitlines() if x.startswith("vigil quantize:")]
        assert len(lines) == 1 and message in lines[0], result.stderr[-1500:]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
