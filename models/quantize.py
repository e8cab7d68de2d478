"""INT8 backbones: ONNX Runtime static quantization (QDQ, per-channel int8 weights, uint8
activations) of a bundle's backbone, calibrated on frames of the site's own footage.

Only the backbone is quantized. The head, with its gradients, stays FP32, so the CAM is still the
exact gradient of the deployed head at the deployed (INT8) activations. What the quantized bundle
gives up is measured here against the FP32 one on windows that were not used for calibration:
activation correlation, class probabilities and CAM agreement. It is written to the bundle as
quantization.json. Speed is measured side by side in benchmarks/int8.py."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from evaluation.dataset import VIDEO_SUFFIXES, DatasetError, clip_windows, open_clip, read_frames
from streamer.inference.bundle import MANIFEST_FILE, open_bundle, read_manifest, sha256_file
from streamer.inference.frames import ModelInput

REPORT_FILE = "quantization.json"
METHOD = "ONNX Runtime static quantization: QDQ, per-channel int8 weights, uint8 activations, MinMax"


class QuantizeError(Exception):
    """A bundle or calibration folder that cannot be quantized: one line naming it."""


def footage_windows(folder: Path, frames: int, model_input: ModelInput, hop_s: float = 1.0):
    """Every window (one every hop_s) of every video under `folder`, as uint8 [T, H, W, 3] model
    inputs (resized and coded as the monitor does), in a fixed order."""
    fps = model_input.sample_fps
    videos = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise QuantizeError(f"{folder}: no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) to calibrate on")
    windows = []
    for video in videos:
        try:
            clip = open_clip(video)
            sources = [model_input.sources(w, clip.fps) for w in clip_windows(clip, frames, fps, hop_s)]
            decoded = read_frames(video, {f for s in sources for f in s}, model_input.size)
        except DatasetError as err:
            raise QuantizeError(str(err)) from None
        windows += [model_input.encode([decoded[f] for f in s]) for s in sources]
    if len(windows) < 2:
        raise QuantizeError(
            f"{folder}: too little footage (need 2 windows of {frames} frames at {fps:g} fps)"
        )
    return windows


class _Frames(CalibrationDataReader):
    def __init__(self, name: str, frames: np.ndarray, batch: int = 8):
        self.batches = iter([{name: frames[i : i + batch]} for i in range(0, len(frames), batch)])

    def get_next(self):
        return next(self.batches, None)


def split_windows(windows: list[np.ndarray], check: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """(calibration frames, check windows): every k-th window is held out for the check."""
    step = max(2, len(windows) // max(check, 1))
    held = set(range(0, len(windows), step)[:check])
    calibration = np.concatenate([w for i, w in enumerate(windows) if i not in held])
    return calibration, [windows[i] for i in sorted(held)]


def quantize_bundle(source: Path, out: Path, footage: Path, max_frames: int = 400, check: int = 24) -> dict:
    """Write `out`: `source` with an INT8 backbone calibrated on `footage`; return the agreement
    report (also written to out/quantization.json)."""
    source, out = Path(source), Path(out)
    manifest = read_manifest(source)
    if out.exists():
        raise QuantizeError(f"{out}: already exists (choose a new folder)")
    windows = footage_windows(footage, manifest.frames, manifest.model_input)
    calibration, held = split_windows(windows, check)
    rng = np.random.default_rng(0)
    if len(calibration) > max_frames:
        calibration = calibration[np.sort(rng.choice(len(calibration), max_frames, replace=False))]
    fp32 = open_bundle(source, providers=("cpu",))
    input_name = fp32.session("backbone.onnx").get_inputs()[0].name
    shutil.copytree(source, out)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            prepared = Path(tmp) / "backbone.onnx"
            quant_pre_process(str(source / "backbone.onnx"), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(out / "backbone.onnx"),
                _Frames(input_name, calibration),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
        data = json.loads((source / MANIFEST_FILE).read_text())
        data["files"]["backbone.onnx"] = sha256_file(out / "backbone.onnx")
        data["backbone_precision"] = "int8"
        (out / MANIFEST_FILE).write_text(json.dumps(data, indent=2) + "\n")
        int8 = open_bundle(out, providers=("cpu",))
        report = {
            "source": str(source),
            "footage": str(footage),
            "calibration_frames": int(len(calibration)),
            "method": METHOD,
            **agreement(fp32, int8, held),
        }
    except Exception:
        shutil.rmtree(out, ignore_errors=True)  # never leave a half-made bundle behind
        raise
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float(np.array_equal(a, b))


def agreement(fp32, int8, windows: list[np.ndarray]) -> dict:
    """The INT8 bundle against the FP32 one on the same held-out windows: backbone activations,
    class probabilities, the decided class, and the CAM of the FP32 decision's class."""
    act_corr, prob_diff, same_class, cam_corr, peak_same = [], [], [], [], []
    for frames in windows:
        a32, a8 = fp32.backbone(frames), int8.backbone(frames)
        act_corr.append(_correlation(a32, a8))
        e32 = fp32.head(a32)
        e8 = int8.head(a8, target=e32.cam_class)
        prob_diff.append(float(np.abs(e32.probs - e8.probs).max()))
        same_class.append(int(np.argmax(e32.probs)) == int(np.argmax(e8.probs)))
        cam_corr.append(_correlation(e32.cam, e8.cam))
        peak_same += [np.argmax(m32) == np.argmax(m8) for m32, m8 in zip(e32.cam, e8.cam, strict=True)]
    return {
        "check_windows": len(windows),
        "activation_correlation_mean": round(float(np.mean(act_corr)), 5),
        "activation_correlation_min": round(float(np.min(act_corr)), 5),
        "probability_max_abs_diff": round(float(np.max(prob_diff)), 5),
        "decided_class_agreement": round(float(np.mean(same_class)), 4),
        "cam_correlation_mean": round(float(np.mean(cam_corr)), 5),
        "cam_correlation_min": round(float(np.min(cam_corr)), 5),
        "cam_peak_same_frame_share": round(float(np.mean(peak_same)), 4),
    }
