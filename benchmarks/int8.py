"""INT8 backbones against their FP32 bundles, side by side in one run: backbone speed (interleaved
rounds), agreement on held-out footage windows (activations, probabilities, decided class, CAM), and
with --data, accuracy and explanation scores on a labelled set (window accuracy, pointing game,
deletion). Each bundle is quantized here (models/quantize.py, as `vigil quantize` does).

    python -m benchmarks.int8 models/demo build/vgg19 --calibration build/synth-ft2 \
        --data build/synth-held --out benchmarks/results/int8-cpu.json
Needs the 'train' extra (onnx, for the quantizer); prints JSON.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import emit, machine_info
from evaluation.dataset import index_dataset
from evaluation.evaluate import evaluate
from models.quantize import quantize_bundle
from streamer.inference.bundle import Bundle, open_bundle


def backbone_ms(bundles: dict[str, Bundle], batch: int, rounds: int) -> dict[str, float]:
    """Median ms per frame of each bundle's backbone on the same random batch, rounds interleaved
    so that a slower moment of the machine falls on every bundle alike."""
    some = next(iter(bundles.values())).manifest
    frames = np.random.default_rng(0).integers(0, 256, (batch, *some.input_size, 3), dtype=np.uint8)
    for bundle in bundles.values():
        for _ in range(3):
            bundle.backbone(frames)
    times: dict[str, list[float]] = {name: [] for name in bundles}
    for _ in range(rounds):
        for name, bundle in bundles.items():
            started = time.perf_counter()
            bundle.backbone(frames)
            times[name].append((time.perf_counter() - started) * 1000 / batch)
    return {name: round(statistics.median(ms), 3) for name, ms in times.items()}


def scores(bundle: Bundle, data: str) -> dict:
    m = bundle.manifest
    report = evaluate(bundle, index_dataset(data, m.normal_class, classes=m.classes, subset=True))
    explanation = report["explanation"].get("all", {})
    deletion = report["faithfulness"].get("all", {})
    return {
        "window_accuracy": report["accuracy"],
        "clip_accuracy": (report["clip_level"] or {}).get("accuracy_of_mean"),
        "pointing_game": explanation.get("pointing_game"),
        "deletion_map_drop": deletion.get("map_drop"),
        "deletion_centre_drop": deletion.get("centre_drop"),
    }


def compare(source: Path, calibration: Path, data: str | None, threads: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        int8_dir = Path(tmp) / "int8"
        agreement = quantize_bundle(source, int8_dir, calibration)
        bundles = {
            "fp32": open_bundle(source, providers=("cpu",), threads=threads),
            "int8": open_bundle(int8_dir, providers=("cpu",), threads=threads),
        }
        speed = backbone_ms(bundles, batch=8, rounds=rounds)
        result = {
            "backbone": bundles["fp32"].manifest.backbone,
            "input_size": list(bundles["fp32"].manifest.input_size),
            "backbone_ms_per_frame": speed,
            "speedup": round(speed["fp32"] / speed["int8"], 2),
            "agreement": {k: v for k, v in agreement.items() if k not in ("source", "footage", "method")},
        }
        if data:
            result["scores"] = {name: scores(bundle, data) for name, bundle in bundles.items()}
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", metavar="BUNDLE")
    parser.add_argument("--calibration", required=True, metavar="DIR", help="footage to calibrate on")
    parser.add_argument("--data", metavar="DIR", help="a labelled class-per-folder set to score both on")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    report = {
        "machine": machine_info(),
        "threads": args.threads,
        "bundles": {
            b: compare(Path(b), Path(args.calibration), args.data, args.threads, args.rounds)
            for b in args.bundles
        },
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
